"""The `202 Accepted` long-running-operation engine shared by `cisco-cce` and `generic-202`
(docs/providers.md; RFC 9110 and the Azure LRO conventions). A submit answered `202` (or, for
generic-202, `201` with a monitor) is followed through its monitor URL: a plain `Location` that
answers `202` until the synchronous answer arrives, or a status monitor (`Azure-AsyncOperation`,
`Operation-Location`) whose JSON `status` says where the operation stands. A final `4xx` with an
error body is the job's failure and its log; auth, not-found, rate limits and bare `5xx` answers
are raised as errors instead, because they say nothing about the operation itself. For generic-202
a PUT/PATCH answered 200/201 with an unfinished ARM `properties.provisioningState` and no monitor
is followed by polling the resource itself, and the account option `final_state_via` (Azure's
`final-state-via`) says where the result of a finished operation is read.

`StatusMonitorProvider` is the base both providers subclass: it tracks jobs by their monitor URL
and runs `submit`/`poll` with the provider's `LroStyle`; a provider adds its names, auth, form
and default request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from urllib.parse import urlencode, urljoin

import httpx

from jobdock.core.download.filenames import filename_from_url
from jobdock.core.model.errors import ConfigError, ProtocolError, ProviderError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.net.http import (
    ApiSession,
    body_excerpt,
    parse_retry_after,
    raise_for_status,
    safe_url,
)
from jobdock.core.net.inputs import quoted
from jobdock.core.providers.base import JobRef, Provider, RemoteStatus, ResultLink
from jobdock.core.providers.common import (
    check_ref_origin,
    dig,
    find_text,
    first_json_text,
    first_xml_text,
    guard,
    is_url,
    load_body,
    one_line,
    parse_timestamp,
    raw_text,
    text_or_none,
)

STATUS_MONITORS = ("azure-asyncoperation", "operation-location")
# Where a finished operation's result is (Azure `final-state-via`); the default is Azure's: the
# resource itself for PUT/PATCH, the Location kept at submit for POST, none for DELETE.
FINAL_STATE_VIA = ("location", "original-uri", "azure-async-operation", "operation-location")
_PROVISIONING_TERMINAL = {
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
    "cancelled": JobState.CANCELLED,
}
QUEUE_TIMEOUT = "timed out in queue"
_RAISED = frozenset({401, 403, 404, 410, 429})

# Azure LRO `status` values (compared lower-case, without spaces, `_` or `-`).
MONITOR_STATES = {
    "notstarted": JobState.QUEUED,
    "running": JobState.RUNNING,
    "inprogress": JobState.RUNNING,
    "accepted": JobState.RUNNING,
    "creating": JobState.RUNNING,
    "updating": JobState.RUNNING,
    "deleting": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
    "cancelled": JobState.CANCELLED,
}


@dataclass(frozen=True, kw_only=True)
class LroStyle:
    """What differs between the engine's users."""

    provider: str
    async_param: bool = False  # cisco-cce: add `async=true` to the submit
    status_monitors: bool = False  # generic-202: honour Azure-AsyncOperation/Operation-Location
    final_body_is_result: bool = False  # generic-202: a final 200 body is the result
    body_polling: bool = False  # generic-202: follow an ARM provisioningState on the resource


class StatusMonitorProvider(Provider):
    """A provider whose jobs this engine follows: tracked only by their monitor URL (a pasted
    id cannot be one), submitted and polled as its `style` says."""

    style: ClassVar[LroStyle]
    monitor_url: ClassVar[str]  # what the URL to paste is, for the error on a bare id

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        ref = ref.strip()
        if not is_url(ref):
            raise UsageError(
                f"{self.id} jobs are tracked by their {self.monitor_url}, not by an id like "
                f"{quoted(ref)}"
            )
        return JobRef(status_url=check_ref_origin(account, ref, provider=self.id))

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        return await submit(session, request, style=self.style)

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        return await poll(session, job, style=self.style)


