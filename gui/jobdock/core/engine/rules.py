"""The engine's rules, as pure functions: when to ask again, and how an answer (or a failure)
folds into a job, with its history events.

Timing: the first poll waits `first_delay`; after that the wait grows `min → min·factor → …` up
to `max`, each wait drawn uniformly between the minimum and the current ceiling ("full jitter", so
many jobs started together do not poll in lockstep). A server's `Retry-After`/`retry-after-ms`
replaces the computed wait. Answers: what a state change records, how fresh result links replace
old ones without losing what was downloaded, when a job gives up. The engine owns the loop and the
job table; these are plain functions with plain tests (tests/core/engine/test_rules.py).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from jobdock.core.engine.links import identity, link_key, link_path, pair_links, unique_keys
from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import DownloadState, Job, JobEvent, JobState, Result
from jobdock.core.net.inputs import MAX_RETRY_AFTER
from jobdock.core.providers.base import PollPolicy, RemoteStatus, ResultLink

RAW_LIMIT = 64 * 1024


def effective_policy(
    policy: PollPolicy, *, poll_min: float | None = None, poll_max: float | None = None
) -> PollPolicy:
    """The provider's policy with the user's interval bounds (settings) applied."""
    lo = policy.min_interval if poll_min is None else poll_min
    hi = policy.max_interval if poll_max is None else poll_max
    hi = max(hi, lo)
    first = min(max(policy.first_delay, lo), hi)
    return dataclasses.replace(policy, min_interval=lo, max_interval=hi, first_delay=first)


def backoff_delay(policy: PollPolicy, attempt: int, *, rng: random.Random) -> float:
    """The wait before poll number `attempt + 1` (attempt 0 → exactly the minimum)."""
    ceiling = min(policy.max_interval, policy.min_interval * policy.factor ** min(attempt, 60))
    if ceiling <= policy.min_interval:
        return policy.min_interval
    return rng.uniform(policy.min_interval, ceiling)


def next_poll_delay(
    policy: PollPolicy,
    *,
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
) -> float:
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    return backoff_delay(policy, attempt, rng=rng)


def next_poll_at(
    now: datetime,
    policy: PollPolicy,
    *,
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
) -> datetime:
    delay = next_poll_delay(policy, attempt=attempt, retry_after=retry_after, rng=rng)
    return now + timedelta(seconds=delay)


def deadline_for(start: datetime, policy: PollPolicy) -> datetime:
    return start + timedelta(seconds=policy.deadline)


def merge_results(old: tuple[Result, ...], links: tuple[ResultLink, ...]) -> tuple[Result, ...]:
    """Fresh links for the same results keep their download progress, matched by identity
    (`links.pair_links`), never by position: the API may list them in another order. A link
    that matches no known result is a new one."""
    pairs = pair_links([(identity(r), r.url) for r in old], [link.url for link in links])
    # A saved file is the bytes of its path: never handed to a link elsewhere.
    pairs = [
        None
        if i is not None
        and old[i].download_state == DownloadState.DONE
        and link_path(old[i].url) != link_path(link.url)
        else i
        for i, link in zip(pairs, links, strict=True)
    ]
    keys = unique_keys([link_key(link.url) for link in links])
    taken = {identity(r) for r in old}
    link_of = {i: n for n, i in enumerate(pairs) if i is not None}
    # Known results keep their places (the listing's order may change on every answer).
    merged: list[Result] = []
    for i, previous in enumerate(old):
        n = link_of.get(i)
        if n is None:
            # A result that was saved stays listed even if the server stopped mentioning it.
            if previous.download_state == DownloadState.DONE:
                merged.append(previous)
            continue
        link = links[n]
        state = previous.download_state
        if state in (DownloadState.EXPIRED, DownloadState.FAILED) and link.url != previous.url:
            state = DownloadState.PENDING
        merged.append(
            dataclasses.replace(
                previous,
                url=link.url,
                key=identity(previous),
                expires_at=link.expires_at,
                filename_hint=link.filename_hint or previous.filename_hint,
                needs_auth=link.needs_auth,
                checksum=link.checksum,
                decompress=link.decompress,
                link_headers=link.headers,
                link_header_names=tuple(name for name, _ in link.headers),
                download_state=state,
                error=previous.error if state == previous.download_state else None,
            )
        )
    for link, index, key in zip(links, pairs, keys, strict=True):
        if index is not None:
            continue
        while key in taken:  # a new link whose identity a result no longer listed holds
            key += "+"
        taken.add(key)
        merged.append(
            Result(
                url=link.url,
                key=key,
                expires_at=link.expires_at,
                filename_hint=link.filename_hint,
                needs_auth=link.needs_auth,
                checksum=link.checksum,
                decompress=link.decompress,
                link_headers=link.headers,
                link_header_names=tuple(name for name, _ in link.headers),
            )
        )
    # Results stored before keys existed may share one (two links to one object): told apart.
    distinct = unique_keys([r.key for r in merged])
    return tuple(
        r if r.key == key else dataclasses.replace(r, key=key)
        for r, key in zip(merged, distinct, strict=True)
    )


def apply_status(
    job: Job,
    status: RemoteStatus,
    *,
    now: datetime,
    policy: PollPolicy,
    rng: random.Random,
    redact: Callable[[str], str] = str,
) -> tuple[Job, list[JobEvent]]:
    """The job after a successful answer, and the events worth recording."""
    events: list[JobEvent] = []
    if status.state != job.state or status.remote_state != job.remote_state:
        raw = f" ({status.remote_state})" if status.remote_state else ""
        events.append(
            JobEvent(job_id=job.id, at=now, kind="state", message=f"{status.state.value}{raw}")
        )
    if status.error and status.error != job.error:
        events.append(JobEvent(job_id=job.id, at=now, kind="error", message=status.error))
    results = merge_results(job.results, status.results) if status.results else job.results
    polls = job.polls + 1
    terminal = status.state.is_terminal
    updated = job.replace(
        remote_id=status.remote_id or job.remote_id,
        status_url=status.status_url or job.status_url,
        result_url=status.result_url or job.result_url,
        state=status.state,
        remote_state=status.remote_state,
        progress=100.0 if status.state == JobState.SUCCEEDED else status.progress,
        created_at=status.created_at or job.created_at,
        finished_at=status.finished_at or (job.finished_at or (now if terminal else None)),
        error=status.error if status.state != JobState.SUCCEEDED else None,
        log=status.log if status.log is not None else job.log,
        last_response=_kept_answer(status.raw, redact) if status.raw else job.last_response,
        results=results,
        polls=polls,
        poll_failures=0,
        updated_at=now,
        next_poll_at=None
        if terminal
        else next_poll_at(now, policy, attempt=polls - 1, retry_after=status.retry_after, rng=rng),
    )
    return updated, events


def apply_poll_error(
    job: Job,
    error: JobdockError,
    *,
    now: datetime,
    policy: PollPolicy,
    rng: random.Random,
) -> tuple[Job, list[JobEvent]]:
    """A failed poll: transient errors retry with backoff until the deadline; others fail it."""
    message = error.user_message
    event = JobEvent(job_id=job.id, at=now, kind="poll-error", message=message)
    failures = job.poll_failures + 1
    past_deadline = job.deadline_at is not None and now >= job.deadline_at
    if error.transient and not past_deadline:
        retry_after = getattr(error, "retry_after", None)
        updated = job.replace(
            error=message,
            poll_failures=failures,
            updated_at=now,
            next_poll_at=next_poll_at(
                now, policy, attempt=failures, retry_after=retry_after, rng=rng
            ),
        )
        return updated, [event]
    if past_deadline and error.transient:
        message = f"gave up: no final answer before the deadline (last error: {message})"
    failed = job.replace(
        state=JobState.FAILED,
        error=message,
        poll_failures=failures,
        updated_at=now,
        finished_at=job.finished_at or now,
        next_poll_at=None,
    )
    return failed, [event, JobEvent(job_id=job.id, at=now, kind="state", message="failed")]


def past_deadline(job: Job, now: datetime) -> tuple[Job, list[JobEvent]] | None:
    """A job still unfinished at its deadline fails with a clear message."""
    if job.state.is_terminal or job.deadline_at is None or now < job.deadline_at:
        return None
    message = "gave up: the job did not finish before its deadline"
    failed = job.replace(
        state=JobState.FAILED, error=message, finished_at=now, updated_at=now, next_poll_at=None
    )
    return failed, [JobEvent(job_id=job.id, at=now, kind="state", message=f"failed: {message}")]


def _kept_answer(raw: str, redact: Callable[[str], str]) -> str:
    """The answer as stored: redacted before it is cut (a secret at the cut would otherwise be
    kept in part), with room for the longest token."""
    return redact(raw[: RAW_LIMIT + 8192])[:RAW_LIMIT]
