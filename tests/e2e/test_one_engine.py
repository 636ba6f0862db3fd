"""One engine per data dir, with real processes: two `jobdock watch` on one data dir poll every
job once and save every result once; when the worker is killed mid-download the other watch takes
the lease over and resumes the `.part` with `Range`."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from jobdock.core.model.job import Job
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import Simulator
from jobdock.simulator.config import FakeClock, SimConfig
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli, add_account
from tests.faults import harness
from tests.support.processes import stop_process

FOLLOWING = "is the worker for this data dir; following its work"
TOOK_OVER = "this watch is the worker now"
LEFT_FOR_DOWNLOAD = (
    "the worker does not download results as jobs succeed; they are left for `jobdock download`"
)


def wait_until(condition: Callable[[], object], *, seconds: float = 60, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def watching(cli: Cli, out: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`jobdock watch ARGS` with its output (both streams) in `out`; stopped when done."""
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobdock", "watch", *args],
            env=cli.env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_process(process)  # type: ignore[arg-type]


def stored_jobs(cli: Cli) -> list[Job]:
    store = JobStore.open(AppPaths.resolve(cli.data_dir).store_file)
    try:
        return store.list_jobs()
    finally:
        store.close()


def submit_many(cli: Cli, account: str, count: int, *params: str) -> list[str]:
    """`count` submits from as many script processes at once; their job ids."""
    extra = [arg for p in params for arg in ("--param", p)]
    procs: list[subprocess.Popen[str]] = [
        subprocess.Popen(
            [sys.executable, "-m", "jobdock", "submit", account, *extra],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.append(out.strip())
    return ids


def assert_polled_and_saved_once(sim: Simulator, jobs: list[Job], downloads: Path) -> None:
    """Every poll the API saw is one the stored job counted (a second poller's would not be),
    every result file was fetched once, and each job folder holds its one file, no `name (2)`."""
    polls = Counter(r.path for r in sim.requests("vainu"))
    for job in jobs:
        assert job.polls > 0
        assert polls[urlsplit(job.status_url or "").path] == job.polls, job
    fetched = Counter(r.path for r in sim.requests("storage") if r.method == "GET")
    assert len(fetched) == len(jobs) and set(fetched.values()) == {1}, fetched
    for job in jobs:
        (result,) = job.results
        path = Path(result.path or "")
        assert path.is_relative_to(downloads)
        assert [p.name for p in path.parent.iterdir()] == [path.name]
        assert [path.read_bytes()] == sim.expected_results("vainu", job.remote_id or "")


def test_two_watches_poll_each_job_once_and_save_each_result_once(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    add_account(cli, simulator, "vainu", name=harness.ACCOUNT)
    # Submitted in this process (twenty submit processes cost seconds of start-up and prove
    # nothing here); 6 s leaves them running while both watches start.
    ids = harness.submit_many(cli, simulator, [[("sim_duration", "6")]] * 20)
    downloads = tmp_path / "downloads"
    outs = tmp_path / "first.txt", tmp_path / "second.txt"
    args = ("--until-done", "--timeout", "120", "--download-dir", str(downloads))
    with watching(cli, outs[0], *args) as first, watching(cli, outs[1], *args) as second:
        assert first.wait(timeout=150) == 0, outs[0].read_text()
        assert second.wait(timeout=150) == 0, outs[1].read_text()
    jobs = stored_jobs(cli)
    assert sorted(j.id for j in jobs) == sorted(ids)
    assert all(j.polls > 1 for j in jobs), [j.polls for j in jobs]  # still running when watched
    assert_polled_and_saved_once(simulator, jobs, downloads)
    texts = [out.read_text() for out in outs]
    assert sum(FOLLOWING in text for text in texts) == 1, texts
    # With no watch running there is no worker.
    assert cli.json("status", "--json")["worker"] is None


def test_killed_worker_is_replaced_and_the_part_is_resumed_with_range(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    size = 20 * 1024 * 1024
    simulator.storage.add_fault(StorageFault(rate=2 * 1024 * 1024))  # the worker's GET: ~10 s
    account = add_account(cli, simulator, "vainu")
    downloads = tmp_path / "downloads"
    args = ("--until-done", "--timeout", "120", "--download-dir", str(downloads))
    (job_id,) = submit_many(cli, account, 1, f"sim_size={size}", "sim_duration=1")
    with watching(cli, tmp_path / "first.txt", *args) as first:

        def worker_pid() -> object:
            worker = cli.json("status", "--json")["worker"]
            return worker["pid"] if worker else None

        wait_until(lambda: worker_pid() == first.pid, what="the first watch to be the worker")
        status = cli.json("status", "--json")
        assert status["is_worker"] is False and status["pid"] != first.pid
        with watching(cli, tmp_path / "second.txt", *args) as second:
            wait_until(
                lambda: FOLLOWING in (tmp_path / "second.txt").read_text(),
                what="the second watch to follow",
            )
            folder = downloads / account / job_id

            def part_size() -> int:
                parts = list(folder.glob("*.part")) if folder.exists() else []
                return parts[0].stat().st_size if parts else 0

            wait_until(lambda: part_size() > 0, what="a partly written .part")
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            at_kill = part_size()
            assert at_kill < size
            wait_until(
                lambda: TOOK_OVER in (tmp_path / "second.txt").read_text(),
                what="the second watch to take over",
            )
            assert second.wait(timeout=120) == 0, (tmp_path / "second.txt").read_text()
    gets = [r for r in simulator.requests("storage") if r.method == "GET"]
    assert len(gets) == 2, gets
    assert "range" not in gets[0].headers
    assert gets[1].headers["range"] == f"bytes={at_kill}-", "resumed where the .part ended"
    (job,) = stored_jobs(cli)
    (result,) = job.results
    path = Path(result.path or "")
    assert [path.read_bytes()] == simulator.expected_results("vainu", job.remote_id or "")
    assert sorted(p.name for p in folder.iterdir()) == [path.name]
    polls = Counter(r.path for r in simulator.requests("vainu"))
    assert polls[urlsplit(job.status_url or "").path] == job.polls > 0


def test_a_scripts_download_is_done_by_the_running_worker(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    account = add_account(cli, simulator, "vainu")
    first, second = submit_many(cli, account, 2)
    downloads, out = tmp_path / "downloads", tmp_path / "watch.txt"
    args = ("--no-auto-download", "--timeout", "120", "--download-dir", str(downloads))
    with watching(cli, out, *args) as watch:
        wait_until(
            lambda: (cli.json("status", "--json")["worker"] or {}).get("pid") == watch.pid,
            what="the watch to be the worker",
        )
        wait_until(
            lambda: {j["state"] for j in cli.json("jobs", "--json")} == {"succeeded"},
            what="the jobs to finish",
        )
        # The script's own download dir is not the watch's: a file under the watch's
        # --download-dir was saved by the watch.
        path = Path(cli("download", first).stdout.strip())
        assert path.is_relative_to(downloads)
        wait_until(lambda: f"saved {path}" in out.read_text(), what="the watch to say so")
        there = tmp_path / "there"
        elsewhere = Path(cli("download", second, "--to", str(there)).stdout.strip())
        assert elsewhere.parent == there
        wait_until(lambda: f"saved {elsewhere}" in out.read_text(), what="the watch to say so")
    jobs = {j.id: j for j in stored_jobs(cli)}
    for job_id, saved in ((first, path), (second, elsewhere)):
        expected = simulator.expected_results("vainu", jobs[job_id].remote_id or "")
        assert [saved.read_bytes()] == expected


def test_two_watches_spend_a_shoptet_quota_once(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    account = add_account(cli, simulator, "shoptet")
    ids = submit_many(cli, account, 5, "sim_duration=4")
    outs = tmp_path / "first.txt", tmp_path / "second.txt"
    args = ("--until-done", "--timeout", "120", "--download-dir", str(tmp_path / "downloads"))
    with watching(cli, outs[0], *args) as first, watching(cli, outs[1], *args) as second:
        assert first.wait(timeout=150) == 0, outs[0].read_text()
        assert second.wait(timeout=150) == 0, outs[1].read_text()
    jobs = stored_jobs(cli)
    assert sorted(j.id for j in jobs) == sorted(ids)
    # One poller: each batch poll is one job-list call and counts as a poll of every job still
    # unfinished, the last to finish among them; each finished job's detail is read once.
    stats = simulator.shoptet_stats()
    assert stats["list_calls"] == max(j.polls for j in jobs), stats
    assert stats["detail_calls"] == len(jobs), stats
    assert stats["requests"] == len(jobs) + stats["list_calls"] + stats["detail_calls"], stats
    fetched = Counter(r.path for r in simulator.requests("storage") if r.method == "GET")
    assert len(fetched) == len(jobs) and set(fetched.values()) == {1}, fetched
    # The two ran together: one of them followed the other's work.
    texts = [out.read_text() for out in outs]
    assert sum(FOLLOWING in text for text in texts) == 1, texts


def test_a_watch_that_is_not_the_worker_exits_with_the_jobs_outcome(
    cli: Cli, tmp_path: Path
) -> None:
    # The simulator's clock stands still until the follower is following: the jobs are unsettled
    # when it starts however slow the machine, so its exit code speaks of them.
    clock = FakeClock(start=time.time())
    config = SimConfig(queue_time=0.1, run_time=0.3, result_size=48 * 1024, clock=clock)
    with Simulator(config) as simulator:
        account = add_account(cli, simulator, "vainu")
        submit_many(cli, account, 1, "sim_duration=3")
        submit_many(cli, account, 1, "sim_duration=3", "sim_outcome=fail")
        worker_out, follower_out = tmp_path / "worker.txt", tmp_path / "follower.txt"
        with watching(cli, worker_out, "--timeout", "120") as worker:
            wait_until(
                lambda: (cli.json("status", "--json")["worker"] or {}).get("pid") == worker.pid,
                what="the first watch to be the worker",
            )
            with watching(cli, follower_out, "--until-done", "--timeout", "120") as follower:
                wait_until(
                    lambda: FOLLOWING in follower_out.read_text(), what="the follower to follow"
                )
                clock.advance(10)  # both jobs finish now: one succeeds, one fails
                assert follower.wait(timeout=150) == 1, follower_out.read_text()  # one failed
            assert worker.poll() is None, worker_out.read_text()
    text = follower_out.read_text()
    assert FOLLOWING in text and TOOK_OVER not in text, text
    assert "failed" in text and "saved" in text, text


def test_a_follower_waits_for_no_download_a_worker_without_auto_download_will_not_make(
    cli: Cli, tmp_path: Path
) -> None:
    clock = FakeClock(start=time.time())  # the jobs stay unsettled until the follower follows
    config = SimConfig(queue_time=0.1, run_time=0.3, result_size=48 * 1024, clock=clock)
    with Simulator(config) as simulator:
        account = add_account(cli, simulator, "vainu")
        submit_many(cli, account, 2, "sim_duration=3")
        worker_out, follower_out = tmp_path / "worker.txt", tmp_path / "follower.txt"
        with watching(cli, worker_out, "--no-auto-download", "--timeout", "120") as worker:
            wait_until(
                lambda: (cli.json("status", "--json")["worker"] or {}).get("pid") == worker.pid,
                what="the first watch to be the worker",
            )
            status = cli.json("status", "--json")["worker"]
            assert status["auto_download"] is False, status
            # The follower itself downloads automatically (the default): it waits for what
            # the worker does, not for what it would do.
            with watching(cli, follower_out, "--until-done", "--timeout", "60") as follower:
                wait_until(
                    lambda: FOLLOWING in follower_out.read_text(), what="the follower to follow"
                )
                clock.advance(10)  # both jobs succeed now
                assert follower.wait(timeout=90) == 0, follower_out.read_text()
            assert worker.poll() is None, worker_out.read_text()
        assert [r for r in simulator.requests("storage") if r.method == "GET"] == []
    text = follower_out.read_text()
    assert text.count(LEFT_FOR_DOWNLOAD) == 1 and TOOK_OVER not in text, text
    assert "watched 2 jobs" in text and "2 succeeded" in text, text
    assert {j.state.value for j in stored_jobs(cli)} == {"succeeded"}


def test_a_frozen_worker_that_wakes_after_a_takeover_loses_no_newer_row_and_saves_nothing_twice(
    cli: Cli, tmp_path: Path
) -> None:
    size = 8 * 1024 * 1024
    clock = FakeClock(start=time.time())
    config = SimConfig(queue_time=0.1, run_time=0.3, result_size=48 * 1024, clock=clock)
    with Simulator(config) as simulator:
        simulator.storage.add_fault(StorageFault(rate=1024 * 1024))  # the first GET: ~8 s
        account = add_account(cli, simulator, "vainu")
        (slow,) = submit_many(cli, account, 1, f"sim_size={size}", "sim_duration=1")
        (later,) = submit_many(cli, account, 1, "sim_duration=30")
        downloads = tmp_path / "downloads"
        args = ("--timeout", "120", "--download-dir", str(downloads))
        outs = tmp_path / "frozen.txt", tmp_path / "taker.txt"
        with watching(cli, outs[0], *args) as frozen:
            wait_until(
                lambda: (cli.json("status", "--json")["worker"] or {}).get("pid") == frozen.pid,
                what="the first watch to be the worker",
            )
            clock.advance(5)  # `slow` succeeds: the worker starts its slow download
            folder = downloads / account / slow
            wait_until(
                lambda: any(p.stat().st_size for p in folder.glob("*.part")),
                what="a partly written .part",
            )
            os.kill(frozen.pid, signal.SIGSTOP)
            try:
                with watching(cli, outs[1], "--until-done", *args) as taker:
                    wait_until(lambda: TOOK_OVER in outs[1].read_text(), what="the takeover")
                    # A change the frozen worker does not know of: `later` succeeds, and the new
                    # worker polls it and saves its result.
                    clock.advance(60)

                    def later_saved() -> bool:
                        (job,) = [j for j in stored_jobs(cli) if j.id == later]
                        return job.is_settled and bool(job.results)

                    wait_until(later_saved, what="the new worker to save the later job")
                    newer = {j.id: j for j in stored_jobs(cli)}[later]
                    polled = len(simulator.requests("vainu"))  # both jobs have succeeded
                    os.kill(frozen.pid, signal.SIGCONT)
                    wait_until(
                        lambda: "another process took over" in outs[0].read_text(),
                        what="the woken watch to step down",
                    )
                    assert taker.wait(timeout=120) == 0, outs[1].read_text()
                    woken = simulator.requests("vainu")[polled:]
                    assert woken == [], "the woken watch polled before it stepped down"
            finally:
                os.kill(frozen.pid, signal.SIGCONT)
            assert frozen.poll() is None, outs[0].read_text()
            frozen.send_signal(signal.SIGINT)
            assert frozen.wait(timeout=30) == 130, outs[0].read_text()
        jobs = {j.id: j for j in stored_jobs(cli)}
        # The newer row stands: the woken worker's stale view of `later` (running, nothing
        # saved) did not overwrite it.
        stored = jobs[later]
        assert stored.state == newer.state and stored.results == newer.results, stored
        assert stored.updated_at >= newer.updated_at
        # Saved once each: one GET per file without Range (a resume asks with Range), one
        # file in each job folder (no `name (2)`, no `.part` left).
        gets = [r for r in simulator.requests("storage") if r.method == "GET"]
        whole = Counter(r.path for r in gets if "range" not in r.headers)
        assert len(whole) == 2 and set(whole.values()) == {1}, gets
        for job in jobs.values():
            (result,) = job.results
            path = Path(result.path or "")
            assert [p.name for p in path.parent.iterdir()] == [path.name], job
            assert [path.read_bytes()] == simulator.expected_results("vainu", job.remote_id or "")


def test_status_prints_the_worker_as_documented_and_its_help_lists_only_its_exit_codes(
    cli: Cli, tmp_path: Path
) -> None:
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"
    this = r"this process \(pid (\d+) on (\S+)\) is not the worker"
    alone = cli("status").stdout.splitlines()
    assert alone[0] == "worker: none (no window or `jobdock watch` runs on this data dir)"
    assert re.fullmatch(this, alone[1]) and len(alone) == 2, alone
    with watching(cli, tmp_path / "watch.txt", "--timeout", "120") as watch:
        wait_until(
            lambda: (cli.json("status", "--json")["worker"] or {}).get("pid") == watch.pid,
            what="the watch to be the worker",
        )
        lines = cli("status").stdout.splitlines()
    shape = rf"worker: pid (\d+) on (\S+) since {iso} \(last heartbeat {iso}\)"
    worker = re.fullmatch(shape, lines[0])
    assert worker and int(worker[1]) == watch.pid, lines
    assert re.fullmatch(this, lines[1]) and len(lines) == 2, lines
    # A worker that leaves results for `jobdock download` says so on its line.
    wait_until(lambda: cli.json("status", "--json")["worker"] is None, what="the lease freed")
    with watching(cli, tmp_path / "idle.txt", "--timeout", "120", "--no-auto-download") as idle:
        wait_until(
            lambda: (cli.json("status", "--json")["worker"] or {}).get("pid") == idle.pid,
            what="the --no-auto-download watch to be the worker",
        )
        first = cli("status").stdout.splitlines()[0]
    assert re.fullmatch(shape + "; it downloads no result as jobs succeed", first), first
    helped = cli("status", "--help").stdout
    codes = helped[helped.index("exit codes:") :]
    assert "141" in codes and "--timeout" not in codes and "130" not in codes, helped
    assert "every job watched" not in codes, helped
