"""`jobdock watch`: run the engine in the foreground, say what happens (`watch_report`), and end
with the exit code of docs/cli.md when the jobs it answers for are settled (or the timeout
passes, or SIGTERM/Ctrl+C stops it: state saved, `.part` files kept for the next run)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from jobdock.cli.watch_report import NORMAL, Report, pick_mode
from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import DownloadState, Job, JobState
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.providers.shoptet.webhooks import WebhookReceiver

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 3
EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_PIPE = 130, 143, 141  # 128 + SIGINT / SIGTERM / SIGPIPE


def exit_code(jobs: list[Job], *, auto_download: bool) -> int:
    for job in jobs:
        if job.orphaned:
            continue
        if job.state in (JobState.FAILED, JobState.CANCELLED):
            return EXIT_FAILED
        if auto_download and any(r.download_state != DownloadState.DONE for r in job.results):
            return EXIT_FAILED
    return EXIT_OK


class _Watched:
    """The jobs this watch answers for: those unsettled when it started and every job that
    appears while it runs (submitted here or by another process). Jobs settled before it started
    are history: their outcome is not this run's (an old failure must not fail every cron run)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Ids only: settled history (possibly 100,000 jobs) is never unsettled, nor read here.
        self._known = set(engine.known_ids())
        self.ids = set(engine.unsettled())

    def __call__(self, batch: UpdateBatch) -> None:
        for job in batch.changed:
            if job.id not in self._known:
                self._known.add(job.id)
                self.ids.add(job.id)

    def jobs(self) -> list[Job]:
        return [j for i in sorted(self.ids) if (j := self._engine.current(i)) is not None]

    def settled(self) -> bool:
        return self._engine.all_settled(self.ids)


async def watch(
    engine: Engine,
    *,
    out: TextIO,
    err: TextIO | None = None,
    until_done: bool,
    time_limit: float | None,
    download_dir: Path | None,
    auto_download: bool,
    as_json: bool = False,
    verbosity: int = NORMAL,
) -> int:
    err = err or sys.stderr
    if download_dir is None:
        engine.configure(auto_download=auto_download)
    else:
        folder = Path(os.path.abspath(os.path.expanduser(download_dir)))
        engine.configure(auto_download=auto_download, download_dir=folder)
    # Open the sessions of accounts with work to do now, so a keyring problem stops us at once.
    busy_accounts = {j.account for j in engine.live_jobs() if not j.orphaned and not j.is_settled}
    for name in sorted(busy_accounts):
        await engine.session(engine.account(name))
    changed = asyncio.Event()
    watched = _Watched(engine)
    report = Report(
        out=out,
        err=err,
        mode=pick_mode(out, as_json=as_json),
        verbosity=verbosity,
        jobs=engine.live_jobs(),  # history changed later (a download asked for) is news
        watched=lambda: watched.ids,
        downloads=engine.downloads_automatically,  # the worker's setting, as `settled` judges
    )
    engine.on_notice = report.warning  # on stderr, above the live line; an event with --json
    store_refused = False

    def on_batch(batch: UpdateBatch) -> None:
        nonlocal store_refused
        watched(batch)
        report(batch)
        problem = engine.store_problem
        if (problem is not None) != store_refused:  # said once, and once when it is over
            store_refused = problem is not None
            report.note(
                f"{problem}; keeping job changes in memory until the store can be written"
                if problem is not None
                else "the job store can be written again; every kept change is saved"
            )
        changed.set()

    unsubscribe = engine.subscribe(on_batch)
    stop = _Stop(changed)
    receiver = await _start_receiver(engine, report)
    await engine.start()
    report.event("start", jobs=sorted(watched.ids), worker=engine.is_worker,
                 until_done=until_done, timeout=time_limit)  # fmt: skip
    _say_who_works(engine, report)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    code, reason = EXIT_OK, "done"
    try:
        while True:
            if report.broken:  # stdout was closed (`watch | head -1`): end quietly
                code, reason = EXIT_PIPE, "closed pipe"
                break
            if stop.signal is not None:
                # Like Ctrl+C: what is under way stops, the store keeps every change and the
                # `.part` files stay for the next run to resume (Runtime closes the engine).
                code = EXIT_TERMINATED if stop.signal == signal.SIGTERM else EXIT_INTERRUPTED
                reason = stop.signal.name
                report.problem(
                    f"stopped by {stop.signal.name}; unfinished downloads resume next run"
                )
                break
            if until_done and watched.settled():
                code = exit_code(watched.jobs(), auto_download=engine.downloads_automatically())
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if watched.settled():
                    code = exit_code(watched.jobs(), auto_download=engine.downloads_automatically())
                    break
                left = len(engine.unsettled(watched.ids))
                report.problem(
                    f"timeout reached after {time_limit:g} s before every job settled "
                    f"({left} still unsettled)"
                )
                report.event("timeout", unsettled=left)
                code, reason = EXIT_TIMEOUT, "timeout"
                break
            changed.clear()
            wait = remaining if report.mode != "live" else min(remaining or 1.0, 1.0)
            try:
                async with asyncio.timeout(wait):
                    await changed.wait()
            except TimeoutError:
                pass
            report.redraw()
        if code != EXIT_PIPE:
            report.summary(code, reason=reason)
        return code
    finally:
        stop.close()
        unsubscribe()
        if receiver is not None:
            await receiver.aclose()


class _Stop:
    """SIGTERM (and Ctrl+C) end the watch from its own loop, so everything closes in order: the
    same clean stop for `kill`, systemd and a terminal."""

    def __init__(self, changed: asyncio.Event) -> None:
        self.signal: signal.Signals | None = None
        self._changed = changed
        self._installed: list[signal.Signals] = []
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
                continue
            self._installed.append(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.signal is None:
            self.signal = sig
        self._changed.set()

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)


def _say_who_works(engine: Engine, report: Report) -> None:
    """One line when another process is the worker: this watch follows it (and takes over when
    its lease lapses; `lease.py`), so its `--download-dir` applies only from then on; and one
    more when that worker does not download results automatically."""

    def on_change(holds: bool) -> None:
        report.note("this watch is the worker now" if holds else "another process took over")

    engine.on_worker_change(on_change)
    if engine.is_worker:
        return
    holder = engine.worker_holder()
    who = f"pid {holder.pid} on {holder.host}" if holder else "another process"
    report.note(f"{who} is the worker for this data dir; following its work")
    if not engine.downloads_automatically():
        # Its setting, not this watch's, says what gets downloaded: --until-done waits for no
        # download that will not come.
        report.note(
            "the worker does not download results as jobs succeed; they are left for"
            " `jobdock download`"
        )


async def _start_receiver(engine: Engine, report: Report) -> WebhookReceiver | None:
    """The webhook receiver, when the settings enable it (Shoptet job:finished events)."""
    if not engine.settings.webhook_enabled:
        return None
    receiver = engine.webhook_receiver()
    await receiver.start()
    report.note(f"receiving webhooks at {receiver.url}")
    return receiver
