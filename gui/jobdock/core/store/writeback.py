"""Job changes on their way to the store, kept while the store cannot take them.

A data disk that fills up, or a job file made read-only, must not stop the engine or lose what it
learnt: `WriteBack` holds every job version and event the store refused (the newest version of
each job only, with the version the store last had as its compare-and-set base: `put_jobs`),
tries again on every later commit and whenever the engine asks (`retry`), and
says once, in the log and through `problem`, that the store cannot be written — and once more
when it can again. The engine's memory stays the truth meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from jobdock.core.model.errors import StoreError
from jobdock.core.model.job import Job, JobEvent
from jobdock.core.store.jobs import JobStore

log = logging.getLogger("jobdock.store")
RETRY_INTERVAL = 2.0  # seconds between tries while the store refuses writes


class WriteBack:
    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._bases: dict[str, Job | None] = {}  # what the store held when the wait began
        self._events: list[JobEvent] = []
        self.problem: str | None = None  # why the store refuses writes, while it does

    @property
    def pending(self) -> int:
        """How many job versions and events wait for the store."""
        return len(self._jobs) + len(self._events)

    def holds(self, job_id: str) -> bool:
        return job_id in self._jobs

    def save(
        self,
        jobs: Iterable[Job],
        events: Iterable[JobEvent] = (),
        *,
        bases: Mapping[str, Job | None] | None = None,
    ) -> dict[str, Job | None] | None:
        """Queue `jobs` (with `bases`, as `JobStore.put_jobs` takes them) and `events` behind
        anything still waiting, and write it all. Returns what the store now holds for every
        job written (`put_jobs`' answer), or None when the jobs must wait."""
        for job in jobs:
            if job.id not in self._jobs:  # a job already waiting keeps its first base
                self._bases[job.id] = (bases or {}).get(job.id)
            self._jobs[job.id] = job
        self._events += events
        return self.retry()

    def retry(self) -> dict[str, Job | None] | None:
        """Write what waits: what the store now holds for the jobs written (see `save`), or
        None while it refuses them. `pending` says whether anything still waits."""
        written: dict[str, Job | None] = {}
        try:
            if self._jobs:
                written = self._store.put_jobs(list(self._jobs.values()), bases=self._bases)
                self._jobs.clear()
                self._bases.clear()
            if self._events:
                self._store.add_events(self._events)
                self._events.clear()
        except StoreError as exc:
            if self.problem is None:
                log.error("%s; keeping job changes in memory until it can be written", exc)
            self.problem = exc.user_message
            return None if self._jobs else written
        if self.problem is not None:
            log.info("the job store can be written again; every kept change is saved")
            self.problem = None
        return written

    def forget(self, job_id: str) -> None:
        """A removed job: what waits for it must not bring it back."""
        self._jobs.pop(job_id, None)
        self._bases.pop(job_id, None)
        self._events = [e for e in self._events if e.job_id != job_id]
