"""`jobdock watch`: run the engine in the foreground, print what happens, and end with the
exit code of docs/cli.md when everything is settled (or the timeout passes)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TextIO

from jobdock.core.engine import Engine, UpdateBatch
from jobdock.core.job import DownloadState, Job, JobState
from jobdock.core.links import identity
from jobdock.core.webhooks import WebhookReceiver

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 3


def exit_code(jobs: list[Job], *, auto_download: bool) -> int:
    for job in jobs:
        if job.orphaned:
            continue
        if job.state in (JobState.FAILED, JobState.CANCELLED):
            return EXIT_FAILED
        if auto_download and any(r.download_state != DownloadState.DONE for r in job.results):
            return EXIT_FAILED
    return EXIT_OK


class _Printer:
    def __init__(self, out: TextIO, jobs: list[Job]) -> None:
        self._out = out
        self._seen = {j.id: self._key(j) for j in jobs}

    @staticmethod
    def _key(job: Job) -> tuple[JobState, str, dict[str, DownloadState]]:
        # results by identity: a refresh may list them in another order
        return (job.state, job.remote_state, {identity(r): r.download_state for r in job.results})

    def __call__(self, batch: UpdateBatch) -> None:
        for job in batch.changed:
            old = self._seen.get(job.id)
            new = self._key(job)
            if old == new:
                continue
            self._seen[job.id] = new
            if old is None or old[:2] != new[:2]:
                raw = f" ({job.remote_state})" if job.remote_state else ""
                error = f": {job.error}" if job.error and job.state == JobState.FAILED else ""
                self._out.write(f"{job.id} {job.account} {job.state.value}{raw}{error}\n")
            old_downloads = old[2] if old else {}
            for result in job.results:
                if result.download_state == old_downloads.get(identity(result)):
                    continue
                if result.download_state == DownloadState.DONE:
                    self._out.write(f"{job.id} saved {result.path} ({result.bytes or 0:,} bytes)\n")
                elif result.download_state in (DownloadState.FAILED, DownloadState.EXPIRED):
                    self._out.write(f"{job.id} {result.download_state.value}: {result.error}\n")
        self._out.flush()


async def watch(
    engine: Engine,
    *,
    out: TextIO,
    until_done: bool,
    time_limit: float | None,
    download_dir: Path | None,
    auto_download: bool,
) -> int:
    changes: dict[str, object] = {"auto_download": auto_download}
    if download_dir is not None:
        changes["download_dir"] = Path(os.path.abspath(os.path.expanduser(download_dir)))
    engine.configure(**changes)
    # Open the sessions of accounts with work to do now, so a keyring problem stops us at once.
    busy_accounts = {j.account for j in engine.jobs() if not j.orphaned and not j.is_settled}
    for name in sorted(busy_accounts):
        await engine.session(engine.account(name))
    changed = asyncio.Event()
    printer = _Printer(out, engine.jobs())
    store_refused = False

    def on_batch(batch: UpdateBatch) -> None:
        nonlocal store_refused
        printer(batch)
        problem = engine.store_problem
        if (problem is not None) != store_refused:  # said once, and once when it is over
            store_refused = problem is not None
            out.write(
                f"{problem}; keeping job changes in memory until the store can be written\n"
                if problem is not None
                else "the job store can be written again; every kept change is saved\n"
            )
            out.flush()
        changed.set()

    unsubscribe = engine.subscribe(on_batch)
    receiver = await _start_receiver(engine, out)
    await engine.start()
    _say_who_works(engine, out)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    try:
        while True:
            if until_done and engine.all_settled():
                return exit_code(engine.jobs(), auto_download=auto_download)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if engine.all_settled():
                    return exit_code(engine.jobs(), auto_download=auto_download)
                out.write("timeout reached before every job settled\n")
                return EXIT_TIMEOUT
            changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                pass
    finally:
        unsubscribe()
        if receiver is not None:
            await receiver.aclose()


def _say_who_works(engine: Engine, out: TextIO) -> None:
    """One line when another process is the worker: this watch follows it (and takes over when
    its lease lapses; `lease.py`), so its `--download-dir` applies only from then on."""

    def on_change(holds: bool) -> None:
        out.write("this watch is the worker now\n" if holds else "another process took over\n")
        out.flush()

    engine.worker.on_change = on_change
    if engine.worker.holds:
        return
    holder = engine.worker.lease.holder()
    who = f"pid {holder.pid} on {holder.host}" if holder else "another process"
    out.write(f"{who} is the worker for this data dir; following its work\n")
    out.flush()


async def _start_receiver(engine: Engine, out: TextIO) -> WebhookReceiver | None:
    """The webhook receiver, when the settings enable it (Shoptet job:finished events)."""
    if not engine.settings.webhook_enabled:
        return None
    receiver = WebhookReceiver(engine)
    await receiver.start()
    out.write(f"receiving webhooks at {receiver.url}\n")
    return receiver
