"""A store that cannot be written: the data disk fills up under a running engine (a real SQLite
file on a 2 MiB tmpfs, with the simulator on 127.0.0.1). The engine says so once, keeps polling
with its state in memory, and saves everything as soon as space is freed."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.core.credentials import MemoryCredentialStore
from jobdock.core.engine import Engine
from jobdock.core.job import Account, JobState
from jobdock.core.paths import AppPaths
from jobdock.core.simulator import SimConfig, Simulator
from jobdock.core.store import JobStore
from tests.core.shoptet_helpers import until


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left; returns it (delete it to free the disk)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 4096
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                block = block[: len(block) // 2]
                if not block:
                    return filler
    finally:
        os.close(fd)


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
                filler = _fill(tiny_disk)
                second = await engine.submit("v", request)  # the store refuses it: no error
                await engine.start()
                done = {first.id, second.id}
                await until(engine, lambda: engine.all_settled(done), limit=30)
                assert engine.store_problem is not None and "full" in engine.store_problem
                assert engine.job(first.id).state is JobState.SUCCEEDED
                stored = _stored_states(paths.store_file)
                assert stored == {first.id: first.state.value}  # as before the disk filled up
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
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
