"""How the window copes with a big, busy job table (a script, not a test: it reports, no asserts).

    .venv/bin/python bench/table_bench.py [--jobs 10000] [--rate 1000] [--seconds 10]

Two measurements, both on the real window code (`MainWindow` over a real `Engine` and `JobStore`):

1. Live updates, in this process: a store with `--jobs` jobs, the window shown, and `--rate` job
   updates a second for `--seconds` seconds, committed through `JobTable.commit` (persist=False: the
   window is measured, not SQLite) from a 100 Hz driver, so the engine coalesces them into batches
   the way it does under real polling. Mostly progress moves, some state changes (running →
   succeeded with a result link, failed), download progress, and a few new jobs. A QTimer heartbeat
   (`--heartbeat-ms`, a precise timer) measures event-loop stalls: stall = actual interval -
   expected. Batch time is the time the feed takes to apply one (merged) batch: the model, the
   proxy's filtering and sorting, the window's slots; painting comes after, in the stalls.
2. Startup to first paint, in a fresh process each run: `python -m jobdock --data-dir DIR` on a
   store of `--jobs` jobs, timed from just before the process is spawned (so Python, PySide6 and
   the imports count) and from QApplication creation, to the first Paint event of the job table's
   viewport, with the child's resident memory (RSS) then; then the child quits through SIGINT
   like a user's Ctrl+C.

Targets (reported, not asserted): p99 stall < 16 ms, first paint < 1.5 s. Qt runs offscreen
unless QT_QPA_PLATFORM says otherwise (set DISPLAY and QT_QPA_PLATFORM=xcb for a real X server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "gui"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from jobdock.core.model.job import (  # noqa: E402
    Account,
    DownloadState,
    Job,
    JobState,
    Result,
    SubmitRequest,
)

ACCOUNTS = (
    ("acme", "vainu"),
    ("globex", "testo"),
    ("initech", "shoptet"),
    ("umbrella", "cisco-cce"),
)


# the data ---------------------------------------------------------------------------------------
def make_jobs(count: int, *, now: datetime, rng: random.Random) -> list[Job]:
    """A realistic mix: most jobs finished (saved, waiting, expired, failed), some running."""
    jobs = []
    for n in range(count):
        account, provider = ACCOUNTS[n % len(ACCOUNTS)]
        submitted = now - timedelta(seconds=(count - n) * 30)
        kind = rng.random()
        fields: dict[str, Any] = {}
        if kind < 0.55:
            fields = _finished(n, submitted, now, DownloadState.DONE)
        elif kind < 0.70:
            fields = _finished(n, submitted, now, DownloadState.PENDING)
        elif kind < 0.80:
            fields = _finished(n, submitted, now, DownloadState.EXPIRED)
        elif kind < 0.88:
            fields = {"state": JobState.FAILED, "remote_state": "failure", "error": "HTTP 500",
                      "finished_at": submitted + timedelta(seconds=40)}  # fmt: skip
        else:
            fields = {"state": JobState.RUNNING, "remote_state": "process", "progress": 10.0,
                      "next_poll_at": now + timedelta(hours=1)}  # fmt: skip
        jobs.append(
            Job(
                id=f"b{n:07d}",
                account=account,
                provider=provider,
                label=f"export {n}",
                remote_id=f"r{n}",
                submitted_at=submitted,
                created_at=submitted,
                updated_at=submitted,
                request=SubmitRequest(method="GET", path="export"),
                **fields,
            )
        )
    return jobs


def _finished(n: int, submitted: datetime, now: datetime, state: DownloadState) -> dict[str, Any]:
    expires = now + timedelta(hours=6) if state != DownloadState.EXPIRED else now
    result = Result(
        url=f"https://storage.example/r{n}.csv?X-Amz-Signature=abc",
        expires_at=expires,
        download_state=state,
        path=f"/data/exports/r{n}.csv" if state == DownloadState.DONE else None,
        bytes=1000 + n if state == DownloadState.DONE else None,
    )
    return {"state": JobState.SUCCEEDED, "remote_state": "completed", "progress": 100.0,
            "finished_at": submitted + timedelta(seconds=45), "results": (result,)}  # fmt: skip


def make_data_dir(path: Path, count: int) -> Path:
    from jobdock.core.model.paths import AppPaths
    from jobdock.core.store.jobs import JobStore
    from jobdock.core.store.settings import EngineSettings, save_settings

    paths = AppPaths.resolve(path).ensure()
    now = datetime.now(UTC)
    store = JobStore.open(paths.store_file)
    try:
        for name, provider in ACCOUNTS:
            base = f"https://{name}.example/api"
            store.put_account(Account(name=name, provider=provider, base_url=base), now=now)
        store.put_jobs(make_jobs(count, now=now, rng=random.Random(1)))
        # No automatic downloads: the waiting results point at hosts that do not exist.
        settings = EngineSettings(download_dir=paths.default_download_dir, auto_download=False)
        save_settings(store, settings)
    finally:
        store.close()
    return path


# 1. live updates --------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"n": len(ordered), "p50": pick(0.50), "p99": pick(0.99), "max": ordered[-1]}


class Driver:
    """Commits `rate` job updates a second into the engine, 100 times a second."""

    def __init__(self, engine: Any, *, rate: int, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.ids = [j.id for j in engine.jobs()]
        self.running = [j.id for j in engine.jobs() if j.state == JobState.RUNNING]
        self.downloading: list[str] = []
        self.made = 0
        self.updates = 0
        self.rate = rate
        self.started = time.perf_counter()

    def tick(self) -> None:
        # Catch up when the loop was late: the rate holds even when ticks are delayed.
        owed = round(self.rate * (time.perf_counter() - self.started)) - self.updates
        changed = [self._change(self.rng.random()) for _ in range(max(0, owed))]
        jobs = [j for j in changed if j is not None]
        self.engine.table.commit(jobs, persist=False)
        self.running += [j.id for j in jobs if j.state == JobState.QUEUED]
        self.updates += max(0, owed)

    def _change(self, kind: float) -> Job | None:
        from jobdock.core.model.updates import DownloadProgress

        engine, now = self.engine, datetime.now(UTC)
        if kind < 0.02:  # a new job
            self.made += 1
            job = engine.job(self.ids[0]).replace(
                id=f"n{self.made:07d}", label=f"new {self.made}", state=JobState.QUEUED,
                results=(), progress=None, submitted_at=now, created_at=now, finished_at=None,
            )  # fmt: skip
            return job
        if kind < 0.10 and self.downloading:  # download progress (no job change)
            job_id = self.rng.choice(self.downloading)
            done = self.rng.randrange(0, 10_000_000)
            engine.table.publish_progress(DownloadProgress(job_id, 0, done, 10_000_000, 2e6, 3.0))
            return None
        if kind < 0.16 and self.running:  # running → succeeded (and its download starts)
            job = engine.job(self.running.pop(self.rng.randrange(len(self.running))))
            result = Result(
                url="https://storage.example/x.csv",
                expires_at=now + timedelta(minutes=self.rng.choice((8, 14, 60))),
                download_state=DownloadState.DOWNLOADING,
            )
            self.downloading.append(job.id)
            return job.replace(state=JobState.SUCCEEDED, progress=100.0, finished_at=now,
                               results=(result,))  # fmt: skip
        if kind < 0.18 and self.running:  # running → failed
            job = engine.job(self.running.pop(self.rng.randrange(len(self.running))))
            return job.replace(state=JobState.FAILED, error="HTTP 500", finished_at=now)
        if self.running:  # progress on a running job
            job = engine.job(self.rng.choice(self.running))
            return job.replace(state=JobState.RUNNING, progress=self.rng.uniform(0, 99))
        return None


async def live_run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from PySide6.QtCore import QSettings, Qt, QTimer

    from jobdock.core.engine.engine import Engine
    from jobdock.core.model.paths import AppPaths
    from jobdock.core.store.credentials import MemoryCredentialStore
    from jobdock.core.store.jobs import JobStore
    from jobdock.qt.main_window import MainWindow

    paths = AppPaths.resolve(data_dir)
    store = JobStore.open(paths.store_file)
    engine = Engine(store=store, credentials=MemoryCredentialStore(), paths=paths)
    batch_times: list[float] = []
    batch_sizes: list[int] = []
    settings = QSettings(str(data_dir / "bench-window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings)
    apply = window.feed._apply_guarded  # timed: the model, the proxy and the window's slots

    def timed_apply(batch: Any) -> None:
        started = time.perf_counter()
        apply(batch)
        batch_times.append((time.perf_counter() - started) * 1000)
        batch_sizes.append(len(batch.changed) + len(batch.removed) + len(batch.progress))

    window.feed._apply_guarded = timed_apply  # type: ignore[method-assign]
    window.start()
    window.show()
    await asyncio.sleep(1.0)  # let the first layout and paint settle

    beats: list[float] = []
    heartbeat = QTimer(interval=args.heartbeat_ms, timerType=Qt.TimerType.PreciseTimer)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    driver = Driver(engine, rate=args.rate, rng=random.Random(2))
    driver.started = time.perf_counter()
    driving = QTimer(interval=10, timerType=Qt.TimerType.PreciseTimer)
    driving.timeout.connect(driver.tick)
    heartbeat.start()
    driving.start()
    await asyncio.sleep(args.seconds)
    driving.stop()
    heartbeat.stop()
    rows = window.model.rowCount()
    rss = rss_mb()
    await window.aclose()
    window.deleteLater()
    await engine.aclose()
    store.close()
    stalls = [(b - a) * 1000 - args.heartbeat_ms for b, a in zip(beats[1:], beats, strict=False)]
    return {
        "updates": driver.updates,
        "rows": rows,
        "batches": len(batch_times),
        "batch_size": percentiles([float(n) for n in batch_sizes]),
        "stall_ms": percentiles([max(0.0, s) for s in stalls]),
        "batch_ms": percentiles(batch_times),
        "rss_mb": rss,
    }


def live(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(live_run(args, data_dir))


# 2. startup to first paint ----------------------------------------------------------------------
def first_paint(data_dir: Path, *, runs: int) -> dict[str, Any]:
    from_spawn, from_app, rss = [], [], []
    for _ in range(runs):
        spawned = time.time()
        child = subprocess.run(
            [sys.executable, __file__, "--first-paint-child", str(data_dir), repr(spawned)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(
                REPO / "gui")},
        )  # fmt: skip
        if child.returncode != 0 or not child.stdout.strip():
            raise SystemExit(f"the startup child failed ({child.returncode}):\n{child.stderr}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        from_spawn.append(result["from_spawn_ms"])
        from_app.append(result["from_app_ms"])
        rss.append(result["rss_mb"])
    return {
        "runs": runs,
        "from_spawn_ms": percentiles(from_spawn) | {"all": from_spawn},
        "from_app_ms": percentiles(from_app) | {"all": from_app},
        "rss_mb": percentiles(rss),
    }


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def first_paint_child(data_dir: str, spawned: float) -> int:
    """In the child: the real `jobdock --data-dir DIR`, reporting its table's first paint."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    app_made = time.time()
    from jobdock.qt import app as jobdock_app
    from jobdock.qt.job_view import JobTableView

    class FirstPaint(QObject):
        done = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if not self.done and event.type() == QEvent.Type.Paint:
                parent = obj.parent()
                if isinstance(parent, JobTableView) and obj is parent.viewport():
                    self.done = True
                    painted = time.time()
                    report = {"from_spawn_ms": (painted - spawned) * 1000,
                              "from_app_ms": (painted - app_made) * 1000,
                              "rss_mb": rss_mb()}  # fmt: skip
                    print(json.dumps(report), flush=True)
                    QTimer.singleShot(0, lambda: os.kill(os.getpid(), signal.SIGINT))
            return False

    watcher = FirstPaint()
    app.installEventFilter(watcher)
    return jobdock_app.main(["--data-dir", data_dir])


