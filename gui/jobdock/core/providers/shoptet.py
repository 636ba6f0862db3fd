"""The `shoptet` provider: Shoptet API asynchronous requests (PROVIDERS.md, seed 003). A request to
an asynchronous endpoint answers `data.jobId`; the job detail `/api/system/jobs/{jobId}` carries
status, `resultUrl` (24 h, until `validUntil`) and `log`. Shoptet refuses more than 10 detail calls
on an unfinished job, so after `DETAIL_BUDGET` polls a job is followed through the jobs list (one
call serves many jobs) and its detail is read again only once the list says it has finished.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from jobdock.core.errors import ConfigError, NotFoundError, ProtocolError, UsageError
from jobdock.core.http import ApiSession, parse_retry_after
from jobdock.core.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.base import JobRef, PollPolicy, RemoteStatus
from jobdock.core.providers.common import (
    check_ref_origin,
    format_shoptet_time,
    guard,
    is_url,
    raw_text,
    text_or_none,
)
from jobdock.core.providers.shoptet_api import (
    DetailLimitError,
    WebhookRequiredError,
    envelope,
    job_status,
)

__all__ = ["DetailLimitError", "ShoptetProvider", "WebhookRequiredError"]

PRIVATE_TOKEN_HEADER = "Shoptet-Private-API-Token"
JOBS_PATH = "api/system/jobs"
DETAIL_BUDGET = 8  # Shoptet allows 10 detail calls on an unfinished job; keep two in reserve
PAGE_SIZE = 500
MAX_PAGES = 1000
FINISHED = frozenset({"completed", "failed", "killed", "expired"})
# The server stamps creationTime by its clock; our submitted_at is by ours.
_SERVER_SLACK = timedelta(minutes=1)
_LOCAL_SLACK = timedelta(minutes=15)
_JOB_ID = re.compile(r"^[0-9a-z]+$", re.IGNORECASE)
_JOB_URL = re.compile(r"/api/system/jobs/([0-9a-z]+)/?$", re.IGNORECASE)


class ShoptetProvider:
    """Shoptet API (private API token), asynchronous requests and the jobs list."""

    id = "shoptet"
    display_name = "Shoptet"
    default_base_url = "https://api.myshoptet.com"
    secret_label = "Private API token"
    poll_policy = PollPolicy(first_delay=5.0, min_interval=5.0, max_interval=120.0)

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        # Seam for add-on accounts: they keep an OAuth access token and exchange it for a
        # short-lived `Shoptet-Access-Token` (renewed on 401 `expired-token`). That exchange is an
        # HTTP call, which this synchronous hook cannot make; it belongs in a token-provider step.
        kind = (account.options.get("auth") or "private").strip().lower()
        if kind != "private":
            raise ConfigError(
                f"shoptet: account {account.name!r} has auth={kind!r}; only private API tokens "
                "(auth=private) are supported so far, add-on OAuth tokens are not"
            )
        return {PRIVATE_TOKEN_HEADER: secret}

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
            f"shoptet: {ref!r} is neither a job id (like 3ax1844) nor a job URL "
            f"(like {account.base_url.rstrip('/')}/api/system/jobs/3ax1844)"
        )

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        method = (request.method or "GET").upper()
        what = f"shoptet: submitting {method} {request.path}"
        headers = {"Content-Type": request.content_type} if request.content_type else None
        with guard(session, what=what):
            response = await session.request(
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
        job_id = job.remote_id or _id_from_url(job.status_url)
        if job_id is None:
            raise ProtocolError(f"shoptet: job {job.id} has no Shoptet job id to ask about")
        detail_url = job.status_url or session.url(f"{JOBS_PATH}/{job_id}")
        if job.polls < DETAIL_BUDGET:
            try:
                return await _detail(session, job_id, detail_url)
            except DetailLimitError:
                pass  # the server counted calls we did not make (another client?): use the list
        listed = await _find_in_list(session, job_id, since=_since(job))
        if listed.remote_state.lower() in FINISHED:
            return await _detail(session, job_id, detail_url)
        return listed

    async def list_jobs(
        self,
        session: ApiSession,
        *,
        status: str | None = None,
        created_from: datetime | None = None,
    ) -> AsyncGenerator[RemoteStatus, None]:
        """Every job of the list (30 days of history), page by page."""
        async with aclosing(iter_jobs(session, status=status, created_from=created_from)) as jobs:
            async for job in jobs:
                yield job


async def iter_jobs(
    session: ApiSession, *, status: str | None = None, created_from: datetime | None = None
) -> AsyncGenerator[RemoteStatus, None]:
    """The jobs list, page by page (`itemsPerPage=500`), each job as a `RemoteStatus`."""
    params = [("itemsPerPage", str(PAGE_SIZE))]
    if status:
        params.append(("status", status))
    if created_from is not None:
        params.append(("creationTimeFrom", format_shoptet_time(created_from)))
    what = "shoptet: reading the jobs list"
    with guard(session, what=what):
        async with aclosing(_pages(session, params, what=what)) as pages:
            async for response, items in pages:
                for item in items:
                    yield _listed(session, item, response=response, what=what)


async def _detail(session: ApiSession, job_id: str, url: str) -> RemoteStatus:
    what = f"shoptet: reading job {job_id}"
    with guard(session, what=what):
        response = await session.request("GET", url)
        data = envelope(response, what=what)
        return job_status(
            data,
            what=what,
            status_url=url,
            retry_after=parse_retry_after(response.headers),
            raw=raw_text(response),
        )


async def _find_in_list(session: ApiSession, job_id: str, *, since: datetime) -> RemoteStatus:
    """The job's entry in the list; only that entry is interpreted."""
    params = [("itemsPerPage", str(PAGE_SIZE)), ("creationTimeFrom", format_shoptet_time(since))]
    what = f"shoptet: looking for job {job_id} in the jobs list"
    with guard(session, what=what):
        async with aclosing(_pages(session, params, what=what)) as pages:
            async for response, items in pages:
                for item in items:
                    if str(item.get("jobId")) == job_id:
                        return _listed(session, item, response=response, what=what)
    raise NotFoundError(
        f"shoptet: job {job_id} is not in the jobs list (jobs created since "
        f"{format_shoptet_time(since)}); it may be older than Shoptet's 30 days of history"
    )


