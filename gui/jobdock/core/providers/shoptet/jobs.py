"""Reading Shoptet jobs: the detail of one job, the jobs list page by page, and the batched poll
that refreshes every unfinished job of an account from the list.

Shoptet answers 403 `job-detail-try-counter-exceeded-limit` after 10 detail calls on an
unfinished job, so unfinished jobs are followed through `GET /api/system/jobs` (500 a page,
created since the oldest unfinished job, no status filter: jobs never leave that list, so its
pages do not shift while they are read) and a job's detail is read once the list says it has
finished — for `resultUrl`, `validUntil` and `log`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from jobdock.core.model.errors import JobdockError, NotFoundError, ProtocolError
from jobdock.core.model.job import Job
from jobdock.core.net.http import parse_retry_after
from jobdock.core.providers.base import RemoteStatus
from jobdock.core.providers.common import format_shoptet_time, guard, raw_text, text_or_none
from jobdock.core.providers.shoptet.api import DetailLimitError, envelope, job_status
from jobdock.core.providers.shoptet.client import Channel

JOBS_PATH = "api/system/jobs"
DETAIL_BUDGET = 8  # Shoptet allows 10 detail calls on an unfinished job; keep two in reserve
PAGE_SIZE = 500
MAX_PAGES = 1000
FINISHED = frozenset({"completed", "failed", "killed", "expired"})
# The server stamps creationTime by its clock; our submitted_at is by ours.
SERVER_SLACK = timedelta(minutes=1)
LOCAL_SLACK = timedelta(minutes=15)
_JOB_URL = re.compile(r"/api/system/jobs/([0-9a-z]+)/?$", re.IGNORECASE)

Answer = RemoteStatus | JobdockError


def id_from_url(url: str | None) -> str | None:
    match = _JOB_URL.search(urlsplit(url).path) if url else None
    return match.group(1) if match else None


def since(job: Job) -> datetime:
    """Where the list must start to include the job."""
    if job.created_at is not None:
        return job.created_at - SERVER_SLACK
    return job.submitted_at - LOCAL_SLACK


async def detail(ch: Channel, job_id: str, url: str | None = None) -> RemoteStatus:
    """The job's detail; counts the call against the job's budget while it is unfinished."""
    url = url or ch.url(f"{JOBS_PATH}/{job_id}")
    what = f"shoptet: reading job {job_id}"
    with guard(ch.session, what=what):
        response = await ch.get(url)
        try:
            data = envelope(response, what=what)
        except DetailLimitError:
            ch.link.details[job_id] = DETAIL_BUDGET  # the server's count is what counts
            raise
        status = job_status(
            data,
            what=what,
            status_url=url,
            retry_after=parse_retry_after(response.headers),
            raw=raw_text(response),
        )
    if status.remote_state.lower() not in FINISHED:
        ch.link.details[job_id] = ch.link.details.get(job_id, 0) + 1
    return status


async def pages(
    ch: Channel, params: list[tuple[str, str]], *, what: str
) -> AsyncGenerator[tuple[httpx.Response, list[dict[str, Any]]], None]:
    """Every page of the jobs list with these filters, in order."""
    for page in range(1, MAX_PAGES + 1):
        response = await ch.get(JOBS_PATH, params=[*params, ("page", str(page))])
        data = envelope(response, what=f"{what} (page {page})")
        jobs = data.get("jobs")
        if not isinstance(jobs, list):
            raise ProtocolError(f"{what} (page {page}): the answer has no data.jobs list")
        yield response, [j for j in jobs if isinstance(j, dict)]
        if not jobs or page >= _page_count(data.get("paginator")):
            return


def list_params(*, status: str | None, created_from: datetime | None) -> list[tuple[str, str]]:
    params = [("itemsPerPage", str(PAGE_SIZE))]
    if status:
        params.append(("status", status))
    if created_from is not None:
        params.append(("creationTimeFrom", format_shoptet_time(created_from)))
    return params


async def iter_jobs(
    ch: Channel,
    *,
    status: str | None = None,
    created_from: datetime | None = None,
    with_details: bool = False,
) -> AsyncGenerator[RemoteStatus, None]:
    """The jobs list, each job as a `RemoteStatus`; with `with_details` a `completed` job comes
    as its detail (a list item has no `resultUrl`), read a page at a time."""
    what = "shoptet: reading the jobs list"
    params = list_params(status=status, created_from=created_from)
    with guard(ch.session, what=what):
        async with aclosing(pages(ch, params, what=what)) as listing:
            async for response, items in listing:
                statuses = [listed(ch, item, response=response, what=what) for item in items]
                if with_details:
                    statuses = list(await asyncio.gather(*map(_completed_detail(ch), statuses)))
                for item_status in statuses:
                    yield item_status


def _completed_detail(ch: Channel) -> Any:
    async def read(status: RemoteStatus) -> RemoteStatus:
        if status.remote_state.lower() != "completed" or not status.remote_id:
            return status
        return await detail(ch, status.remote_id, status.status_url)

    return read


async def scan_list(
    ch: Channel, wanted: Collection[str], *, created_from: datetime
) -> dict[str, Answer]:
    """The list entries of the `wanted` job ids (only those are interpreted); stops at the page
    where the last of them turns up."""
    found: dict[str, Answer] = {}
    what = "shoptet: reading the jobs list"
    params = list_params(status=None, created_from=created_from)
    with guard(ch.session, what=what):
        async with aclosing(pages(ch, params, what=what)) as listing:
            async for response, items in listing:
                for item in items:
                    job_id = str(item.get("jobId") or "")
                    if job_id in wanted:
                        try:
                            found[job_id] = listed(ch, item, response=response, what=what)
                        except ProtocolError as exc:
                            found[job_id] = exc
                if len(found) >= len(wanted):
                    break
    return found


async def poll_many(ch: Channel, jobs: Sequence[Job]) -> dict[str, Answer]:
    """Refresh every job from one reading of the list; a detail only for the finished ones (and
    for one the list does not show, while its detail budget lasts)."""
    answers: dict[str, Answer] = {}
    by_remote: dict[str, list[Job]] = {}
    for job in jobs:
        remote_id = job.remote_id or id_from_url(job.status_url)
        if remote_id is None:
            answers[job.id] = ProtocolError(f"shoptet: job {job.id} has no Shoptet job id")
        else:
            ch.link.details_used(remote_id, job.polls, DETAIL_BUDGET)
            by_remote.setdefault(remote_id, []).append(job)
    if not by_remote:
        return answers
    start = min(since(job) for group in by_remote.values() for job in group)
    found = await scan_list(ch, by_remote, created_from=start)

    async def settle(remote_id: str, group: list[Job]) -> None:
        answer: Answer
        try:
            answer = await _settle(ch, remote_id, group[0], found.get(remote_id), start)
        except JobdockError as exc:
            answer = exc
        answers.update((job.id, answer) for job in group)

    await asyncio.gather(*(settle(rid, group) for rid, group in by_remote.items()))
    return answers


async def _settle(
    ch: Channel, remote_id: str, job: Job, entry: Answer | None, start: datetime
) -> RemoteStatus:
    if isinstance(entry, JobdockError):
        raise entry
    if entry is not None and entry.remote_state.lower() not in FINISHED:
        return entry
    if entry is not None:
        return await detail(ch, remote_id, job.status_url)
    if ch.link.details_used(remote_id, job.polls, DETAIL_BUDGET) < DETAIL_BUDGET:
        return await detail(ch, remote_id, job.status_url)
    raise NotFoundError(
        f"shoptet: job {remote_id} is not in the jobs list (jobs created since "
        f"{format_shoptet_time(start)}); it may be older than Shoptet's 30 days of history"
    )


async def find_in_list(ch: Channel, job_id: str, *, created_from: datetime) -> RemoteStatus:
    """The job's entry in the list, or `NotFoundError`."""
    entry = (await scan_list(ch, {job_id}, created_from=created_from)).get(job_id)
    if isinstance(entry, JobdockError):
        raise entry
    if entry is None:
        raise NotFoundError(
            f"shoptet: job {job_id} is not in the jobs list (jobs created since "
            f"{format_shoptet_time(created_from)}); it may be older than Shoptet's 30 days of "
            "history"
        )
    return entry


def listed(
    ch: Channel, item: Mapping[str, Any], *, response: httpx.Response, what: str
) -> RemoteStatus:
    job_id = text_or_none(str(item.get("jobId") or ""))
    return job_status(
        dict(item),
        what=what,
        status_url=ch.url(f"{JOBS_PATH}/{job_id}") if job_id else None,
        retry_after=parse_retry_after(response.headers),
        raw=json.dumps(item, ensure_ascii=False),
    )


def _page_count(paginator: object) -> int:
    count = paginator.get("pageCount") if isinstance(paginator, dict) else None
    try:
        return int(count) if count is not None else 1
    except (TypeError, ValueError):
        return 1
