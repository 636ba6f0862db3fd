"""A store that cannot be written: the data disk fills up under a running engine (a real SQLite
file on a 2 MiB tmpfs, with the simulator on 127.0.0.1). The engine says so once, keeps polling
with its state in memory, and saves everything as soon as space is freed."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, JobState
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import FakeClock, SimConfig, Simulator
from tests.core.shoptet_helpers import until
from tests.e2e.conftest import Cli, add_account
from tests.support.tmpfs import fill, mounted_tmpfs


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "disk", "2m") as disk:
        yield disk.path


def _stored_states(path: Path) -> dict[str, str]:
    """What another process would read from the file."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        db.close()


def test_a_full_data_disk_keeps_the_state_in_memory_until_it_can_be_written(
    tiny_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = SimConfig(queue_time=0.1, run_time=0.3, result_size=1024)
    with Simulator(config) as sim:

        async def scenario() -> None:
            paths = AppPaths(data_dir=tiny_disk / "data", default_download_dir=tmp_path / "dl")
            store = JobStore.open(paths.ensure().store_file)
            engine = Engine(store=store, credentials=MemoryCredentialStore(), paths=paths)
            engine.configure(auto_download=False)
            account = Account(
                name="v", provider="vainu", base_url=sim.base_url("vainu"),
                options={"poll_min": "0.05", "poll_max": "0.2"},
            )  # fmt: skip
            await engine.add_account(account, sim.secret("vainu"))
            request = engine.provider("vainu").default_request()
            try:
                first = await engine.submit("v", request)
                await engine.start()  # the worker's lease is taken while there is room
                filler = fill(tiny_disk, "filler")
                before = _stored_states(paths.store_file)
                assert list(before) == [first.id]
                second = await engine.submit("v", request)  # the store refuses it: no error
                done = {first.id, second.id}
                await until(engine, lambda: engine.all_settled(done), limit=30)
                assert engine.store_problem is not None and "full" in engine.store_problem
                assert engine.job(first.id).state is JobState.SUCCEEDED
                assert _stored_states(paths.store_file) == before  # untouched while full
                filler.unlink()
                await until(engine, lambda: engine.store_problem is None, limit=30)
                assert _stored_states(paths.store_file) == {
                    first.id: "succeeded",
                    second.id: "succeeded",
                }
                kinds = [e.kind for e in engine.events(second.id)]
                assert kinds[0] == "submitted"  # the events kept in memory were saved too
            finally:
                await engine.aclose()
                store.close()

        with caplog.at_level(logging.INFO, logger="jobdock"):
            asyncio.run(scenario())
    store_lines = [r.getMessage() for r in caplog.records if r.name == "jobdock.store"]
    assert len(store_lines) == 2, store_lines  # said once, and once when it is over
    assert "keeping job changes in memory" in store_lines[0]
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]


def test_a_running_watch_rides_out_a_full_data_disk(
    tiny_disk: Path, file_keyring_env: dict[str, str]
) -> None:
    """Through the real CLI: the disk fills up while `watch` follows a job. It says so once on
    stdout, follows the job to its end in memory, and saves it once there is room again; no
    traceback, no error line, exit 0."""
    env = {**file_keyring_env, "JOBDOCK_DATA_DIR": str(tiny_disk / "data")}
    cli = Cli(env=env)
    store_file = tiny_disk / "data" / "jobs.sqlite3"
    # The simulator's clock moves only when told: the job runs while the disk is full and ends
    # once there is room again, so `--until-done` ends the watch as soon as it is saved.
    clock = FakeClock(start=time.time())
    config = SimConfig(queue_time=0.3, run_time=4.0, result_size=1024, clock=clock)
    with Simulator(config) as sim:
        account = add_account(cli, sim, "vainu")
        job_id = cli("submit", account).stdout.strip()
        clock.advance(1.0)  # past its queue time, within its run time
        watch = subprocess.Popen(
            [sys.executable, "-m", "jobdock", "watch", "--until-done", "--timeout", "60",
             "--no-auto-download"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in watch.stdout or ()])
        reader.start()
        try:
            _wait_for(lambda: _stored_states(store_file).get(job_id) == "running")
            filler = fill(tiny_disk, "filler")
            said = _next_line(lines, "keeping job changes in memory")
            assert "cannot write the job store" in said and "full" in said, said
            assert _stored_states(store_file) == {job_id: "running"}
            filler.unlink()
            clock.advance(10.0)  # the job ends
            _wait_for(lambda: _stored_states(store_file).get(job_id) == "succeeded")
            out, err = watch.communicate(timeout=60)
        finally:
            watch.kill()
            reader.join()
    rest = [*_drain(lines), *out.splitlines()]
    assert not any("keeping job changes in memory" in line for line in rest), rest
    assert watch.returncode == 0, err
    assert "Traceback" not in err and not err.strip(), err


def _wait_for(condition: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def _next_line(lines: queue.Queue[str], needle: str, limit: float = 30.0) -> str:
    deadline = time.monotonic() + limit
    while True:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        if needle in line:
            return line


def _drain(lines: queue.Queue[str]) -> list[str]:
    found = []
    while not lines.empty():
        found.append(lines.get())
    return found
