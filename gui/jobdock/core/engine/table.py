"""The engine's job table: every job this process follows, mirrored to the `JobStore`.

`commit` is the one way a job changes: it redacts, stamps, writes through `WriteBack` (a store
that refuses the write keeps nothing from running), and queues the change for the listeners.
All changes made within one loop iteration are coalesced: listeners receive one `UpdateBatch`
per iteration, so a burst of answers reaches the window as one batch. The table also keeps when
(on the monotonic clock) each job's next poll is due, and the wake-up the scheduler waits on.

Settled history (nothing left to poll or download) is not read at start: the table holds the jobs
it follows (`live_jobs`: the unsettled ones, those committed since and the history pages taken
with `history_page`) and, for the settled rest, only a small index entry (`_Settled`) to count,
page and compare stamps with. `job`/`current` read such a job from the store; `jobs` is every job.
With `defer_unsettled` (the window) even the unsettled jobs are read after the start, the newest
first, a block at a time (`read_unsettled`, the engine's `read_deferred`), so that a first paint
never waits for all of them; a job asked for meanwhile is read at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import Job, JobEvent
from jobdock.core.model.updates import DownloadProgress, UpdateBatch
from jobdock.core.net.inputs import quoted
from jobdock.core.net.redaction import redact_event, redact_job
from jobdock.core.store.credentials import Redactor
from jobdock.core.store.jobs import JobStore
from jobdock.core.store.writeback import WriteBack

log = logging.getLogger("jobdock.engine")
_TICK = timedelta(microseconds=1)
STEP_BACK = 60.0  # seconds: a smaller step back lengthens a wait by that much at most


@dataclass
class _Pending:
    changed: dict[str, Job] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    progress: dict[tuple[str, int], DownloadProgress] = field(default_factory=dict)
    events: list[JobEvent] = field(default_factory=list)
    read: dict[str, Job] = field(default_factory=dict)


class _Settled(NamedTuple):
    """A settled job not read yet, as the store's index has it."""

    account: str
    state: str
    saved: int  # every result saved
    submitted_at: str
    updated_at: str


def _count_key(entry: _Settled) -> tuple[str, str, bool]:
    return (entry.account, entry.state, bool(entry.saved))


