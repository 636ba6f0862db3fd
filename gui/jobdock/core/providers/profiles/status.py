"""Reading a job's status from an answer (submit or poll) at the profile's paths: the raw state
mapped to a canonical one (an unmapped one is a `ProtocolError` naming the value; an answer without
a state is the profile's `initial_state` or `absent_state`), the job id and status URL, progress,
times, error, log and, for a job that succeeded, its result links (results.py). A poll's HTTP error
answer listed in `[poll] error_answers` is read as a status too. A job that ended but whose answer
cannot be read is an `EndedUnreadable`; a submit answer that cannot be read but names the job is
still a job (`unreadable_submit`: the vendor's job exists).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import httpx

from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import JobState, SubmitRequest
from jobdock.core.net.http import ApiSession, parse_retry_after, raise_for_status
from jobdock.core.providers.base import RemoteStatus
from jobdock.core.providers.common import one_line, parse_timestamp, raw_text
from jobdock.core.providers.profiles.answer import Answer
from jobdock.core.providers.profiles.paths import FieldPath
from jobdock.core.providers.profiles.results import read_results
from jobdock.core.providers.profiles.schema import Profile, normalise_state
from jobdock.core.providers.profiles.urls import resolve, template_url


async def read_status(
    profile: Profile,
    session: ApiSession,
    response: httpx.Response,
    *,
    request: SubmitRequest | None,
    what: str,
    url: str | None,
    known_id: str | None,
) -> RemoteStatus:
    if url is not None and response.status_code in profile.poll_request.error_answers:
        ended = _error_answer(profile, response, what=what, known_id=known_id)
        if ended is not None:
            return ended
    raise_for_status(response, what=what)
    answer = Answer(profile, response, what=what)
    fields = profile.fields
    state_path = fields["state"][0]
    remote_state = answer.text(fields["state"])
    # An answer without a state: a submit's job is `initial_state` (an API that answers only
    # an id), a poll's is `absent_state` when the profile gives one (AIP-151 leaves out
    # `done: false`).
    missing = profile.initial_state if url is None else profile.absent_state
    if remote_state is None and missing is not None:
        remote_state = missing.value
        state: JobState | None = missing
    elif remote_state is None:
        raise ProtocolError(f"{what}: the answer has no `{state_path}`", status_code=200)
    else:
        state = profile.states.get(normalise_state(remote_state))
    if state is None:
        noun = f"{profile.job_noun} {state_path.text.rsplit('.', 1)[-1]}"
        raise ProtocolError(
            f"{what}: unknown {noun} {one_line(remote_state, 60)!r} (not in the profile's [states])"
        )
    remote_id = answer.text(fields.get("id", ()))
    status_url = answer.text(fields.get("status_url", ()))
    status_url = resolve(profile, session, response, status_url) if status_url else None
    values = {
        "id": remote_id or known_id,
        "status_url": status_url or url or template_url(profile, session, remote_id, request),
    }
    try:
        results = await read_results(profile, session, answer, state, values, request)
    except ProtocolError as exc:  # the job has ended: the same answer will not read better
        raise EndedUnreadable(exc.user_message, remote_state=remote_state) from None
    return RemoteStatus(
        state=state,
        remote_state=remote_state,
        remote_id=remote_id,
        status_url=status_url,
        progress=_progress_of(answer, fields),
        created_at=parse_timestamp(answer.text(fields.get("created", ()))),
        finished_at=parse_timestamp(answer.text(fields.get("finished", ()))),
        error=_error(profile, answer, state),
        log=_log(answer, fields.get("log", ())),
        results=results,
        retry_after=parse_retry_after(response.headers),
        raw=raw_text(response),
    )


def _error_answer(
    profile: Profile, response: httpx.Response, *, what: str, known_id: str | None
) -> RemoteStatus | None:
    """A poll's HTTP error answer (a status in `[poll] error_answers`) read as a status
    answer: the job's end when its state maps to failed or cancelled (UniProt answers a
    failed job with 500 or 400 and `{"jobStatus": "ERROR", …}`); None (an ordinary HTTP
    error, retried) for a body without such a state."""
    try:
        answer = Answer(profile, response, what=what)
    except ProtocolError:
        return None
    fields = profile.fields
    remote_state = answer.text(fields["state"])
    state = profile.states.get(normalise_state(remote_state)) if remote_state else None
    if remote_state is None or state not in (JobState.FAILED, JobState.CANCELLED):
        return None
    error = _error(profile, answer, state)
    if not answer.text(fields.get("error", ())):  # no reason given: at least the status
        error = f"{error} (HTTP {response.status_code})"
    return RemoteStatus(
        state=state,
        remote_state=remote_state,
        remote_id=answer.text(fields.get("id", ())) or known_id,
        error=error,
        log=_log(answer, fields.get("log", ())),
        raw=raw_text(response),
    )


def _error(profile: Profile, answer: Answer, state: JobState) -> str | None:
    if state not in (JobState.FAILED, JobState.CANCELLED):
        return None
    found = answer.text(profile.fields.get("error", ()))
    if found:
        return one_line(found)
    if state is JobState.CANCELLED:
        return f"the {profile.job_noun} was cancelled"
    return f"{profile.name}: the {profile.job_noun} failed (no reason given)"


def unreadable_submit(
    profile: Profile, session: ApiSession, response: httpx.Response, exc: ProtocolError
) -> RemoteStatus:
    """A submit answer that cannot be read: the job it names (if any) is recorded with the
    raw answer, since the vendor's job exists and must not be orphaned."""
    answer = Answer(profile, response, what="", strict=False)
    fields = profile.fields
    remote_id = answer.text(fields.get("id", ()))
    status_url = answer.text(fields.get("status_url", ()))
    if remote_id is None and status_url is None:
        reason = answer.text(fields.get("error", ()))
        raise ProtocolError(f"{exc.user_message}: {one_line(reason)}") if reason else exc
    state = profile.initial_state
    return RemoteStatus(
        state=state,
        remote_state=state.value,
        remote_id=remote_id,
        status_url=resolve(profile, session, response, status_url) if status_url else None,
        log=f"the submit answer could not be read: {exc.user_message}",
        raw=raw_text(response),
    )


