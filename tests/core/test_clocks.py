"""The engine under a wrong or moving wall clock (scripted fake API): polling waits on the
monotonic clock, so a wall-clock step backwards (or a stored poll time from a clock set back
since) does not stop it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from jobdock.core.credentials import MemoryCredentialStore
from jobdock.core.engine import Engine
from jobdock.core.job import Account, DownloadState, JobState, utcnow
from jobdock.core.paths import AppPaths
from jobdock.core.store import JobStore
from tests.core.fakeapi import API, SECRET, FakeApi, FakeProvider

T = TypeVar("T")


class WallClock:
    """The wall clock as the engine reads it: the real one plus an offset a test can step."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def run(coro: Awaitable[T], timeout: float = 15.0) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


@asynccontextmanager
async def engine_for(api: FakeApi, tmp_path: Path, clock: WallClock) -> AsyncIterator[Engine]:
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    engine = Engine(
        store=store,
        credentials=MemoryCredentialStore(),
        paths=paths,
        providers={"fake": FakeProvider()},
        transport=api.transport(),
        clock=clock,
    )
    await engine.add_account(Account(name="acc", provider="fake", base_url=API), SECRET)
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()


async def until(engine: Engine, predicate: Callable[[], bool]) -> None:
    changed = asyncio.Event()
    unsubscribe = engine.subscribe(lambda _batch: changed.set())
    try:
        while not predicate():
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


def test_wall_clock_stepped_back_while_running_does_not_stop_polling(tmp_path: Path) -> None:
    api = FakeApi(polls_until_done=4)
    clock = WallClock()

    async def scenario() -> None:
        async with engine_for(api, tmp_path, clock) as engine:
            job = await engine.submit("acc", FakeProvider().default_request())
            await engine.start()
            await until(engine, lambda: api.jobs.get(job.remote_id or "", 0) >= 1)
            clock.offset = -timedelta(hours=2)  # NTP, or a user, sets the clock back
            await until(engine, lambda: engine.all_settled([job.id]))
            done = engine.job(job.id)
            assert done.state == JobState.SUCCEEDED
            assert done.results[0].download_state == DownloadState.DONE
            assert api.jobs[job.remote_id or ""] >= 4

    run(scenario())


def test_stored_poll_time_from_a_clock_set_back_since_is_not_waited_for(tmp_path: Path) -> None:
    api = FakeApi(polls_until_done=2)
    clock = WallClock()
    clock.offset = timedelta(hours=2)

    async def first() -> str:
        async with engine_for(api, tmp_path, clock) as engine:
            job = await engine.submit("acc", FakeProvider().default_request())
            return job.id

    async def second(job_id: str) -> None:
        async with engine_for(api, tmp_path, clock) as engine:
            await engine.start()
            await until(engine, lambda: engine.all_settled([job_id]))
            assert engine.job(job_id).state == JobState.SUCCEEDED

    job_id = run(first())  # next poll stored as "in 10 ms" by a clock 2 h ahead...
    clock.offset = timedelta(0)  # ...which is set right before the next start
    run(second(job_id))


def test_next_poll_shown_in_wall_time(tmp_path: Path) -> None:
    api = FakeApi(polls_until_done=50)
    clock = WallClock()
    clock.offset = timedelta(hours=2)

    async def scenario() -> None:
        async with engine_for(api, tmp_path, clock) as engine:
            await engine.submit("acc", FakeProvider().default_request())
            await engine.start()
            await until(engine, lambda: engine.health.next_poll_at is not None)
            shown = engine.health.next_poll_at
            assert shown is not None and abs(shown - clock()) < timedelta(minutes=1)

    run(scenario())
