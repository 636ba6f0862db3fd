"""One engine per data dir: the worker lease in the store, compare-and-set row writes, and actions
handed to the worker, with real SQLite files and one connection per would-be process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from jobdock.core.engine.lease import Lease
from jobdock.core.model.job import DownloadState, Job, JobState, Result, utcnow
from jobdock.core.store.jobs import JobStore
from tests.core.engine.test_engine import run, until
from tests.core.fakeapi import FakeApi, FakeProvider
from tests.core.store.test_shared_store import two_engines


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_renews_the_other_waits_then_takes_an_expired_lease(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    first_store, second_store = JobStore.open(path), JobStore.open(path)
    clock = Clock()
    first = Lease(first_store, monotonic=clock)
    second = Lease(second_store, monotonic=clock)
    try:
        assert first.tick() is True
        assert second.tick() is False
        holder = second.holder()
        assert holder is not None and holder.holder == first.id and holder.pid == first.pid
        clock.now += 4.0
        assert first.tick() is True, "renewed: its beats moved"
        clock.now += 4.0
        assert second.tick() is False, "it sees the beats moved: not expired"
        clock.now += 4.9
        assert second.tick() is False, "4.9 s since it saw them move: not yet"
        clock.now += 0.2  # the first stopped renewing (killed, or frozen) over 5 s ago
        assert second.tick() is True
        assert second.holder().holder == second.id  # type: ignore[union-attr]
        assert first.tick() is False, "the old holder finds the lease taken and steps down"
        second.release()
        assert first.tick() is True, "a released lease is taken at once"
    finally:
        first_store.close()
        second_store.close()


def test_a_lease_left_by_a_dead_process_on_this_host_is_taken_at_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    stores = JobStore.open(path), JobStore.open(path)
    past = utcnow() - timedelta(seconds=30)
    dead = Lease(stores[0], wall=lambda: past)
    try:
        assert dead.tick() is True  # its last heartbeat: 30 s ago
        newcomer = Lease(stores[1])
        assert newcomer.live_holder() is None
        assert newcomer.tick() is True
    finally:
        for store in stores:
            store.close()


def test_a_lease_whose_process_was_killed_just_now_is_taken_without_waiting_out_the_expiry(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    stores = JobStore.open(path), JobStore.open(path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process now
    three_s_ago = utcnow() - timedelta(seconds=3)
    try:
        killed = Lease(stores[0], wall=lambda: three_s_ago)
        killed.pid = gone.pid
        assert killed.tick() is True
        assert Lease(stores[1]).tick() is True, "its process is gone and it is 3 s late"
    finally:
        for store in stores:
            store.close()


def test_a_late_lease_of_a_live_process_or_a_just_renewed_one_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for pid, late in ((os.getpid(), 3.0), (gone.pid, 1.0)):
        stores = JobStore.open(path), JobStore.open(path)
        renewed = utcnow() - timedelta(seconds=late)
        try:
            holder = Lease(stores[0], wall=lambda renewed=renewed: renewed)
            holder.pid = pid
            assert holder.tick() is True
            assert Lease(stores[1]).tick() is False, f"pid {pid}, {late} s late: still its lease"
            holder.release()
        finally:
            for store in stores:
                store.close()


def test_the_holder_says_with_every_renewal_whether_it_downloads_automatically(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    stores = JobStore.open(path), JobStore.open(path)
    downloads = False
    holder = Lease(stores[0], downloads=lambda: downloads)
    other = Lease(stores[1])
    try:
        assert holder.tick() is True
        assert other.live_holder().downloads is False  # type: ignore[union-attr]
        assert other.holder().to_json()["auto_download"] is False  # type: ignore[union-attr]
        downloads = True  # changed in the settings while it holds the lease
        assert holder.tick() is True
        assert other.live_holder().downloads is True  # type: ignore[union-attr]
    finally:
        for store in stores:
            store.close()


def _job(**changes: object) -> Job:
    now = utcnow()
    job = Job(
        id="j1", account="acc", provider="fake", label="first", remote_id="r1",
        state=JobState.RUNNING, submitted_at=now, updated_at=now,
        results=(Result(url="https://s/1"),),
    )  # fmt: skip
    return job.replace(**changes)


def test_a_stale_write_never_overwrites_a_newer_row(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    fresh, stale = JobStore.open(path), JobStore.open(path)
    try:
        base = _job()
        fresh.put_jobs([base], bases={base.id: None})
        # Both processes read version `base`; the fresh one writes first.
        newer = base.replace(
            label="renamed", state=JobState.SUCCEEDED,
            results=(Result(url="https://s/1", download_state=DownloadState.DONE, path="/f"),),
            updated_at=base.updated_at + timedelta(seconds=1),
        )  # fmt: skip
        assert fresh.put_jobs([newer], bases={base.id: base}) == {base.id: newer}
        # The stale one writes what it made of `base`: its label and state lose, its new
        # `error` (a field the other left alone) is kept.
        mine = base.replace(
            label="stale", state=JobState.RUNNING, error="slow answer",
            results=(Result(url="https://s/1", download_state=DownloadState.DOWNLOADING),),
            updated_at=base.updated_at + timedelta(seconds=2),
        )  # fmt: skip
        written = stale.put_jobs([mine], bases={base.id: base})[base.id]
        stored = fresh.get_job(base.id)
        assert written == stored
        assert stored.label == "renamed" and stored.state == JobState.SUCCEEDED
        assert stored.results[0].download_state == DownloadState.DONE
        assert stored.results[0].path == "/f"
        assert stored.error == "slow answer"
        assert stored.updated_at > newer.updated_at
        # A write without a base that is older than the row is dropped.
        old = base.replace(label="old", updated_at=base.updated_at - timedelta(days=1))
        assert stale.put_jobs([old])[base.id] == stored
        assert fresh.get_job(base.id).label == "renamed"
        # A row removed meanwhile stays removed.
        fresh.remove_job(base.id)
        assert stale.put_jobs([stored.replace(label="back")], bases={base.id: stored}) == {
            base.id: None
        }
        assert fresh.list_jobs() == []
    finally:
        fresh.close()
        stale.close()


def test_only_one_started_engine_is_the_worker_and_the_other_takes_over(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with two_engines(api, tmp_path) as (first, second):
            await first.start()
            await second.start()
            assert first.worker.holds and not second.worker.holds
            status = second.worker.status()
            assert status["is_worker"] is False
            assert status["worker"] == first.worker.lease.holder().to_json()  # type: ignore[union-attr]
            job = await second.submit("acc", FakeProvider().default_request())
            await until(second, lambda: second.all_settled([job.id]))
            saved = second.job(job.id)
            assert saved.results[0].download_state == DownloadState.DONE
            polls = [r for _, r in api.requests if r.url.path.endswith(f"/{job.remote_id}")]
            assert len(polls) == saved.polls, "every poll was made once, by the worker"
            took_over = asyncio.Event()
            second.worker.on_change = lambda holds: took_over.set() if holds else None
            await first.aclose()  # releases the lease
            async with asyncio.timeout(10):
                await took_over.wait()
            assert second.worker.holds

    run(scenario())


def test_download_and_refresh_from_a_follower_are_done_by_the_worker(tmp_path: Path) -> None:
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
            # Settled as the worker, which downloads nothing by itself, has it; not by the
            # window's own setting.
            window.configure(auto_download=True)
            assert window.downloads_automatically() is False
            assert window.all_settled([job.id])
            window.configure(auto_download=False)
            before = len(api.requests)
            refreshed = await window.refresh(job.id)
            assert refreshed.polls == window.job(job.id).polls
            assert len(api.requests) == before + 1, "one poll"
            assert window.health.last_ok_at is None, "the window itself never polled"
            saved = await window.download(job.id)
            assert saved.results[0].download_state == DownloadState.DONE
            assert Path(saved.results[0].path or "").read_bytes() == api.body
            assert worker.job(job.id).results[0].download_state == DownloadState.DONE
            assert worker.store.rows("SELECT COUNT(*) FROM commands") == [(0,)]

    run(scenario())