async def submit(session: ApiSession, request: SubmitRequest, *, style: LroStyle) -> RemoteStatus:
    method = (request.method or "POST").upper()
    what = f"{style.provider}: submitting {method} {request.path or '/'}"
    params = list(request.params)
    if style.async_param and not any(k.lower() == "async" for k, _ in params):
        params.append(("async", "true"))
    headers = {"Content-Type": request.content_type} if request.content_type else None
    with guard(session, what=what):
        response = await session.request(
            method, request.path, params=params, content=request.body, headers=headers
        )
        return _submitted(response, session=session, request=request, style=style, what=what)


async def poll(session: ApiSession, job: Job, *, style: LroStyle) -> RemoteStatus:
    if not job.status_url:
        raise ProtocolError(f"{style.provider}: job {job.id} has no polling URL to ask")
    what = f"{style.provider}: polling {safe_url(job.status_url)}"
    with guard(session, what=what):
        response = await session.request("GET", job.status_url)
        return _polled(response, session=session, job=job, style=style, what=what)


def _submitted(
    response: httpx.Response,
    *,
    session: ApiSession,
    request: SubmitRequest,
    style: LroStyle,
    what: str,
) -> RemoteStatus:
    code = response.status_code
    if code >= 400:
        _raise_rejected(response, what=what)
    if code >= 300:
        raise ProtocolError(f"{what}: unexpected answer HTTP {code}", status_code=code)
    monitor = pick_monitor(response, method=request.method, style=style)
    if monitor:
        # Beside a status monitor, Location names where the result will be (RFC 9110 / Azure
        # final-state-via "location"): kept on the job for when the monitor says Succeeded.
        location = response.headers.get("location")
        result_url = resolve(response, location) if location and _keeps_location(
            request.method, final_state_via(session.account, style=style)
        ) else None  # fmt: skip
        return _accepted(
            response, monitor_url=monitor, result_url=None if result_url == monitor else result_url
        )
    if code == 202:
        raise ProtocolError(f"{what}: 202 Accepted without a Location header to poll")
    fallback = _resource_url(session, request)
    provisioning = _provisioning(response) if style.body_polling and fallback else None
    if provisioning is not None and provisioning[1] is not JobState.SUCCEEDED:
        return _provisioned(response, provisioning, status_url=fallback)
    return _finished(
        response, style=style, fallback=fallback, sync=True, sent_type=request.content_type
    )


def _polled(
    response: httpx.Response, *, session: ApiSession, job: Job, style: LroStyle, what: str
) -> RemoteStatus:
    code = response.status_code
    if code >= 400:
        return _failed_or_raise(response, what=what)
    if style.status_monitors:
        status = monitor_status(response)
        if status is not None:
            fallback = _final_url(session, job, response, style=style)
            return _from_monitor(response, status, fallback=fallback)
    resource = _resource_url(session, job.request) if style.body_polling else None
    if resource is not None and resource == job.status_url and code in (200, 201):
        provisioning = _provisioning(response)
        if provisioning is not None and provisioning[1] is not JobState.SUCCEEDED:
            return _provisioned(response, provisioning, status_url=resource)
    if code == 202:
        method = job.request.method if job.request else None
        newest = pick_monitor(response, method=method, style=style) or job.status_url
        return _accepted(response, monitor_url=newest)
    if code >= 300:
        raise ProtocolError(f"{what}: unexpected answer HTTP {code}", status_code=code)
    sent_type = job.request.content_type if job.request else None
    return _finished(response, style=style, fallback=None, sync=False, sent_type=sent_type)


def pick_monitor(response: httpx.Response, *, method: str | None, style: LroStyle) -> str | None:
    """The URL to poll next, resolved against the request URL; `None` when the answer is final."""
    headers, code = response.headers, response.status_code
    location = headers.get("location")
    if style.status_monitors:
        for name in STATUS_MONITORS:
            if headers.get(name):
                return resolve(response, headers[name])
    if location and (code == 202 or (code == 201 and style.status_monitors)):
        return resolve(response, location)
    return None


