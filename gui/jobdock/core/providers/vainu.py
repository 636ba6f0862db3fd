"""The `vainu` provider: Vainu API's asynchronous Get Companies (PROVIDERS.md, seed 000). A GET on
`companies/async/` with the normal filters answers a job object (`job_id`, `state`, `link`,
`download_link`, `created`, `finished`); GET on `link` answers the same object, with a fresh,
short-lived `download_link` once the job is completed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from jobdock.core.errors import ProtocolError, UsageError
from jobdock.core.http import (
    ApiSession,
    expect_object,
    parse_json,
    parse_retry_after,
    raise_for_status,
    safe_url,
)
from jobdock.core.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.base import JobRef, PollPolicy, RemoteStatus, ResultLink
from jobdock.core.providers.common import (
    check_ref_origin,
    guard,
    is_url,
    one_line,
    parse_timestamp,
    presigned_expiry,
    raw_text,
    text_or_none,
)

DEFAULT_PATH = "companies/async/"
DEFAULT_FORMAT = "csv"
STATES = {
    "accepted": JobState.QUEUED,
    "process": JobState.RUNNING,
    "processing": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failure": JobState.FAILED,
    "failed": JobState.FAILED,
}
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$")
_JOB_PATH = re.compile(r"/companies/async/([^/?#]+)/?$")


class VainuProvider:
    """Vainu API, asynchronous Get Companies."""

    id = "vainu"
    display_name = "Vainu"
    default_base_url = "https://api.vainu.app/api/v2"
    secret_label = "API key"
    poll_policy = PollPolicy(first_delay=3.0, min_interval=3.0, max_interval=60.0)

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        return {"API-Key": secret}

    def default_request(self) -> SubmitRequest:
        return SubmitRequest(method="GET", path=DEFAULT_PATH, params=(("async_format", "csv"),))

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        ref = ref.strip()
        if is_url(ref):
            url = check_ref_origin(account, ref, provider=self.id)
            match = _JOB_PATH.search(urlsplit(url).path)
            return JobRef(remote_id=match.group(1) if match else None, status_url=url)
        if _JOB_ID.match(ref):
            return JobRef(remote_id=ref)
        raise UsageError(
            f"vainu: {ref!r} is neither a job id nor a job's status URL (its `link`, "
            f"like {account.base_url.rstrip('/')}/companies/async/<job_id>/)"
        )

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        params = list(request.params)
        if not any(k == "async_format" for k, _ in params):
            params.append(("async_format", DEFAULT_FORMAT))
        what = "vainu: submitting an asynchronous Get Companies request"
        with guard(session, what=what):
            response = await session.request(
                request.method or "GET", request.path or DEFAULT_PATH, params=params
            )
            return _status(response, what=what, file_format=_format(params))

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        url = job.status_url
        if not url and job.remote_id:
            url = session.url(f"{DEFAULT_PATH}{job.remote_id}/")
        if not url:
            raise ProtocolError(f"vainu: job {job.id} has neither a job id nor a status URL")
        what = f"vainu: polling job {job.remote_id or safe_url(url)}"
        params = list(job.request.params) if job.request else []
        with guard(session, what=what):
            response = await session.request("GET", url)
            status = _status(response, what=what, file_format=_format(params))
        return status if status.status_url else dataclasses.replace(status, status_url=url)


def _format(params: list[tuple[str, str]]) -> str:
    for key, value in params:
        if key == "async_format" and value.strip():
            return re.sub(r"[^a-z0-9]", "", value.strip().lower()) or DEFAULT_FORMAT
    return DEFAULT_FORMAT


def _status(response: httpx.Response, *, what: str, file_format: str) -> RemoteStatus:
    raise_for_status(response, what=what)
    data = expect_object(parse_json(response, what=what), what=what)
    remote_state = data.get("state")
    if not isinstance(remote_state, str) or not remote_state.strip():
        raise ProtocolError(f"{what}: the answer has no job `state`", status_code=200)
    state = STATES.get(remote_state.strip().lower())
    if state is None:
        raise ProtocolError(f"{what}: unknown job state {one_line(remote_state, 60)!r}")
    job_id = text_or_none(data.get("job_id"))
    return RemoteStatus(
        state=state,
        remote_state=remote_state,
        remote_id=job_id,
        status_url=text_or_none(data.get("link")),
        created_at=parse_timestamp(data.get("created")),
        finished_at=parse_timestamp(data.get("finished")),
        error=_error(data) if state is JobState.FAILED else None,
        results=_results(data, state=state, job_id=job_id, file_format=file_format),
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _results(
    data: dict[str, Any], *, state: JobState, job_id: str | None, file_format: str
) -> tuple[ResultLink, ...]:
    link = text_or_none(data.get("download_link"))
    if state is not JobState.SUCCEEDED or link is None:
        return ()
    hint = f"vainu-{re.sub(r'[^A-Za-z0-9._-]', '_', job_id or 'result')}.{file_format}"
    return (ResultLink(url=link, expires_at=presigned_expiry(link), filename_hint=hint),)


def _error(data: dict[str, Any]) -> str:
    for key in ("error", "message", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return one_line(value)
    return "the job failed on Vainu's side (no reason given)"
