"""The `testo` provider: device data exports under `/v3/...` (PROVIDERS.md, seed 001). A POST with
a JSON body answers a `request_uuid`; GET on `{path}/{request_uuid}` says Submitted, In Progress,
Completed (with pre-signed `data_urls` and a `metadata_url` on another host, about an hour each)
or Failed. Expired links are refreshed by polling again, which signs them anew.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

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
    filename_from_url,
    guard,
    is_url,
    last_segment,
    one_line,
    presigned_expiry,
    raw_text,
    text_or_none,
    unique_names,
)

DEFAULT_PATH = "/v3/devices/status"
FILE_FORMATS = ("CSV", "PARQUET", "JSON", "ORC", "AVRO", "TEXTFILE")
# Compared lower-case with spaces, `_` and `-` removed.
STATES = {
    "submitted": JobState.QUEUED,
    "queued": JobState.QUEUED,
    "inprogress": JobState.RUNNING,
    "running": JobState.RUNNING,
    "processing": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "failure": JobState.FAILED,
    "error": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
}
_UUID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$")


class TestoProvider:
    """testo Smart Connect data API, asynchronous `/v3` exports."""

    __test__ = False  # not a pytest test class, despite the name

    id = "testo"
    display_name = "testo Smart Connect data API"
    default_base_url = "https://data-api.eu.smartconnect.testo.com"
    secret_label = "API key"
    poll_policy = PollPolicy(first_delay=5.0, min_interval=5.0, max_interval=20.0, factor=2.0)

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        return {"x-custom-api-key": secret}

    def default_request(self) -> SubmitRequest:
        now = datetime.now(UTC).replace(microsecond=0)
        body = {
            "time_range": {"from": _iso(now - timedelta(hours=24)), "to": _iso(now)},
            "options": {"result_file_format": "CSV"},
        }
        return SubmitRequest(
            method="POST",
            path=DEFAULT_PATH,
            body=json.dumps(body).encode(),
            content_type="application/json",
        )

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        ref = ref.strip()
        if is_url(ref):
            url = check_ref_origin(account, ref, provider=self.id)
            return JobRef(remote_id=last_segment(url) or None, status_url=url)
        if _UUID.match(ref):
            return JobRef(remote_id=ref)
        raise UsageError(
            f"testo: {ref!r} is neither a request_uuid nor a status URL "
            f"(like {account.base_url.rstrip('/')}{DEFAULT_PATH}/<request_uuid>)"
        )

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        path = request.path or DEFAULT_PATH
        what = f"testo: submitting {path}"
        headers = {"Content-Type": request.content_type or "application/json"}
        with guard(session, what=what):
            response = await session.request(
                request.method or "POST",
                path,
                params=list(request.params),
                content=request.body,
                headers=headers,
            )
            status = _status(response, what=what)
            if status.remote_id is None:
                raise ProtocolError(f"{what}: the answer has no `request_uuid`")
            url = f"{session.url(path).rstrip('/')}/{status.remote_id}"
        return _with_status_url(status, url)

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        url = job.status_url
        if not url and job.remote_id:
            path = (job.request.path if job.request else "") or DEFAULT_PATH
            url = f"{session.url(path).rstrip('/')}/{job.remote_id}"
        if not url:
            raise ProtocolError(f"testo: job {job.id} has neither a request_uuid nor a status URL")
        what = f"testo: polling request {job.remote_id or safe_url(url)}"
        with guard(session, what=what):
            response = await session.request("GET", url)
            status = _status(response, what=what)
        return _with_status_url(status, url)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _with_status_url(status: RemoteStatus, url: str) -> RemoteStatus:
    return dataclasses.replace(status, status_url=url)


def _status(response: httpx.Response, *, what: str) -> RemoteStatus:
    raise_for_status(response, what=what)
    data = expect_object(parse_json(response, what=what), what=what)
    remote_state = text_or_none(data.get("status"))
    if remote_state is None:
        raise ProtocolError(f"{what}: the answer has no `status`")
    state = STATES.get(re.sub(r"[\s_-]", "", remote_state.lower()))
    if state is None:
        raise ProtocolError(f"{what}: unknown request status {one_line(remote_state, 60)!r}")
    return RemoteStatus(
        state=state,
        remote_state=remote_state,
        remote_id=text_or_none(data.get("request_uuid")),
        error=_error(data) if state is JobState.FAILED else None,
        results=_results(data) if state is JobState.SUCCEEDED else (),
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _results(data: dict[str, Any]) -> tuple[ResultLink, ...]:
    urls = [u for u in (_url_of(item) for item in _as_list(data.get("data_urls"))) if u]
    hints = [filename_from_url(u, default=f"data-{i + 1}") for i, u in enumerate(urls)]
    metadata = text_or_none(data.get("metadata_url"))
    if metadata:
        urls.append(metadata)
        name = filename_from_url(metadata, default="metadata.json")
        hints.append(name if "." in name else "metadata.json")
    return tuple(
        ResultLink(url=u, expires_at=presigned_expiry(u), filename_hint=h)
        for u, h in zip(urls, unique_names(hints), strict=True)
    )


def _as_list(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    return [value] if value else []


def _url_of(item: object) -> str | None:
    # Tolerate `{"url": ...}` objects as well as bare strings.
    return text_or_none(item.get("url")) if isinstance(item, dict) else text_or_none(item)


def _error(data: dict[str, Any]) -> str:
    for key in ("error", "message", "error_message", "reason"):
        value = text_or_none(data.get(key))
        if value:
            return one_line(value)
    return "the export failed on testo's side (no reason given)"
