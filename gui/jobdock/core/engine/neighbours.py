"""Other Jobdock processes on the same data dir: the window, a `jobdock watch`, a script's
`jobdock submit`. Each writes the jobs it changes to the shared SQLite file; `Neighbours` looks
once a second whether another connection committed (`PRAGMA data_version`) and, if so, takes
their work in: new jobs (followed here from then on), newer versions of ours (a later
`updated_at`: the engine moves it forward on every change it persists) and removals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from jobdock.core.engine.table import JobTable

log = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0  # seconds between looks at the store


class Neighbours:
    def __init__(
        self, table: JobTable, store_version: int, *, stop: Callable[[str], Awaitable[None]]
    ) -> None:
        """`store_version`: the store's `data_version` read before the table loaded its jobs;
        `stop`: stop polling and downloading a job (another process removed it)."""
        self._table = table
        self._version = store_version
        self._stop = stop

    async def run(self) -> None:
        """Look every `CHECK_INTERVAL` seconds until cancelled."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            try:
                await self.adopt()
            except Exception:  # a busy or broken file: the next look may do better
                log.exception("reading jobs written by another process failed")

    async def adopt(self) -> int:
        """Take in what other processes wrote since the last look; how many jobs changed here."""
        table = self._table
        version = table.store.data_version()
        if version == self._version:
            return 0
        self._version = version
        stamps = table.store.job_stamps()
        held = {job.id: job for job in table.live_jobs()}
        fresh: list[str] = []
        for job_id, stamp in stamps.items():
            mine = held.get(job_id)
            if mine is not None:
                known: datetime | None = mine.updated_at
            else:  # settled history not read yet: its stamp as the store had it
                history = table.history_stamp(job_id)
                known = None if history is None else datetime.fromisoformat(history)
            if known is None or (
                stamp != known.isoformat() and datetime.fromisoformat(stamp) > known
            ):
                fresh.append(job_id)
        # A job the store has not taken yet (it refused the write) is not gone.
        gone = [
            job_id
            for job_id in table.known_ids()
            if job_id not in stamps and not table.writeback.holds(job_id)
        ]
        for job_id in gone:
            await self._stop(job_id)
            table.forget(job_id)
        jobs = table.store.get_jobs(fresh)
        if jobs:
            table.commit(jobs, persist=False)
        return len(jobs) + len(gone)
