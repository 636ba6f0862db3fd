"""The sidebar's job categories and the rules deciding which jobs belong to them (no Qt).

"Expiring soon" means a result link that is not saved yet expires within the engine's expiry
margin; "downloaded" means every result of the job is saved.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from jobdock.core.model.job import DownloadState, Job, JobState


class Category(enum.StrEnum):
    ALL = "all"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRING = "expiring soon"
    DOWNLOADED = "downloaded"


def unsaved_expiry(job: Job) -> datetime | None:
    """The earliest expiry among result links whose file is not saved yet."""
    times = [
        r.expires_at
        for r in job.results
        if r.expires_at is not None
        and r.download_state
        in (DownloadState.PENDING, DownloadState.DOWNLOADING, DownloadState.PAUSED)
    ]
    return min(times, default=None)


def is_expiring(job: Job, *, now: datetime, margin: float) -> bool:
    expiry = unsaved_expiry(job)
    return expiry is not None and now < expiry <= now + timedelta(seconds=margin)


def is_downloaded(job: Job) -> bool:
    return bool(job.results) and all(r.download_state == DownloadState.DONE for r in job.results)


def matches(category: Category, job: Job, *, now: datetime, margin: float) -> bool:
    if category == Category.ALL:
        return True
    if category == Category.EXPIRING:
        return is_expiring(job, now=now, margin=margin)
    if category == Category.DOWNLOADED:
        return is_downloaded(job)
    if category == Category.FAILED:
        return job.state in (JobState.FAILED, JobState.CANCELLED)
    return job.state.value == category.value


_STATE_CATEGORY = {
    JobState.QUEUED: Category.QUEUED,
    JobState.RUNNING: Category.RUNNING,
    JobState.SUCCEEDED: Category.SUCCEEDED,
    JobState.FAILED: Category.FAILED,
    JobState.CANCELLED: Category.FAILED,
}


def lasting_categories(job: Job) -> tuple[Category, ...]:
    """The categories a job is in whatever the clock says (all but "expiring soon")."""
    state = _STATE_CATEGORY[job.state]
    if job.results and is_downloaded(job):
        return (Category.ALL, state, Category.DOWNLOADED)
    return (Category.ALL, state)


def matches_search(job: Job, needle: str) -> bool:
    """Case-insensitive search over label, local and remote id, and account."""
    if not needle:
        return True
    needle = needle.casefold()
    fields = (job.label, job.id, job.remote_id or "", job.account)
    return any(needle in field.casefold() for field in fields)
