"""End to end: several `jobdock --demo` processes on one demo data dir share one simulator, as
processes on a real data dir share one real API. The process that serves it holds the demo dir's
simulator lock and writes where it listens (`simulator.json`); the others use it, and serve it
again from its saved state once it has gone, on the same ports. Its state is saved as it
changes, so a demo process killed with SIGKILL loses no job the simulator had answered for.
A fresh demo has a job on every bundled profile whose fake the simulator registers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobdock.core.model.job import DownloadState, JobState
from jobdock.core.providers.profiles.load import bundled_profiles
from jobdock.core.store.jobs import JobStore
from jobdock.runtime import Runtime
from jobdock.simulator import PROVIDERS, SimConfig, demo
from tests.e2e.conftest import Cli
from tests.support.waiting import wait_until

JOBDOCK = [sys.executable, "-m", "jobdock"]


def demo_dir(cli: Cli) -> Path:
    return cli.data_dir / "demo"


def serving_pid(cli: Cli) -> int | None:
    """The pid of the process that serves the demo's simulator, while one does."""
    folder = demo_dir(cli)
    if not demo.serving(folder):
        return None
    try:
        pid: int = json.loads((folder / demo.ADDRESS_FILE).read_text())["pid"]
    except (OSError, ValueError):
        return None
    return pid


@contextmanager
def watching(cli: Cli, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`jobdock --demo watch` as a process of its own, its output in `out`; stopped as on
    Ctrl+C at the end (unless the test already ended it)."""
    with out.open("wb") as stdout:
        watch = subprocess.Popen([*JOBDOCK, "--demo", "watch", "--timeout", "120"], env=cli.env,
                                 stdout=stdout, stderr=subprocess.PIPE)  # fmt: skip
    try:
        yield watch
    finally:
        if watch.poll() is None:
            watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=30)


def saved(cli: Cli, job_id: str) -> bool:
    """Whether every result of the job is saved, as the store says."""
    job = {j["id"]: j for j in cli.json("--demo", "jobs", "--json")}[job_id]
    return bool(job["results"]) and all(r["download_state"] == "done" for r in job["results"])


def stored_saved(cli: Cli, job_id: str) -> bool:
    """`saved`, read from the demo's store file (cheap enough to ask often)."""
    store = JobStore.open(demo_dir(cli) / "jobs.sqlite3")
    try:
        results = store.get_job(job_id).results
    finally:
        store.close()
    return bool(results) and all(r.download_state is DownloadState.DONE for r in results)


def accounts(cli: Cli) -> dict[str, str]:
    return {a["name"]: a["base_url"] for a in cli.json("--demo", "accounts", "list", "--json")}


def test_demo_processes_share_one_simulator_and_the_next_serves_it_when_it_goes(
    cli: Cli, tmp_path: Path
) -> None:
    cli("--demo", "jobs", "--json")  # a fresh demo (its jobs submitted), its simulator saved
    listed = accounts(cli)
    with watching(cli, tmp_path / "a.out") as first:
        wait_until(lambda: serving_pid(cli) == first.pid, timeout=60, what="the watch serving")
        with watching(cli, tmp_path / "b.out") as second:
            assert accounts(cli) == listed  # a third process: the same simulator, same ports
            job = cli("--demo", "submit", "demo-vainu", "--param", "sim_duration=0.5")
            job_id = job.stdout.strip()
            outputs = [tmp_path / "a.out", tmp_path / "b.out"]
            wait_until(lambda: any(f"{job_id} saved " in o.read_text() for o in outputs),
                       timeout=60, what="a watch saving the job")  # fmt: skip
            wait_until(lambda: saved(cli, job_id), timeout=60, what="all its files saved")
            assert serving_pid(cli) == first.pid

            first.send_signal(signal.SIGINT)  # the serving process goes...
            first.communicate(timeout=30)
            wait_until(lambda: serving_pid(cli) == second.pid, timeout=30,
                       what="the other watch serving the simulator")  # fmt: skip
            assert accounts(cli) == listed  # ...and the simulator is back on the same ports
            later = cli("--demo", "submit", "demo-testo", "--param", "sim_duration=0.5")
            later_id = later.stdout.strip()
            wait_until(lambda: f"{later_id} saved " in (tmp_path / "b.out").read_text(),
                       timeout=60, what="the remaining watch saving the later job")  # fmt: skip
            wait_until(lambda: saved(cli, later_id), timeout=60, what="all its files saved")
    jobs = {j["id"]: j for j in cli.json("--demo", "jobs", "--json")}
    for done in (jobs[job_id], jobs[later_id]):
        assert done["state"] == "succeeded", done
        assert all(r["path"] and Path(r["path"]).is_file() for r in done["results"]), done
    assert serving_pid(cli) is None


def test_a_demo_process_killed_with_sigkill_loses_no_job(cli: Cli, tmp_path: Path) -> None:
    cli("--demo", "jobs", "--json")
    with watching(cli, tmp_path / "watch.out") as watch:
        wait_until(lambda: serving_pid(cli) == watch.pid, timeout=60, what="the watch serving")
        job_id = cli("--demo", "submit", "demo-shoptet", "--param", "sim_duration=2").stdout
        job_id = job_id.strip()
        os.kill(watch.pid, signal.SIGKILL)  # no exit code runs: nothing saved at the end
        watch.wait(timeout=30)
    assert serving_pid(cli) is None
    # The next run serves the simulator from the state saved when the job was submitted (the
    # demo's own jobs take their time: only this one is waited for).
    with watching(cli, tmp_path / "watch2.out"):
        wait_until(lambda: stored_saved(cli, job_id), timeout=90, what="the job saved again")
    job = {j["id"]: j for j in cli.json("--demo", "jobs", "--json")}[job_id]
    assert job["state"] == "succeeded", job
    assert job["results"] and all(Path(r["path"]).is_file() for r in job["results"]), job


def test_a_fresh_demo_has_a_job_on_each_registered_bundled_profile_and_they_end(
    tmp_path: Path,
) -> None:
    config = SimConfig(queue_time=0.1, run_time=0.4, result_size=8 * 1024)

    async def scenario() -> tuple[list[str], dict[str, list[JobState]]]:
        async with Runtime.open(data_dir=tmp_path, demo=True, sim_config=config) as runtime:
            engine = runtime.engine
            engine.configure(poll_min=0.05, poll_max=0.3)
            profiles = [a.provider for a in demo.profile_accounts(runtime.simulator)]
            await engine.start()
            deadline = asyncio.get_running_loop().time() + 60
            while not engine.all_settled([j.id for j in engine.jobs()]):
                assert asyncio.get_running_loop().time() < deadline, engine.jobs()
                await asyncio.sleep(0.05)
            states: dict[str, list[tuple[JobState, bool]]] = {}
            for job in engine.jobs():
                saved = bool(job.results) and all(
                    r.download_state is DownloadState.DONE for r in job.results
                )
                states.setdefault(job.provider, []).append((job.state, saved))
            return profiles, states

    profiles, states = asyncio.run(scenario())
    bundled = [p.id for p in bundled_profiles() if p.id not in PROVIDERS]
    assert sorted(profiles) == sorted(bundled)  # every bundled vendor profile
    assert set(states) == {*PROVIDERS, *profiles}
    for profile in profiles:  # its job succeeded and every result of it is saved
        assert states[profile] == [(JobState.SUCCEEDED, True)], profile
