"""The `cisco-cce` provider: Cisco Unified/Packaged CCE configuration API with `?async=true`
(docs/providers.md, seed 002). Create/update/delete requests are answered `202` with a `Location` to
poll and a `progress` of IN_QUEUE or IN_PROGRESS (JSON or XML); the final answer is the
synchronous one. The work is done by the shared engine in `lro`; this module adds HTTP Basic auth,
the default request and the rule that such jobs are tracked only by their polling URL.
"""

from __future__ import annotations

import json

from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import Account, Job, SubmitRequest
from jobdock.core.net.http import ApiSession
from jobdock.core.providers import lro
from jobdock.core.providers.base import AccountForm, JobRef, PollPolicy, Provider, RemoteStatus
from jobdock.core.providers.common import basic_auth, check_ref_origin, is_url

_STYLE = lro.LroStyle(provider="cisco-cce", async_param=True)


class CiscoCceProvider(Provider):
    """Cisco CCE configuration API, asynchronous create/update/delete."""

    id = "cisco-cce"
    display_name = "Cisco CCE configuration API"
    default_base_url = "https://cce.example.com/unifiedconfig/config"
    secret_label = "Password"
    account_form = AccountForm(user=True)  # HTTP Basic: a user and its password
    poll_policy = PollPolicy(first_delay=1.0, min_interval=1.0, max_interval=30.0)

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        return basic_auth(account, secret, provider=self.id)

    def default_request(self) -> SubmitRequest:
        body = {"name": "jobdock_calltype", "description": "created by Jobdock"}
        return SubmitRequest(
            method="POST",
            path="calltype",
            body=json.dumps(body).encode(),
            content_type="application/json",
        )

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        ref = ref.strip()
        if not is_url(ref):
            raise UsageError(
                "cisco-cce jobs are tracked by their polling URL (the Location header), "
                f"not by an id like {ref!r}"
            )
        return JobRef(status_url=check_ref_origin(account, ref, provider=self.id))

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        return await lro.submit(session, request, style=_STYLE)

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        return await lro.poll(session, job, style=_STYLE)
