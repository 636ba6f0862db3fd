"""What the engine tells its listeners (the window, `jobdock watch`): update batches and
download progress. Plain values over `model.job`; nothing else of core is imported here."""

from __future__ import annotations

from dataclasses import dataclass

from jobdock.core.model.job import Job, JobEvent


@dataclass(frozen=True)
class DownloadProgress:
    job_id: str
    index: int
    done: int
    total: int | None
    speed: float
    eta: float | None


@dataclass(frozen=True)
class UpdateBatch:
    """What changed since the last batch: new/changed jobs, removed job ids, download progress,
    and the job events recorded meanwhile (redacted; retries among them). `read`: jobs read
    from the store after the start (deferred), as they were: rows to show, not news."""

    changed: tuple[Job, ...] = ()
    removed: tuple[str, ...] = ()
    progress: tuple[DownloadProgress, ...] = ()
    events: tuple[JobEvent, ...] = ()
    read: tuple[Job, ...] = ()
