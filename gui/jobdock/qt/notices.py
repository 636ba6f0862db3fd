"""Which notifications to show: job succeeded, job failed, result saved, and "link expires in N
min and is not saved yet" (once per job). Each kind has a toggle. No Qt here: the window hands them
to the desktop's notification service (the tray's balloon or the status bar where there is none),
with the job's id so that a click on one shows the job.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime

from jobdock.core.model.job import DownloadState, Job, JobState
from jobdock.qt.categories import is_expiring, unsaved_expiry


class Notice(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SAVED = "saved"
    EXPIRING = "expiring"


NOTICE_LABELS = {
    Notice.SUCCEEDED: "A job succeeded",
    Notice.FAILED: "A job failed",
    Notice.SAVED: "A result was saved",
    Notice.EXPIRING: "A link expires soon and is not saved yet",
}


def _saved(job: Job) -> int:
    return sum(1 for r in job.results if r.download_state == DownloadState.DONE)


class Notices:
    def __init__(self, show: Callable[[Notice, str, str, str], None]) -> None:
        self._show = show
        self.enabled: set[Notice] = set(Notice)
        self._known: dict[str, tuple[JobState, int]] = {}
        self._warned: set[str] = set()

    def seed(self, jobs: Iterable[Job]) -> None:
        """What is already known at start: not news."""
        for job in jobs:
            self._known[job.id] = (job.state, _saved(job))

    def on_changed(self, jobs: Iterable[Job], removed: Iterable[str] = ()) -> None:
        for job_id in removed:
            self._known.pop(job_id, None)
        for job in jobs:
            before = self._known.get(job.id, (JobState.QUEUED, 0))
            self._known[job.id] = (job.state, _saved(job))
            name = job.label or job.id
            if before[0] != job.state and job.state == JobState.SUCCEEDED:
                self._emit(Notice.SUCCEEDED, job, "Job succeeded", f"{name} ({job.account})")
            elif before[0] != job.state and job.state == JobState.FAILED:
                reason = job.error or job.remote_state
                self._emit(Notice.FAILED, job, "Job failed", f"{name}: {reason}")
            if _saved(job) > before[1]:
                path = next((r.path for r in reversed(job.results) if r.path), "")
                self._emit(Notice.SAVED, job, "Result saved", f"{name} → {path}")

    def on_tick(self, jobs: Iterable[Job], *, now: datetime, margin: float) -> None:
        for job in jobs:
            if job.id in self._warned or not is_expiring(job, now=now, margin=margin):
                continue
            self._warned.add(job.id)
            expiry = unsaved_expiry(job)
            assert expiry is not None
            minutes = max(1, round((expiry - now).total_seconds() / 60))
            self._emit(
                Notice.EXPIRING,
                job,
                "Result link expires soon",
                f"{job.label or job.id}: link expires in {minutes} min and is not saved yet",
            )

    def _emit(self, kind: Notice, job: Job, title: str, text: str) -> None:
        if kind in self.enabled:
            self._show(kind, title, text, job.id)
