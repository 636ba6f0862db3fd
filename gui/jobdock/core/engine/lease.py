"""One engine per data dir: the worker's lease, a row of the store that its holder renews.

Only the holder of the lease (the worker) polls and downloads; every other engine on the data
dir (the window, another `jobdock watch`) keeps its view of the store live (`neighbours.py`) and
hands its actions to the worker (`commands.py`). The lease is a row of the SQLite store, taken
and renewed in a write transaction, so it works wherever SQLite does (Windows too, no `flock`).
The holder renews it every `HEARTBEAT` seconds, adding one to `beats`. Another engine takes it
when it is free (released on a clean exit), or when its `beats` have not moved for `EXPIRY`
seconds of that engine's own monotonic clock (a killed or frozen worker), or, on the same host,
when its wall-clock heartbeat is older than `EXPIRY` (a worker that died before this engine
started) or older than `DEAD_AFTER` with its process gone (a worker killed just now). A holder
that finds the row taken by another (it was frozen too long) steps down. With every renewal the
holder also writes whether it downloads results as jobs succeed (`downloads`): the others wait
for those downloads only when it does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from jobdock.core.model.errors import StoreError
from jobdock.core.model.job import utcnow
from jobdock.core.store.jobs import JobStore

log = logging.getLogger("jobdock.lease")
HEARTBEAT = 1.0  # seconds between renewals (and between looks by the others)
EXPIRY = 5.0  # seconds without a renewal after which the lease is taken over
DEAD_AFTER = 2.5 * HEARTBEAT  # ... or after which it is, when the holder's process is gone
_NAME = "worker"
_COLUMNS = "holder, pid, host, since, heartbeat, beats, downloads"


@dataclass(frozen=True, kw_only=True)
class LeaseHolder:
    """Who holds the lease: a random id per engine, its process and host, since when."""

    holder: str
    pid: int
    host: str
    since: datetime
    heartbeat: datetime
    beats: int
    downloads: bool = True  # whether it downloads results as jobs succeed (auto-download)

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "host": self.host,
            "since": self.since.isoformat(),
            "heartbeat": self.heartbeat.isoformat(),
            "auto_download": self.downloads,
        }


def process_exists(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (POSIX); True where that cannot be told
    (on Windows `os.kill(pid, 0)` would send it CTRL_C_EVENT)."""
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process: it exists
    return True


def read_holder(store: JobStore) -> LeaseHolder | None:
    """The lease row as stored (it may be expired), or None when nobody holds it."""
    rows = store.rows(f"SELECT {_COLUMNS} FROM lease WHERE name = ?", (_NAME,))
    if not rows:
        return None
    holder, pid, host, since, heartbeat, beats, downloads = rows[0]
    return LeaseHolder(
        holder=holder,
        pid=pid,
        host=host,
        since=datetime.fromisoformat(since),
        heartbeat=datetime.fromisoformat(heartbeat),
        beats=beats,
        downloads=bool(downloads),
    )


