"""Pause, resume and cancel asked in a process that is not the data dir's worker (the window
beside a `watch`): handed to the worker through the commands table, done there, and seen by the
asking process when its call returns. Real SQLite file, two engines, a fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_one_file_paused_resumed_cancelled_and_downloaded_from_a_follower(tmp_path: Path) -> None:
    """The per-file forms travel as commands of their own (`key`: the file's identity), and
    the worker does them to that file."""
    api = FakeApi()
    other = tmp_path / "elsewhere"

    async def scenario() -> None:
        async with two_engines(api, tmp_path) as (worker, window):
            worker.configure(auto_download=False)
            window.configure(auto_download=False)
            await worker.start()
            await window.start()
            job = await window.submit("acc", FakeProvider().default_request())
            await until(window, lambda: window.job(job.id).state == JobState.SUCCEEDED)
            kinds: list[str] = []
            post = window.commands.post

            def spy(kind: str, job_id: str, **args: object) -> int:
                kinds.append(kind)
                return post(kind, job_id, **args)

            window.commands.post = spy  # type: ignore[method-assign]

            (paused,) = (await window.pause_download(job.id, index=0)).results
            assert paused.download_state == DownloadState.PAUSED and paused.held
            assert worker.job(job.id).results[0].held
            await window.resume_download(job.id, key=paused.key)
            await until(
                window, lambda: window.job(job.id).results[0].download_state == DownloadState.DONE
            )

            second = await window.submit("acc", FakeProvider().default_request())
            await until(window, lambda: window.job(second.id).state == JobState.SUCCEEDED)
            (cancelled,) = (await window.cancel_download(second.id, index=0)).results
            assert cancelled.download_state == DownloadState.PENDING and cancelled.held
            (saved,) = (await window.download(second.id, index=0, to=other)).results
            assert saved.download_state == DownloadState.DONE and not saved.held
            assert Path(saved.path or "").parent == other
            assert Path(saved.path or "").read_bytes() == api.body

            assert kinds == ["pause-file", "resume-file", "cancel-file", "download-file"]
            assert window.transfers.tasks() == []
            assert worker.store.rows("SELECT COUNT(*) FROM commands") == [(0,)]

    run(scenario())


def test_a_file_is_named_by_its_index_or_its_key_not_both(tmp_path: Path) -> None:
    from jobdock.core.model.errors import UsageError

    api = FakeApi()

    async def scenario() -> None:
        async with two_engines(api, tmp_path) as (engine, _other):
            engine.configure(auto_download=False)
            await engine.start()
            job = await engine.submit("acc", FakeProvider().default_request())
            await until(engine, lambda: engine.job(job.id).state == JobState.SUCCEEDED)
            key = engine.job(job.id).results[0].key
            with pytest.raises(UsageError, match="not both"):
                await engine.pause_download(job.id, index=0, key=key)
            with pytest.raises(UsageError, match="has 1 result file"):
                await engine.resume_download(job.id, index=3)
            with pytest.raises(UsageError, match="has 1 result file"):
                await engine.cancel_download(job.id, index=-1)
            # Nothing under way in another file: a file's pause touches only its own.
            (paused,) = (await engine.pause_download(job.id, key=key)).results
            assert paused.download_state == DownloadState.PAUSED
            kinds = [e.kind for e in engine.events(job.id)]
            assert "download-paused" in kinds
            assert "file 1" in engine.events(job.id)[-1].message

    run(scenario())
