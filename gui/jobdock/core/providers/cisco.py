"""The `cisco-cce` provider: Cisco Unified/Packaged CCE configuration API with `?async=true`
(docs/providers.md, seed 002). Create/update/delete requests are answered `202` with a `Location` to
poll and a `progress` of IN_QUEUE or IN_PROGRESS (JSON or XML); the final answer is the
synchronous one. The work is done by the shared engine in `lro` (its `StatusMonitorProvider`
tracks the jobs by their polling URL); this module adds HTTP Basic auth and the default request.
"""

from __future__ import annotations

import json

from jobdock.core.model.job import Account, SubmitRequest
from jobdock.core.providers.base import AccountForm, PollPolicy
from jobdock.core.providers.common import basic_auth
from jobdock.core.providers.lro import LroStyle, StatusMonitorProvider


class CiscoCceProvider(StatusMonitorProvider):
    """Cisco CCE configuration API, asynchronous create/update/delete."""

    id = "cisco-cce"
    display_name = "Cisco CCE configuration API"
    default_base_url = "https://cce.example.com/unifiedconfig/config"
    secret_label = "Password"
    account_form = AccountForm(user=True)  # HTTP Basic: a user and its password
    poll_policy = PollPolicy(first_delay=1.0, min_interval=1.0, max_interval=30.0)
    style = LroStyle(provider="cisco-cce", async_param=True)
    monitor_url = "polling URL (the Location header)"

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