async def _pages(
    session: ApiSession, params: list[tuple[str, str]], *, what: str
) -> AsyncGenerator[tuple[httpx.Response, list[dict[str, Any]]], None]:
    for page in range(1, MAX_PAGES + 1):
        response = await session.request("GET", JOBS_PATH, params=[*params, ("page", str(page))])
        data = envelope(response, what=f"{what} (page {page})")
        jobs = data.get("jobs")
        if not isinstance(jobs, list):
            raise ProtocolError(f"{what} (page {page}): the answer has no data.jobs list")
        yield response, [j for j in jobs if isinstance(j, dict)]
        if not jobs or page >= _page_count(data.get("paginator")):
            return


def _page_count(paginator: object) -> int:
    count = paginator.get("pageCount") if isinstance(paginator, dict) else None
    try:
        return int(count) if count is not None else 1
    except (TypeError, ValueError):
        return 1


def _listed(
    session: ApiSession, item: dict[str, Any], *, response: httpx.Response, what: str
) -> RemoteStatus:
    job_id = text_or_none(str(item.get("jobId") or ""))
    return job_status(
        item,
        what=what,
        status_url=session.url(f"{JOBS_PATH}/{job_id}") if job_id else None,
        retry_after=parse_retry_after(response.headers),
        raw=json.dumps(item, ensure_ascii=False),
    )


def _since(job: Job) -> datetime:
    if job.created_at is not None:
        return job.created_at - _SERVER_SLACK
    return job.submitted_at - _LOCAL_SLACK


def _id_from_url(url: str | None) -> str | None:
    match = _JOB_URL.search(urlsplit(url).path) if url else None
    return match.group(1) if match else None