# ------------------------------------------------------------------------------------------------
def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--first-paint-child":
        return first_paint_child(sys.argv[2], float(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1000, help="job updates a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--heartbeat-ms", type=int, default=5)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobdock-bench-") as tmp:
        data_dir = make_data_dir(Path(tmp) / "data", args.jobs)
        figures: dict[str, Any] = {"jobs": args.jobs, "rate": args.rate, "seconds": args.seconds,
                                   "platform": os.environ["QT_QPA_PLATFORM"]}  # fmt: skip
        if not args.skip_startup:  # first: the live run leaves new jobs in memory only
            figures["first_paint"] = first_paint(data_dir, runs=args.startup_runs)
        if not args.skip_live:
            figures["live"] = live(args, data_dir)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


def report(f: dict[str, Any]) -> str:
    lines = [f"{f['jobs']} jobs, Qt platform {f['platform']}"]
    if "live" in f:
        live, s, b = f["live"], f["live"]["stall_ms"], f["live"]["batch_ms"]
        lines += [
            f"live: {live['updates']} updates in {f['seconds']:.0f} s ({f['rate']}/s target), "
            f"{live['batches']} batches (median {live['batch_size']['p50']:.0f} updates), "
            f"{live['rows']} rows at the end, window process RSS {live['rss_mb']:.0f} MiB",
            f"  event-loop stall  p50 {s['p50']:6.2f} ms   p99 {s['p99']:6.2f} ms   "
            f"max {s['max']:6.2f} ms   (target p99 < 16 ms)",
            f"  model update/batch p50 {b['p50']:6.2f} ms   p99 {b['p99']:6.2f} ms   "
            f"max {b['max']:6.2f} ms",
        ]
    if "first_paint" in f:
        spawn, app = f["first_paint"]["from_spawn_ms"], f["first_paint"]["from_app_ms"]
        lines += [
            f"first paint of the table ({f['first_paint']['runs']} runs, median): "
            f"{spawn['p50']:.0f} ms from process start, {app['p50']:.0f} ms from QApplication "
            f"(target < 1500 ms); all: {', '.join(f'{v:.0f}' for v in spawn['all'])} ms; "
            f"RSS at first paint {f['first_paint']['rss_mb']['p50']:.0f} MiB",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