class Lease:
    """This engine's side of the lease: `tick` takes or renews it and says whether it is held."""

    def __init__(
        self,
        store: JobStore,
        *,
        expiry: float = EXPIRY,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utcnow,
        downloads: Callable[[], bool] = lambda: True,
    ) -> None:
        """`downloads`: whether this engine downloads results as jobs succeed (written with
        each renewal while it holds the lease)."""
        self.store = store
        self.id = secrets.token_hex(8)
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.expiry = expiry
        self._monotonic = monotonic
        self._wall = wall
        self._downloads = downloads
        self._seen: tuple[str, int] | None = None  # another holder's (id, beats) ...
        self._seen_at = 0.0  # ... and when they last moved, by our monotonic clock

    def tick(self) -> bool:
        """Renew the lease if held, take it if free or expired; True when this engine holds it."""
        now = self._wall()
        seen = read_holder(self.store)
        if seen is not None and seen.holder != self.id and not self._expired(seen, now):
            return False  # the usual case for the others: a look, no write lock
        downloads = int(self._downloads())
        with self.store.transaction() as db:
            current = read_holder(self.store)
            if current is not None and current.holder == self.id:
                db.execute(
                    "UPDATE lease SET heartbeat = ?, beats = beats + 1, downloads = ? "
                    "WHERE name = ?",
                    (now.isoformat(), downloads, _NAME),
                )
                return True
            if current is not None and not self._expired(current, now):
                return False
            if current is not None:
                log.warning(
                    "the worker (pid %s on %s) stopped renewing its lease; taking over",
                    current.pid, current.host,
                )  # fmt: skip
            db.execute(
                f"INSERT OR REPLACE INTO lease (name, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (_NAME, self.id, self.pid, self.host, now.isoformat(), now.isoformat(),
                 downloads),
            )  # fmt: skip
            self._seen = None
            return True

    def _expired(self, current: LeaseHolder, now: datetime) -> bool:
        moment = self._monotonic()
        key = (current.holder, current.beats)
        if key != self._seen:
            self._seen, self._seen_at = key, moment
        if moment - self._seen_at >= self.expiry:
            return True
        if current.host != self.host:
            return False
        # Same host, same wall clock: a heartbeat long past means a worker that is gone; so
        # does one a couple of beats late whose process is gone (killed), without waiting out
        # the whole expiry. A live worker renews every beat, so one seen under another pid
        # namespace with this host name (a container) is never taken from.
        late = now - current.heartbeat
        if late > timedelta(seconds=self.expiry):
            return True
        return late > timedelta(seconds=DEAD_AFTER) and not process_exists(current.pid)

    def release(self) -> None:
        """Give the lease up (clean exit): another engine takes it on its next look."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM lease WHERE name = ? AND holder = ?", (_NAME, self.id))

    def holder(self) -> LeaseHolder | None:
        return read_holder(self.store)

    def live_holder(self) -> LeaseHolder | None:
        """The worker, when one renewed the lease within `EXPIRY` (by the wall clock)."""
        current = read_holder(self.store)
        if current is None:
            return None
        if self._wall() - current.heartbeat > timedelta(seconds=self.expiry):
            return None
        return current


class PendingCommands(Protocol):
    """The commands other processes left for the worker (`commands.Commands`)."""

    async def run_pending(self, *, again: bool = False) -> None: ...


class Worker:
    """Runs the lease for an engine: every `HEARTBEAT` seconds it renews or tries to take the
    lease, starts the engine's work when it becomes the worker, stops it when it loses the lease,
    and as the worker carries out the commands other processes left in the store."""

    def __init__(
        self,
        lease: Lease,
        *,
        adopt: Callable[[], Awaitable[object]],
        start_working: Callable[[], None],
        stop_working: Callable[[], Awaitable[None]],
        commands: PendingCommands,
    ) -> None:
        """`adopt` takes in what other processes wrote; `start_working`/`stop_working` start
        and stop polling and downloading here; `commands` are carried out as the worker."""
        self.lease = lease
        self._adopt = adopt
        self._start_working = start_working
        self._stop_working = stop_working
        self._commands = commands
        self.holds = False
        self._task: asyncio.Task[None] | None = None
        self.on_change: Callable[[bool], None] | None = None  # told when `holds` changes
        self._refused = False  # the last tick could not write the store

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Take the lease now if it is free, and keep looking."""
        if self._task is None:
            await self.step()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lease")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self.step()
            except Exception:  # a busy file: the next beat may do better
                log.exception("renewing the worker lease failed")

    async def step(self) -> None:
        try:
            held = self.lease.tick()
        except StoreError as exc:
            # A store that refuses writes (a full disk) cannot record the lease, for anyone:
            # work on as before, or start when no live worker is seen, rather than stop.
            held = self.holds or self.lease.live_holder() is None
            if not self._refused:
                log.warning("the worker lease cannot be written (%s); going on unrecorded", exc)
            self._refused = True
        else:
            self._refused = False
        if held and not self.holds:
            self.holds = True
            log.info(
                "this process (pid %s) is the worker for %s", self.lease.pid, self.lease.store.path
            )
            await self._adopt()  # the last worker's latest writes first
            self._start_working()
            self._tell()
            await self._commands.run_pending(again=True)  # what the last worker left undone
        elif not held and self.holds:
            self.holds = False
            log.warning("another process took the worker lease; this one stops polling")
            await self._stop_working()
            self._tell()
        elif self.holds:
            await self._commands.run_pending()

    def _tell(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self.holds)
            except Exception:
                log.exception("worker change listener failed")

    async def aclose(self) -> None:
        """Stop looking, and release the lease when held (after the engine's last writes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def release(self) -> None:
        if self.holds:
            self.holds = False
            try:
                self.lease.release()
            except StoreError as exc:  # it lapses on its own within EXPIRY
                log.warning("the worker lease was not released: %s", exc)

    def downloads(self, own: bool) -> bool:
        """Whether results are downloaded as jobs succeed: by this engine's setting (`own`) when
        it is the worker or there is no live worker (it will be), else by the worker's."""
        if self.holds:
            return own
        current = self.lease.live_holder()
        return own if current is None else current.downloads

    def status(self) -> dict[str, object]:
        """`jobdock status --json`: the worker (None when there is no live one) and whether it
        is this process."""
        current = self.lease.live_holder()
        return {
            "worker": current.to_json() if current is not None else None,
            "is_worker": current is not None and current.holder == self.lease.id,
            "pid": self.lease.pid,
            "host": self.lease.host,
        }
