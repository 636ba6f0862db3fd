"""Pause, resume and cancel asked in a process that is not the data dir's worker (the window
beside a `watch`): handed to the worker through the commands table, done there, and seen by the
asking process when its call returns. Real SQLite file, two engines, a fake API."""

from __future__ import annotations

from pathlib import Path

from jobdock.core.model.job import DownloadState, JobState
from tests.core.engine.test_engine import run, until
from tests.core.fakeapi import FakeApi, FakeProvider
from tests.core.store.test_shared_store import two_engines


def test_pause_resume_and_cancel_from_a_follower_are_done_by_the_worker(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with two_engines(api, tmp_path) as (worker, window):
            worker.configure(auto_download=False)
            window.configure(auto_download=False)
            await worker.start()
            await window.start()
            assert worker.worker.holds and not window.worker.holds
            job = await window.submit("acc", FakeProvider().default_request())
            await until(window, lambda: window.job(job.id).state == JobState.SUCCEEDED)

            paused = await window.pause_download(job.id)
            (result,) = paused.results
            assert result.download_state == DownloadState.PAUSED and result.held
            assert worker.job(job.id).results[0].download_state == DownloadState.PAUSED

            await window.resume_download(job.id)
            await until(
                window, lambda: window.job(job.id).results[0].download_state == DownloadState.DONE
            )
            saved = window.job(job.id).results[0]
            assert not saved.held and Path(saved.path or "").read_bytes() == api.body

            other = await window.submit("acc", FakeProvider().default_request())
            await until(window, lambda: window.job(other.id).state == JobState.SUCCEEDED)
            cancelled = (await window.cancel_download(other.id)).results[0]
            assert cancelled.download_state == DownloadState.PENDING and cancelled.held
            assert worker.job(other.id).results[0].held
            assert window.all_settled([other.id])

            assert window.transfers.tasks() == [] and not window.transfers._tried
            assert worker.store.rows("SELECT COUNT(*) FROM commands") == [(0,)]

    run(scenario())
