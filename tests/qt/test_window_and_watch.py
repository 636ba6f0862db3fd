"""The window and a `jobdock watch` on one data dir: the watch is the worker, so every job is
polled once and every result saved once (by the watch); the window shows them live and its
"download now" reaches the watch through the store."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from jobdock.core.model.job import DownloadState
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.qt.app import window_session
from jobdock.simulator import SimConfig, Simulator
from tests.e2e.conftest import Cli, add_account
from tests.e2e.test_one_engine import (
    assert_polled_and_saved_once,
    stored_jobs,
    submit_many,
    wait_until,
    watching,
)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=0.1, run_time=0.3, result_size=48 * 1024)) as sim:
        yield sim


@pytest.fixture
def cli(file_keyring_env: dict[str, str]) -> Cli:
    return Cli(env=file_keyring_env)


async def wait_for(predicate: Any, *, seconds: float = 60.0, what: str) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - a condition on another process's writes
            await asyncio.sleep(0.1)


def test_window_and_watch_poll_once_download_once_and_window_actions_reach_the_watch(
    qasync_loop: Any, cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    account = add_account(cli, simulator, "vainu")
    ids = submit_many(cli, account, 6, "sim_duration=3")
    downloads = tmp_path / "downloads"
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    secrets = MemoryCredentialStore({account: simulator.secret("vainu")})

    def saved_once_then_deleted(first_id: str) -> Path:
        assert_polled_and_saved_once(simulator, stored_jobs(cli), downloads)
        (job,) = [j for j in stored_jobs(cli) if j.id == first_id]
        path = Path(job.results[0].path or "")
        path.unlink()
        return path

    with watching(cli, tmp_path / "watch.txt", "--timeout", "120", "--download-dir",
                  str(downloads)) as watch:  # fmt: skip

        def worker_pid() -> object:
            worker = cli.json("status", "--json")["worker"]
            return worker["pid"] if worker else None

        wait_until(lambda: worker_pid() == watch.pid, what="the watch to be the worker")

        async def scenario() -> Path:
            async with window_session(
                data_dir=str(cli.data_dir), demo=False, settings=settings,
                credentials=secrets, profiles=[],
            ) as (runtime, window):  # fmt: skip
                engine = runtime.engine
                assert not engine.is_worker
                await wait_for(lambda: engine.all_settled(ids), what="every job saved")
                assert all(window.model.row_of(job_id) is not None for job_id in ids)
                assert engine.health.last_ok_at is None, "the window never polled"
                # "Download now" in the window for a file gone from disk: the watch, the
                # worker, saves it again (into its own download dir).
                path = saved_once_then_deleted(ids[0])
                window.commands.download_job(ids[0])
                await wait_for(path.exists, what="the file saved again")
                await wait_for(
                    lambda: engine.job(ids[0]).results[0].download_state == DownloadState.DONE,
                    what="the window to see it saved",
                )
                assert engine.health.last_ok_at is None
                return path

        path = qasync_loop.run_until_complete(scenario())
        # The window's Qt objects go now, on this thread, not in a later test's download thread
        # whenever the collector happens to run there.
        gc.collect()
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 130, (tmp_path / "watch.txt").read_text()  # Ctrl+C
    (job,) = [j for j in stored_jobs(cli) if j.id == ids[0]]
    assert [path.read_bytes()] == simulator.expected_results("vainu", job.remote_id or "")
    fetched = [r.path for r in simulator.requests("storage") if r.method == "GET"]
    assert len(fetched) == len(ids) + 1 and fetched.count(fetched[-1]) == 2
