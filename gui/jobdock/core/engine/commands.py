"""Actions handed to the worker through the store: "download now", "refresh" and pause, resume
or cancel of a download (of a job's files, or of one of them), from a process that does not
hold the lease (the window, `jobdock download`) while another one is the worker.

The sender adds a row to the `commands` table; the worker (`lease.Worker`) takes the waiting
rows on each of its beats, oldest first, carries them out as if its own user had asked, and
deletes each row when it is done: the sender waits for that, then reads the job the worker
wrote. A worker that dies leaves its taken rows; the next worker takes them again. Submitting,
tracking, re-submitting and removing need no command: the process the user ran sends the request
itself (it needs the answer to print the id) and writes or removes the job, and the worker
follows the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobdock.core.engine.lease import Lease
from jobdock.core.engine.table import JobTable
from jobdock.core.engine.transfers import Transfers
from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import utcnow

log = logging.getLogger("jobdock.commands")
DOWNLOAD, REFRESH = "download", "refresh"
PAUSE, RESUME, CANCEL = "pause-download", "resume-download", "cancel-download"
# One file of a job (`key`: its identity). Kinds of their own: a worker that knows only the
# whole-job ones skips them (logged) instead of pausing or cancelling every file of the job.
DOWNLOAD_FILE, PAUSE_FILE = "download-file", "pause-file"
RESUME_FILE, CANCEL_FILE = "resume-file", "cancel-file"
WAIT_STEP = 0.2  # seconds between a sender's looks at its command


@dataclass(frozen=True, kw_only=True)
class Command:
    id: int
    kind: str
    job_id: str
    args: dict[str, Any]


class Commands:
    def __init__(
        self,
        table: JobTable,
        lease: Lease,
        transfers: Transfers,
        *,
        poll_once: Callable[[str], Awaitable[None]],
        adopt: Callable[[], Awaitable[object]],
    ) -> None:
        """`lease`: this engine's side of the worker lease (who sends, is anyone the worker);
        `poll_once` polls a job now; `adopt` takes in what other processes wrote."""
        self._table = table
        self._store = table.store
        self._lease = lease
        self._transfers = transfers
        self._poll_once = poll_once
        self._adopt = adopt
        self._tasks: set[asyncio.Task[None]] = set()

    def post(self, kind: str, job_id: str, **args: Any) -> int:
        """Leave a command for the worker; returns its id (for `wait`). A `to` folder is made
        absolute here: the worker runs in another directory."""
        if args.get("to"):
            args["to"] = os.path.abspath(args["to"])
        with self._store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO commands (kind, job_id, args, sender, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, job_id, json.dumps(args), self._lease.id,
                 utcnow().isoformat()),
            )  # fmt: skip
            return int(cursor.lastrowid or 0)

    def _exists(self, command_id: int) -> bool:
        return bool(self._store.rows("SELECT 1 FROM commands WHERE id = ?", (command_id,)))

    async def wait(self, command_id: int) -> bool:
        """Until the worker has done the command (True), or there has been no live worker for a
        whole lease expiry (False: the command is withdrawn, the caller does it itself)."""
        lease = self._lease
        orphaned_since: float | None = None
        while self._exists(command_id):
            if lease.live_holder() is not None:
                orphaned_since = None
            elif orphaned_since is None:
                orphaned_since = time.monotonic()
            elif time.monotonic() - orphaned_since > lease.expiry:
                with self._store.transaction() as db:
                    gone = db.execute("DELETE FROM commands WHERE id = ?", (command_id,))
                    if gone.rowcount == 1:
                        return False
            await asyncio.sleep(WAIT_STEP)
        return True

    def take(self, *, again: bool = False) -> list[Command]:
        """The waiting commands, oldest first, marked taken; `again`: also those a previous
        worker took and never finished."""
        store = self._store
        where = "" if again else "WHERE taken = 0"
        if not store.rows(f"SELECT 1 FROM commands {where} LIMIT 1"):
            return []  # the usual case, every beat: a look, no write lock
        with store.transaction() as db:
            rows = store.rows(f"SELECT id, kind, job_id, args FROM commands {where} ORDER BY id")
            db.executemany("UPDATE commands SET taken = 1 WHERE id = ?", [(r[0],) for r in rows])
        return [Command(id=i, kind=k, job_id=j, args=json.loads(a)) for i, k, j, a in rows]

    async def run_pending(self, *, again: bool = False) -> None:
        """As the worker: carry out what the others asked for."""
        commands = self.take(again=again)
        if not commands:
            return
        if any(self._table.current(c.job_id) is None for c in commands):
            await self._adopt()  # asked about a job written a moment ago
        loop = asyncio.get_running_loop()
        for command in commands:
            task = loop.create_task(self._run(command), name=f"command:{command.kind}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, command: Command) -> None:
        transfers = self._transfers
        try:
            if self._table.current(command.job_id) is None:
                log.info("skipping %s of job %s: no such job", command.kind, command.job_id)
            elif command.kind == DOWNLOAD:
                to = command.args.get("to")
                await transfers.download(command.job_id, to=Path(to) if to else None)
            elif command.kind == REFRESH:
                await self._poll_once(command.job_id)
            elif command.kind == PAUSE:
                await transfers.pause(command.job_id)
            elif command.kind == RESUME:
                transfers.resume(command.job_id)
            elif command.kind == CANCEL:
                await transfers.stop(command.job_id)
            elif command.kind in (DOWNLOAD_FILE, PAUSE_FILE, RESUME_FILE, CANCEL_FILE):
                await self._run_file(command)
            else:
                log.warning("unknown command %r from another process", command.kind)
        except JobdockError as exc:
            log.warning("%s of job %s failed: %s", command.kind, command.job_id, exc.user_message)
        except Exception:
            log.exception("%s of job %s failed", command.kind, command.job_id)
        with self._store.transaction() as db:
            db.execute("DELETE FROM commands WHERE id = ?", (command.id,))

    async def _run_file(self, command: Command) -> None:
        transfers, job_id, key = self._transfers, command.job_id, str(command.args["key"])
        if command.kind == DOWNLOAD_FILE:
            to = command.args.get("to")
            await transfers.download(job_id, to=Path(to) if to else None, key=key)
        elif command.kind == PAUSE_FILE:
            await transfers.pause(job_id, key=key)
        elif command.kind == RESUME_FILE:
            transfers.resume(job_id, key=key)
        else:
            await transfers.stop(job_id, key=key)

    async def cancel(self) -> None:
        """Stop the commands being carried out (their rows stay for the next worker)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