def resolve(response: httpx.Response, ref: str) -> str:
    """`ref` (a header or field value) made absolute against the URL that answered."""
    return str(urljoin(str(response.url), ref.strip()))


def _accepted(
    response: httpx.Response, *, monitor_url: str | None, result_url: str | None = None
) -> RemoteStatus:
    progress = find_text(response, "progress")
    queued = progress is not None and progress.upper() == "IN_QUEUE"
    return RemoteStatus(
        state=JobState.QUEUED if queued else JobState.RUNNING,
        remote_state=progress or f"HTTP {response.status_code}",
        status_url=monitor_url,
        result_url=result_url,
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _finished(
    response: httpx.Response,
    *,
    style: LroStyle,
    fallback: str | None,
    sync: bool,
    sent_type: str | None,
) -> RemoteStatus:
    """The synchronous answer: 201 + Location of the created item, 200 (maybe a body), 204."""
    code, body = response.status_code, raw_text(response)
    location = response.headers.get("location")
    url = resolve(response, location) if location else None
    if url is None and style.final_body_is_result and code in (200, 201):
        url = fallback if sync else (str(response.url) if body else None)
    suffix = _suffix(response, sent_type=sent_type)
    return RemoteStatus(
        state=JobState.SUCCEEDED,
        remote_state=f"HTTP {code}",
        results=() if url is None else (_link(url, suffix=suffix),),
        log=body if code == 200 else None,
        retry_after=parse_retry_after(response.headers),
        raw=body,
    )


def _failed_or_raise(response: httpx.Response, *, what: str) -> RemoteStatus:
    """A final error answer: the job failed (4xx, queue timeout, 500 with an error body),
    or an error to raise (auth, not found, rate limit, other 5xx)."""
    code = response.status_code
    if code in _RAISED:
        raise_for_status(response, what=what)
    message = error_message(response)
    timed_out = code == 408 or QUEUE_TIMEOUT in (response.text.lower() if response.content else "")
    if not (timed_out or code < 500 or (code == 500 and message)):
        raise_for_status(response, what=what)
    reason = message or body_excerpt(response) or f"the operation failed (HTTP {code})"
    return RemoteStatus(
        state=JobState.FAILED,
        remote_state=f"HTTP {code}",
        error=one_line(reason),
        log=raw_text(response),
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _raise_rejected(response: httpx.Response, *, what: str) -> None:
    code = response.status_code
    message = error_message(response)
    if code in _RAISED or (code >= 500 and not message):
        raise_for_status(response, what=what)
    detail = message or body_excerpt(response)
    raise ProviderError(
        one_line(f"{what}: rejected (HTTP {code})" + (f": {detail}" if detail else "")),
        status_code=code,
        body=raw_text(response),
    )


def error_message(response: httpx.Response) -> str | None:
    """The first structured error message: Cisco `apiErrors…errorMessage` (JSON or XML), or an
    RFC/Azure style `error.message`; `None` when the body has no such structure."""
    data, root = load_body(response)
    if root is not None:
        return first_xml_text(root, "errorMessage")
    found = first_json_text(dig(data, "apiErrors"), "errorMessage")
    if found:
        return found
    nested: object = dig(data, "error.message")
    return nested.strip() if isinstance(nested, str) and nested.strip() else None


def monitor_status(response: httpx.Response) -> dict[str, object] | None:
    """The body when it is a status monitor's answer: a JSON object with a known `status`."""
    data, _ = load_body(response)
    if not isinstance(data, dict):
        return None
    status = data.get("status")
    if not isinstance(status, str) or normalise(status) not in MONITOR_STATES:
        return None
    return data


def normalise(state: str) -> str:
    return "".join(ch for ch in state.lower() if ch not in " _-")


def _from_monitor(
    response: httpx.Response, data: dict[str, object], *, fallback: str | None
) -> RemoteStatus:
    remote_state = str(data["status"])
    state = MONITOR_STATES[normalise(remote_state)]
    results: tuple[ResultLink, ...] = ()
    if state is JobState.SUCCEEDED:
        where = data.get("resourceLocation")
        url = resolve(response, where) if isinstance(where, str) and where else fallback
        results = () if url is None else (_link(url, suffix=".json"),)
    return RemoteStatus(
        state=state,
        remote_state=remote_state,
        remote_id=text_or_none(data.get("id")),
        progress=_percent(data.get("percentComplete")),
        created_at=parse_timestamp(data.get("createdDateTime") or data.get("startTime")),
        finished_at=_finished_at(data) if state.is_terminal else None,
        error=_monitor_error(data, state),
        log=raw_text(response) if state is JobState.FAILED else None,
        results=results,
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _monitor_error(data: dict[str, object], state: JobState) -> str | None:
    if state not in (JobState.FAILED, JobState.CANCELLED):
        return None
    message = dig(data, "error.message") or dig(data, "error.code")
    if isinstance(message, str) and message.strip():
        return one_line(message)
    return "the operation was cancelled" if state is JobState.CANCELLED else "the operation failed"


def _finished_at(data: dict[str, object]) -> datetime | None:
    return parse_timestamp(data.get("lastUpdatedDateTime") or data.get("endTime"))


def _percent(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0.0 <= number <= 100.0 else None


def final_state_via(account: Account, *, style: LroStyle) -> str | None:
    """The account's `final_state_via` option (generic-202), checked; `None` for the default."""
    if not style.status_monitors:
        return None
    raw = account.options.get("final_state_via")
    if raw is None:
        return None
    value = raw.strip().lower()
    if value not in FINAL_STATE_VIA:
        raise ConfigError(
            f"{style.provider}: account {account.name!r} has final_state_via={raw!r}; "
            f"use one of {', '.join(FINAL_STATE_VIA)}"
        )
    return value


def _keeps_location(method: str | None, via: str | None) -> bool:
    return via == "location" or (via is None and (method or "").upper() == "POST")


def _final_url(
    session: ApiSession, job: Job, response: httpx.Response, *, style: LroStyle
) -> str | None:
    """Where the result is read once the status monitor says Succeeded (without a
    `resourceLocation` in its answer)."""
    via = final_state_via(session.account, style=style)
    if via in ("azure-async-operation", "operation-location"):
        return str(response.url)
    if via == "location":
        return job.result_url
    original = _resource_url(session, job.request, any_method=via == "original-uri")
    return original or job.result_url


def _provisioning(response: httpx.Response) -> tuple[str, JobState] | None:
    """An ARM resource's `properties.provisioningState` and what it means (anything not
    terminal is still running); `None` when the body has none."""
    data, _ = load_body(response)
    raw = dig(data, "properties.provisioningState")
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip(), _PROVISIONING_TERMINAL.get(normalise(raw), JobState.RUNNING)


def _provisioned(
    response: httpx.Response, provisioning: tuple[str, JobState], *, status_url: str | None
) -> RemoteStatus:
    raw, state = provisioning
    failed = state in (JobState.FAILED, JobState.CANCELLED)
    return RemoteStatus(
        state=state,
        remote_state=raw,
        status_url=status_url,
        error=f"the operation ended {raw} (provisioningState)" if failed else None,
        log=raw_text(response) if failed else None,
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _resource_url(
    session: ApiSession, request: SubmitRequest | None, *, any_method: bool = False
) -> str | None:
    """For PUT/PATCH the target is the resource: GET on the same URL reads the result."""
    if request is None or not (any_method or request.method.upper() in ("PUT", "PATCH")):
        return None
    params = [(k, v) for k, v in request.params if k.lower() != "async"]
    url = session.url(request.path)
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url


def _suffix(response: httpx.Response, *, sent_type: str | None) -> str:
    """`.xml` or `.json` by the answer's content type, else by what the job sent."""
    kind = response.headers.get("content-type", "").lower() or (sent_type or "").lower()
    return ".xml" if "xml" in kind else ".json"


def _link(url: str, *, suffix: str) -> ResultLink:
    return ResultLink(
        url=url,
        needs_auth=True,
        filename_hint=filename_from_url(url, default="result" + suffix, suffix=suffix),
    )
