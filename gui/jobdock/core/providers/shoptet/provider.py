"""The `shoptet` provider: Shoptet API asynchronous requests (docs/providers.md). A request to an
asynchronous endpoint answers `data.jobId`; the job detail `/api/system/jobs/{jobId}` carries
status, `resultUrl` (24 h, until `validUntil`) and `log`. Unfinished jobs are refreshed in batches
from the jobs list (`poll_many`, shoptet_jobs.py) and a job's detail is read once it has finished;
every request waits for the token's quota (shoptet_client.py); add-on accounts exchange their
OAuth token for short-lived access tokens; `register_webhook` sets up `job:finished` deliveries.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import httpx

from jobdock.core.model.errors import ConfigError, JobdockError, ProtocolError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.net.http import ApiSession, parse_retry_after
from jobdock.core.net.inputs import quoted
from jobdock.core.providers.base import (
    AccountForm,
    AccountOption,
    JobRef,
    PollPolicy,
    Provider,
    RemoteStatus,
)
from jobdock.core.providers.common import (
    check_ref_origin,
    guard,
    is_url,
    raw_text,
    text_or_none,
)
from jobdock.core.providers.shoptet.api import (
    DetailLimitError,
    WebhookRequiredError,
    envelope,
)
from jobdock.core.providers.shoptet.client import (
    MAX_CONNECTIONS,
    AddonToken,
    Channel,
    ShoptetLink,
    auth_kind,
    leak_rate,
    token_url,
)
from jobdock.core.providers.shoptet.jobs import (
    DETAIL_BUDGET,
    FINISHED,
    JOBS_PATH,
    detail,
    find_in_list,
    id_from_url,
    iter_jobs,
    poll_many,
    since,
)
from jobdock.core.providers.shoptet.quota import Quota, QuotaStatus

__all__ = ["DetailLimitError", "ShoptetProvider", "WebhookRequiredError"]

PRIVATE_TOKEN_HEADER = "Shoptet-Private-API-Token"
WEBHOOK_EVENT = "job:finished"
_JOB_ID = re.compile(r"^[0-9a-z]+$", re.IGNORECASE)
_JOB_URL = re.compile(r"/api/system/jobs/([0-9a-z]+)/?$", re.IGNORECASE)


class ShoptetProvider(Provider):
    """Shoptet API (private API token or add-on), asynchronous requests and the jobs list."""

    id = "shoptet"
    display_name = "Shoptet"
    default_base_url = "https://api.myshoptet.com"
    secret_label = "Private API token (add-on: OAuth access token)"
    account_form = AccountForm(
        options=(
            AccountOption(key="auth", label="Token kind", choices=("private", "addon"),
                          choice_labels=(("private", "Private API token"),
                                         ("addon", "Add-on (OAuth access token)")),
                          near_credentials=True),
            AccountOption(key="token_url", label="Token exchange URL",
                          hint="https://<e-shop>/action/ApiOAuthServer/getAccessToken",
                          when=("auth", "addon")),
            AccountOption(key="bucket_leak", label="Bucket leak (requests/s)", hint="3"),
        ),
    )  # fmt: skip
    poll_policy = PollPolicy(first_delay=5.0, min_interval=5.0, max_interval=120.0)
    max_connections: int = MAX_CONNECTIONS  # per token, all requests together (Accounts.session)

    def __init__(self) -> None:
        self._links: WeakKeyDictionary[httpx.AsyncClient, ShoptetLink] = WeakKeyDictionary()
        self._oauth: dict[str, str] = {}  # add-on account → its OAuth token (from the keyring)

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        kind = auth_kind(account)
        leak_rate(account)  # a bad option fails here, when the session opens
        if kind == "private":
            return {PRIVATE_TOKEN_HEADER: secret}
        if kind == "addon":
            token_url(account)
            # No header on the client: each request carries the short-lived token instead.
            self._oauth[account.name] = secret
            return {}
        raise ConfigError(
            f"shoptet: account {account.name!r} has auth={kind!r}; use auth=private (a private "
            "API token) or auth=addon (an add-on's OAuth access token, with token_url)"
        )

    def link(self, session: ApiSession) -> ShoptetLink:
        """The session's quota and token state (one per API client)."""
        link = self._links.get(session.api)
        if link is None:
            account = session.account
            addon = None
            if auth_kind(account) == "addon":
                oauth = self._oauth.get(account.name)
                if oauth is None:
                    raise ConfigError(f"shoptet: no OAuth access token for {account.name!r}")
                addon = AddonToken(oauth_token=oauth, token_url=token_url(account))
            quota = Quota(max_in_flight=MAX_CONNECTIONS, leak_per_second=leak_rate(account))
            link = self._links[session.api] = ShoptetLink(quota=quota, addon=addon)
        return link

    def channel(self, session: ApiSession) -> Channel:
        return Channel(self.link(session), session)

    def quota_status(self, session: ApiSession) -> QuotaStatus | None:
        link = self._links.get(session.api)
        return link.quota.status() if link is not None else None

    def default_request(self) -> SubmitRequest:
        return SubmitRequest(method="GET", path="/api/products/snapshot")

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        ref = ref.strip()
        if is_url(ref):
            url = check_ref_origin(account, ref, provider=self.id)
            match = _JOB_URL.search(urlsplit(url).path)
            if match:
                return JobRef(remote_id=match.group(1), status_url=url)
        elif _JOB_ID.match(ref):
            return JobRef(remote_id=ref, status_url=None)
        raise UsageError(
            f"shoptet: {quoted(ref)} is neither a job id (like 3ax1844) nor a job URL "
            f"(like {account.base_url.rstrip('/')}/api/system/jobs/3ax1844)"
        )

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        method = (request.method or "GET").upper()
        what = f"shoptet: submitting {method} {request.path}"
        headers = {"Content-Type": request.content_type} if request.content_type else None
        with guard(session, what=what):
            response = await self.link(session).send(
                session,
                method,
                request.path,
                params=list(request.params),
                content=request.body,
                headers=headers,
            )
            data = envelope(response, what=what)
            job_id = text_or_none(str(data.get("jobId") or ""))
            if job_id is None:
                raise ProtocolError(
                    f"{what}: the answer has no data.jobId (is this an asynchronous endpoint?)"
                )
        return RemoteStatus(
            state=JobState.QUEUED,
            remote_state="pending",
            remote_id=job_id,
            status_url=session.url(f"{JOBS_PATH}/{job_id}"),
            retry_after=parse_retry_after(response.headers),
            raw=raw_text(response),
        )

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        """One job now: its detail while the budget lasts, else its list entry (and the detail
        once the list says it has finished)."""
        job_id = job.remote_id or id_from_url(job.status_url)
        if job_id is None:
            raise ProtocolError(f"shoptet: job {job.id} has no Shoptet job id to ask about")
        ch = self.channel(session)
        detail_url = job.status_url or session.url(f"{JOBS_PATH}/{job_id}")
        if ch.link.details_used(job_id, job.polls, DETAIL_BUDGET) < DETAIL_BUDGET:
            try:
                return await detail(ch, job_id, detail_url)
            except DetailLimitError:
                pass  # the server counted calls we did not make (another client?): use the list
        listed = await find_in_list(ch, job_id, created_from=since(job))
        if listed.remote_state.lower() in FINISHED:
            return await detail(ch, job_id, detail_url)
        return listed

    async def poll_many(
        self, session: ApiSession, jobs: Sequence[Job]
    ) -> Mapping[str, RemoteStatus | JobdockError]:
        """Every unfinished job of the account from one reading of the jobs list."""
        return await poll_many(self.channel(session), jobs)

    async def list_jobs(
        self,
        session: ApiSession,
        *,
        status: str | None = None,
        created_from: datetime | None = None,
        with_details: bool = True,
    ) -> AsyncGenerator[RemoteStatus, None]:
        """Every job of the list (30 days of history), page by page; `completed` ones with their
        detail, so their results can be saved (`expired` ones have none left)."""
        ch = self.channel(session)
        async with aclosing(
            iter_jobs(ch, status=status, created_from=created_from, with_details=with_details)
        ) as jobs:
            async for job in jobs:
                yield job

    async def register_webhook(self, session: ApiSession, url: str) -> str:
        """Register `url` for `job:finished` (unless it already is) and return a fresh signature
        key (`renew-signature-key`), which the caller keeps in the keyring."""
        ch = self.channel(session)
        what = f"shoptet: registering the {WEBHOOK_EVENT} webhook {url}"
        with guard(session, what=what):
            hooks = envelope(await ch.get("api/webhooks"), what=what).get("webhooks") or []
            known = any(
                isinstance(h, dict) and h.get("event") == WEBHOOK_EVENT and h.get("url") == url
                for h in hooks
            )
            if not known:
                body = json.dumps({"data": [{"event": WEBHOOK_EVENT, "url": url}]}).encode()
                response = await ch.link.send(
                    session, "POST", "api/webhooks", content=body,
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                envelope(response, what=what)
            renewed = await ch.link.send(session, "POST", "api/webhooks/renew-signature-key")
            key = text_or_none(envelope(renewed, what=what).get("signatureKey"))
        if key is None:
            raise ProtocolError(f"{what}: renew-signature-key answered no signatureKey")
        return key
