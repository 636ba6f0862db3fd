"""The window and a `jobdock watch` on one data dir: the watch is the worker, so every job is
polled once and every result saved once (by the watch); the window's model shows them live (a
row's state changes as the watch moves the job), its "download now" reaches the watch through
the store, and so do its "re-submit" (the watch polls and saves the new job) and "remove" (the
watch stops polling the job)."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import QSettings

from jobdock.core.model.job import DownloadState, JobState
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
from tests.qt.test_window import answer, select


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
    removed, kept = submit_many(cli, account, 2, "sim_duration=600")  # running throughout
    downloads = tmp_path / "downloads"
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    secrets = MemoryCredentialStore({account: simulator.secret("vainu")})

    def polls_of(job_id: str) -> int:
        (job,) = [j for j in stored_jobs(cli) if j.id == job_id] or [None]
        path = urlsplit((job or last_seen[job_id]).status_url or "").path
        return sum(1 for r in simulator.requests("vainu") if r.path == path)

    last_seen = {j.id: j for j in stored_jobs(cli)}

    def saved_once_then_deleted(first_id: str) -> Path:
        short = [j for j in stored_jobs(cli) if j.id in ids]
        assert_polled_and_saved_once(simulator, short, downloads)
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
                # "Re-submit": the window sends the request and records the new job; the watch
                # polls it and saves its result, and the window's model shows the row move.
                seen: list[tuple[str, JobState]] = []

                def record(*_args: object) -> None:
                    seen.extend((j.id, j.state) for j in window.model.jobs() if j.id in new_ids())

                def new_ids() -> set[str]:
                    return {j.id for j in window.model.jobs()} - {*ids, removed, kept}

                window.model.dataChanged.connect(record)
                window.model.rowsInserted.connect(record)
                select(window, ids[1])
                window.commands.retry.trigger()
                await wait_for(new_ids, what="the re-submitted job in the window")
                (again,) = new_ids()

                def saved_in_the_model() -> bool:
                    row = window.model.row_of(again)
                    job = window.model.job_at(row) if row is not None else None
                    done = DownloadState.DONE
                    return job is not None and [r.download_state for r in job.results] == [done]

                await wait_for(saved_in_the_model, what="the window's row to show it saved")
                assert (again, JobState.SUCCEEDED) in seen
                assert seen[0][1] != JobState.SUCCEEDED, "the row changed state live"
                resaved = Path(engine.job(again).results[0].path or "")
                assert resaved.is_relative_to(downloads), "saved by the watch"
                assert engine.health.last_ok_at is None, "the window never polled"
                # "Remove" of a running job: the watch stops polling it (and goes on polling the
                # other running one).
                select(window, removed)
                window.commands.remove.trigger()
                answer(window)
                await wait_for(
                    lambda: (
                        window.model.row_of(removed) is None
                        and removed not in {j.id for j in stored_jobs(cli)}
                    ),
                    what="the job removed",
                )
                mark = {"removed": polls_of(removed), "kept": polls_of(kept)}

                def stopped_polling() -> bool:
                    now = polls_of(removed)
                    if now != mark["removed"]:  # polled since: start counting again
                        mark.update(removed=now, kept=polls_of(kept))
                    return polls_of(kept) - mark["kept"] >= 10

                await wait_for(stopped_polling, what="ten polls of the other job, none of it")
                return path

        path = qasync_loop.run_until_complete(scenario())
        # The window's Qt objects go now, on this thread, not in a later test's download thread
        # whenever the collector happens to run there.
        gc.collect()
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 130, (tmp_path / "watch.txt").read_text()  # Ctrl+C
    (job,) = [j for j in stored_jobs(cli) if j.id == ids[0]]
    assert [path.read_bytes()] == simulator.expected_results("vainu", job.remote_id or "")
    fetched = Counter(r.path for r in simulator.requests("storage") if r.method == "GET")
    # Each short job's file once, the deleted one again, the re-submitted job's once.
    assert sorted(fetched.values()) == [1] * len(ids) + [2], fetched