class JobTable:
    def __init__(
        self,
        store: JobStore,
        *,
        redactor: Redactor,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        longest_wait: Callable[[Job], float],
        defer_unsettled: bool = False,
    ) -> None:
        """`longest_wait`: a job's longest poll interval (seconds), the most a `next_poll_at`
        this table did not see computed is waited for. `defer_unsettled`: read the unsettled
        jobs later, a block at a time (`read_unsettled`), instead of all of them now (the
        window: its first paint must not wait for tens of thousands of rows)."""
        self.store = store
        self.redactor = redactor
        # Wall time (`clock`) is for what is shown and stored; waiting is measured on the
        # monotonic clock, which a wall-clock step (NTP, a user, a suspended VM) does not move.
        self.clock = clock
        self.monotonic = monotonic
        self._longest_wait = longest_wait
        # Unsettled jobs not read yet (deferred), oldest first, with their stored `updated_at`.
        self._unread: dict[str, str] = dict(store.unsettled_index()) if defer_unsettled else {}
        self._jobs: dict[str, Job] = (
            {} if defer_unsettled else {j.id: j for j in store.unsettled_jobs()}
        )
        # Settled history not read yet, oldest first (the store's order): paged from the newest.
        self._settled: dict[str, _Settled] = {
            row[0]: _Settled(*row[1:]) for row in store.settled_index()
        }
        self._settled_order = list(self._settled)
        self._history_counts = Counter(_count_key(s) for s in self._settled.values())
        self._poll_due: dict[str, tuple[datetime, float]] = {}  # next_poll_at → monotonic due
        self._clock_seen: tuple[datetime, float] | None = None  # (wall, monotonic) at a commit
        self._listeners: list[Callable[[UpdateBatch], None]] = []
        self._pending = _Pending()
        self._flush_scheduled = False
        self._issued_ids: set[str] = set()
        self.woken = asyncio.Event()  # set by `wake`: the scheduler looks again
        self.writeback = WriteBack(store)

    # reading -------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        """Every job, the settled history not read yet included (read now, not kept)."""
        self.read_unsettled(None)
        history = self.store.get_jobs(list(self._settled)) if self._settled else []
        return [*self._jobs.values(), *(j for j in history if j.id not in self._jobs)]

    def live_jobs(self) -> list[Job]:
        """The jobs held in memory: every unsettled one (all there is to poll or download)
        read so far (`unread_left`), those changed since the start, and the history pages
        taken."""
        return list(self._jobs.values())

    def unread_left(self) -> int:
        """How many unsettled jobs are not read yet (`defer_unsettled`)."""
        return len(self._unread)

    def unread_ids(self) -> list[str]:
        return list(self._unread)

    def read_unsettled(self, limit: int | None) -> list[Job]:
        """Read the newest `limit` (None: all) unsettled jobs not read yet; held from now on,
        and the listeners told of them in the next batch (`UpdateBatch.read`)."""
        if not self._unread:
            return []
        ids = list(self._unread)
        jobs = self._read(ids if limit is None else ids[-limit:])
        self.announce(jobs)
        return jobs

    def _read(self, ids: list[str]) -> list[Job]:
        read = []
        for job in self.store.get_jobs(ids):
            if job.id not in self._jobs:
                self._jobs[job.id] = job
                read.append(job)
        for job_id in ids:
            self._unread.pop(job_id, None)
        return read

    def announce(self, jobs: Iterable[Job]) -> None:
        """Tell the listeners of jobs read just now (`UpdateBatch.read`: rows, not news)."""
        for job in jobs:
            self._pending.read[job.id] = job
        self._schedule_flush()
        self.wake()

    def job(self, job_id: str) -> Job:
        job = self.current(job_id)
        if job is None:
            raise UsageError(f"unknown job {quoted(job_id)} (see `jobdock jobs`)")
        return job

    def current(self, job_id: str) -> Job | None:
        """The job as it is now, or None when it was removed meanwhile."""
        job = self._jobs.get(job_id)
        if job is None and job_id in self._unread:
            self.announce(self._read([job_id]))
            job = self._jobs.get(job_id)
        if job is None and job_id in self._settled:
            found = self.store.get_jobs([job_id])
            return found[0] if found else None
        return job

    def history_left(self) -> int:
        """How many settled jobs are not held in memory yet."""
        return len(self._settled)

    def history_page(self, limit: int) -> list[Job]:
        """Take the newest `limit` settled jobs not held yet into memory (oldest first): from
        now on they are live jobs, changes to them reach the listeners as changes."""
        ids: list[str] = []
        while self._settled_order and len(ids) < limit:
            job_id = self._settled_order.pop()
            if job_id in self._settled:
                ids.append(job_id)
        found = {j.id: j for j in self.store.get_jobs(ids)}
        page = []
        for job_id in reversed(ids):
            self._drop_settled(job_id)
            if (job := found.get(job_id)) is not None and job_id not in self._jobs:
                self._jobs[job_id] = job
                page.append(job)
        return page

    def history_counts(self) -> Counter[tuple[str, str, bool]]:
        """The settled jobs not held yet, per (account, state, every result saved)."""
        return +self._history_counts

    def history_stamp(self, job_id: str) -> str | None:
        """The stored `updated_at` of a job not held yet, settled or not read yet (None: not
        such a job)."""
        if job_id in self._unread:
            return self._unread[job_id]
        entry = self._settled.get(job_id)
        return None if entry is None else entry.updated_at

    def known_ids(self) -> list[str]:
        """Every job's id, held or not."""
        return [*self._jobs, *self._unread, *self._settled]

    def count_of_account(self, account: str) -> int:
        """How many jobs an account has, held or not, without reading any job whole."""
        held = sum(1 for job in self._jobs.values() if job.account == account)
        history = sum(1 for entry in self._settled.values() if entry.account == account)
        unread = 0
        if self._unread:  # the store knows their account; only their ids are read
            unread = sum(1 for i in self.store.account_job_ids(account) if i in self._unread)
        return held + history + unread

    def events(self, job_id: str) -> list[JobEvent]:
        return self.store.events(job_id)

    def new_id(self) -> str:
        """A short random local id, never one in use or already handed out (a sync makes
        many jobs before committing them)."""
        while True:
            job_id = secrets.token_hex(4)
            if (
                job_id not in self._jobs
                and job_id not in self._unread
                and job_id not in self._settled
                and (job_id not in self._issued_ids)
            ):
                self._issued_ids.add(job_id)
                return job_id

    # listeners -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[UpdateBatch], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop (synchronous use): deliver at once
            self.flush()

    def flush(self) -> None:
        """Deliver what changed since the last batch to the listeners, as one batch."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, _Pending()
        if not (
            pending.changed or pending.removed or pending.progress or pending.events or pending.read
        ):
            return
        batch = UpdateBatch(
            changed=tuple(pending.changed.values()),
            removed=tuple(pending.removed),
            progress=tuple(pending.progress.values()),
            events=tuple(pending.events),
            read=tuple(j for i, j in pending.read.items() if i not in pending.changed),
        )
        for listener in list(self._listeners):
            try:
                listener(batch)
            except Exception:
                log.exception("update listener failed")

    def publish_progress(self, progress: DownloadProgress) -> None:
        self._pending.progress[(progress.job_id, progress.index)] = progress
        self._schedule_flush()

    def wake(self) -> None:
        self.woken.set()

    # changing ------------------------------------------------------------------------------
    def commit(
        self, jobs: Iterable[Job], events: Iterable[JobEvent] = (), *, persist: bool = True
    ) -> None:
        """Record new job values: memory, store, listeners. The one way jobs change, and so the
        one place where text enters a job: every secret the engine knows is redacted here."""
        jobs = list(jobs)
        ids = {j.id for j in jobs}
        if self._unread and (unread := ids & self._unread.keys()):
            self._read(sorted(unread))  # their base for the compare-and-set, as stored
        self._take_in(ids & self._settled.keys())
        # A version read from the store (another process's change, a reload) has no link
        # header values (never stored): the ones held for the same links are kept.
        jobs = [keep_link_headers(job, held) if (held := self._jobs.get(job.id)) else job
                for job in jobs]  # fmt: skip
        jobs = [redact_job(job, self.redactor, previous=self._jobs.get(job.id)) for job in jobs]
        jobs = [self._stamped(job) for job in jobs] if persist else jobs
        jobs = [j for j in jobs if j.id in self._jobs or j.id not in self._pending.removed]
        events = [redact_event(event, self.redactor) for event in events]
        if persist and jobs:
            # Compare-and-set against the versions this process last saw: what another process
            # changed meanwhile is merged, never overwritten (store.put_jobs, rowmerge.py). A
            # store that cannot be written (full disk, read-only file) keeps nothing from
            # running: these versions are the truth, `writeback` saves them when it can.
            bases = {j.id: self._jobs.get(j.id) for j in jobs}
            written = self.writeback.save(jobs, events, bases=bases)
            if written is not None:
                jobs = [
                    keep_link_headers(w, j) for j in jobs if (w := written.get(j.id)) is not None
                ]
        elif events:
            self.writeback.save((), events)
        now, mono = self.clock(), self.monotonic()
        # `next_poll_at` was computed from the wall clock a moment before this reading: were
        # the clock set back since the last commit, that moment was later by the step than
        # `now` says, and each wait would grow by the whole step (hours). Measured from where
        # the clock stood, a job computed after the step is polled early at worst.
        seen = now + self._step_back(now, mono)
        for job in jobs:
            if persist:  # computed here just now; a reload is read as `poll_due` says
                self._note_poll_due(job, seen, mono)
            self._jobs[job.id] = job
            self._pending.changed[job.id] = job
        self._pending.events.extend(events)
        self._schedule_flush()
        self.wake()

    def _take_in(self, job_ids: set[str]) -> None:
        """Settled jobs about to change: held from now on, as the store has them (the base of
        their compare-and-set)."""
        if not job_ids:
            return
        for job in self.store.get_jobs(sorted(job_ids)):
            self._jobs.setdefault(job.id, job)
        for job_id in job_ids:
            self._drop_settled(job_id)

    def _drop_settled(self, job_id: str) -> None:
        entry = self._settled.pop(job_id, None)
        if entry is not None:
            self._history_counts[_count_key(entry)] -= 1

    def forget(self, job_id: str) -> None:
        """Drop a job from memory and tell the listeners (its polls and downloads stopped; the
        store no longer has it)."""
        self._jobs.pop(job_id, None)
        self._unread.pop(job_id, None)
        self._drop_settled(job_id)
        self._poll_due.pop(job_id, None)
        self.writeback.forget(job_id)
        self._pending.changed.pop(job_id, None)
        self._pending.read.pop(job_id, None)
        self._pending.removed.add(job_id)
        self._schedule_flush()

    def retry_store(self) -> None:
        """Write what the store refused before; take in the rows it merged meanwhile."""
        written = self.writeback.retry() or {}
        merged = [w for i, w in written.items() if w is not None and w != self._jobs.get(i)]
        if merged:
            self.commit([j for j in merged if j.id in self._jobs], persist=False)

    @property
    def store_problem(self) -> str | None:
        """Why job changes are waiting in memory (the store cannot be written), or None."""
        return self.writeback.problem if self.writeback.pending else None

    def _stamped(self, job: Job) -> Job:
        """`job` with an `updated_at` later than the version it replaces, when it changed: how
        another process on this data dir tells it is news (`neighbours.Neighbours`)."""
        previous = self._jobs.get(job.id)
        if previous is None or job.updated_at > previous.updated_at or job == previous:
            return job
        return job.replace(updated_at=max(self.clock(), previous.updated_at + _TICK))

    # when polls are due --------------------------------------------------------------------
    def _step_back(self, now: datetime, mono: float) -> timedelta:
        """How far the wall clock was set back since the last commit (relative to the monotonic
        clock), when by more than `STEP_BACK`; else nothing."""
        last, self._clock_seen = self._clock_seen, (now, mono)
        if last is None:
            return timedelta(0)
        moved = (now - last[0]).total_seconds() - (mono - last[1])
        return timedelta(seconds=-moved) if moved < -STEP_BACK else timedelta(0)

    def _note_poll_due(self, job: Job, now: datetime, mono: float) -> None:
        """A new `next_poll_at` was computed from the wall clock a moment ago: from here on it
        is waited for on the monotonic clock."""
        wall = job.next_poll_at
        known = self._poll_due.get(job.id)
        if wall is None or (known is not None and known[0] == wall):
            return
        self._poll_due[job.id] = (wall, mono + max(0.0, (wall - now).total_seconds()))

    def poll_due(self, job: Job) -> float:
        """When (monotonic) the job's next poll is due. A `next_poll_at` this engine did not see
        computed (read at start, or written by another process) is taken as a wait from now, at
        most the job's longest poll interval: a wall clock set back since then must not hold
        polling for the size of the step."""
        mono = self.monotonic()
        wall = job.next_poll_at
        if wall is None:
            return mono
        known = self._poll_due.get(job.id)
        if known is not None and known[0] == wall:
            return known[1]
        wait = min(max(0.0, (wall - self.clock()).total_seconds()), self._longest_wait(job))
        self._poll_due[job.id] = (wall, mono + wait)
        return mono + wait


def keep_link_headers(stored: Job, ours: Job) -> Job:
    """`stored` (a version as the store has it, which keeps no link header values: they are
    secrets) with the values `ours` holds for each result whose link is the same."""
    held = {(r.key, r.url): r.link_headers for r in ours.results if r.link_headers}
    if not held:
        return stored
    results = tuple(
        dataclasses.replace(r, link_headers=held[(r.key, r.url)])
        if r.link_headers_missing and (r.key, r.url) in held
        else r
        for r in stored.results
    )
    return stored if results == stored.results else stored.replace(results=results)
