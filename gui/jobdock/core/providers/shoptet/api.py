"""Shoptet's answers read into values: the `{"data", "errors"}` envelope with its error codes turned
into `core.errors` (and the two Shoptet-specific errors defined here), and a job object (detail or
list item) turned into a `RemoteStatus`. Timestamps are Shoptet's `2019-01-09T15:13:39+0100`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from jobdock.core.download.filenames import filename_from_url
from jobdock.core.model.errors import ConfigError, ProtocolError, ProviderError
from jobdock.core.model.job import JobState, utcnow
from jobdock.core.net.http import parse_json, raise_for_status
from jobdock.core.net.inputs import load_json
from jobdock.core.providers.base import RemoteStatus, ResultLink
from jobdock.core.providers.common import (
    one_line,
    parse_timestamp,
    raw_text,
    text_or_none,
)

STATES = {
    "pending": JobState.QUEUED,
    "running": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "expired": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "killed": JobState.FAILED,
}
WEBHOOK_CODE = "webhook-not-registered"
DETAIL_LIMIT_CODE = "job-detail-try-counter-exceeded-limit"
EXPIRED_MESSAGE = (
    "results expired on the server after 24 h; re-submit the request to get them again"
)


class WebhookRequiredError(ConfigError):
    """The e-shop has no `job:finished` webhook, without which Shoptet queues no async request."""

    def __init__(self, user_message: str, *, error_code: str | None = None) -> None:
        super().__init__(user_message)
        self.error_code = error_code


class DetailLimitError(ProviderError):
    """403 `job-detail-try-counter-exceeded-limit`: too many detail calls on an unfinished job.
    Not a failure of the job: follow it through the jobs list until it finishes."""

    transient = True


def envelope(response: httpx.Response, *, what: str) -> dict[str, Any]:
    """`data` of a successful answer; the matching error for an error answer."""
    body = _json_or_none(response)
    errors = _errors(body)
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code >= 400 or (errors and not isinstance(data, dict)):
        _raise(response, errors, what=what)
    if body is None:
        parse_json(response, what=what)  # raises the ProtocolError that says what came instead
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: the answer has no `data` object")
    return data


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return load_json(response.content) if response.content else None
    except ValueError:
        return None


def _errors(body: object) -> list[dict[str, Any]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _raise(response: httpx.Response, errors: list[dict[str, Any]], *, what: str) -> None:
    code = response.status_code
    first = errors[0] if errors else {}
    error_code = text_or_none(first.get("errorCode")) or ""
    message = one_line(str(first.get("message") or ""))
    if error_code == WEBHOOK_CODE or (code == 403 and "job:finished" in message):
        raise WebhookRequiredError(_webhook_message(what), error_code=error_code or None)
    if error_code == DETAIL_LIMIT_CODE:
        raise DetailLimitError(
            f"{what}: Shoptet refuses more detail calls on this unfinished job "
            f"({DETAIL_LIMIT_CODE}); it is followed through the jobs list instead",
            status_code=code,
            body=raw_text(response),
        )
    raise_for_status(response, what=what)  # 4xx/5xx: the error code is in its body excerpt
    detail = f"{message} ({error_code})" if error_code else message or "no message"
    raise ProviderError(f"{what}: Shoptet answered an error: {detail}", status_code=code)


def _webhook_message(what: str) -> str:
    return (
        f"{what}: Shoptet queues asynchronous requests only after a job:finished webhook is "
        "registered for the e-shop; register one with `jobdock webhooks register ACCOUNT URL` "
        "(or the window's Register webhook button; it sends POST /api/webhooks) and submit again"
    )


def job_status(
    item: dict[str, Any],
    *,
    what: str,
    status_url: str | None,
    retry_after: float | None,
    raw: str | None,
) -> RemoteStatus:
    """A job detail or jobs-list item as a `RemoteStatus`."""
    remote_state = text_or_none(item.get("status"))
    if remote_state is None:
        raise ProtocolError(f"{what}: the job has no `status`")
    state = STATES.get(remote_state.lower())
    if state is None:
        raise ProtocolError(f"{what}: unknown job status {one_line(remote_state, 60)!r}")
    log = item.get("log") if text_or_none(item.get("log")) else None  # kept verbatim
    results, error = _outcome(item, remote_state.lower(), log)
    return RemoteStatus(
        state=state,
        remote_state=remote_state,
        remote_id=text_or_none(str(item.get("jobId") or "")),
        status_url=status_url,
        created_at=parse_timestamp(item.get("creationTime")),
        finished_at=parse_timestamp(item.get("completionTime")),
        error=error,
        log=log,
        results=results,
        retry_after=retry_after,
        raw=raw,
    )


def _outcome(
    item: dict[str, Any], status: str, log: str | None
) -> tuple[tuple[ResultLink, ...], str | None]:
    url = text_or_none(item.get("resultUrl"))
    valid_until = parse_timestamp(item.get("validUntil"))
    if status == "completed":
        return ((_link(url, valid_until),) if url else ()), None
    if status == "expired":
        if not url:
            return (), EXPIRED_MESSAGE
        now = utcnow()
        past = valid_until if valid_until is not None and valid_until <= now else now
        return (_link(url, past),), None
    if status in ("failed", "killed"):
        return (), _last_line(log) or (
            "the job was killed" if status == "killed" else "the job failed"
        )
    return (), None


def _link(url: str, expires_at: datetime | None) -> ResultLink:
    return ResultLink(
        url=url, expires_at=expires_at, filename_hint=filename_from_url(url, default="result.json")
    )


def _last_line(log: str | None) -> str | None:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else None