def no_job(profile: Profile, response: httpx.Response, *, what: str) -> ProtocolError:
    """The error of a submit answer that names no job: the API's own reason when the
    profile's `error` paths find one (Shopify's `userErrors` with `bulkOperation: null`)."""
    wanted = " or ".join(f"`{p}`" for p in _finders(profile))
    answer = Answer(profile, response, what=what, strict=False)
    reason = answer.text(profile.fields.get("error", ()))
    if reason:
        return ProtocolError(f"{what}: {one_line(reason)} (the answer has no {wanted})")
    return ProtocolError(f"{what}: the answer has no {wanted}")


def _finders(profile: Profile) -> list[str]:
    return [p.text for name in ("id", "status_url") for p in profile.fields.get(name, ())]


class EndedUnreadable(ProtocolError):
    """A job's answer says it ended, but the rest of it cannot be read."""

    def __init__(self, message: str, *, remote_state: str) -> None:
        super().__init__(message)
        self.remote_state = remote_state


def _progress(text: str | None) -> float | None:
    try:
        value = float(text.rstrip("%")) if text else None
    except ValueError:
        return None
    return value if value is not None and 0.0 <= value <= 100.0 else None


def _progress_of(answer: Answer, fields: Mapping[str, tuple[FieldPath, ...]]) -> float | None:
    """The `progress` path's percent, or `progress_done` of `progress_total` as one (Mailchimp's
    `finished_operations` of `total_operations`); None when the answer gives no usable one."""
    if "progress_done" not in fields:
        return _progress(answer.text(fields.get("progress", ())))
    try:
        done = float(answer.text(fields["progress_done"]) or "nan")
        total = float(answer.text(fields.get("progress_total", ())) or "nan")
    except ValueError:
        return None
    if not (math.isfinite(done) and math.isfinite(total)) or total <= 0:
        return None
    return _progress(str(100.0 * done / total))


def _log(answer: Answer, paths: tuple[FieldPath, ...]) -> str | None:
    for path in paths:
        value = answer.get(path)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict | list) and value:
            return json.dumps(value, indent=2)
    return None
