"""The engine under a wrong or moving wall clock. Polling waits on the monotonic clock, so a
wall-clock step backwards (or a stored poll time from a clock set back since) does not stop it
(scripted fake API); a link's expiry is a hint moved onto the local clock by the API's `Date`,
and a link is tried before it counts as expired (the simulator's real origins)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TypeVar

import httpx

from jobdock.core.engine.engine import Engine
from jobdock.core.engine.expiry import ClockSkew
from jobdock.core.model.job import Account, DownloadState, Job, JobState, SubmitRequest, utcnow
from jobdock.core.model.paths import AppPaths
from jobdock.core.net.http import parse_retry_after
from jobdock.core.providers.base import RemoteStatus, ResultLink
from jobdock.core.providers.shoptet.quota import DATE_SLACK, retry_instant
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import SimConfig, Simulator
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


# A skewed clock and link expiry ------------------------------------------------------------
@asynccontextmanager
async def vainu_engine(sim: Simulator, tmp_path: Path, clock: WallClock) -> AsyncIterator[Engine]:
    """An engine on the simulator's real HTTP origins, reading `clock` as its wall clock."""
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    engine = Engine(store=store, credentials=MemoryCredentialStore(), paths=paths, clock=clock)
    account = Account(
        name="acc",
        provider="vainu",
        base_url=sim.base_url("vainu"),
        options={"poll_min": "0.05", "poll_max": "0.3"},
    )
    await engine.add_account(account, sim.secret("vainu"))
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()


def vainu_job(size: int = 4096) -> SubmitRequest:
    return SubmitRequest(
        path="companies/async/", params=(("async_format", "csv"), ("sim_size", str(size)))
    )


def settle_vainu(sim: Simulator, tmp_path: Path, clock: WallClock) -> tuple[Job, list[str]]:
    async def scenario() -> tuple[Job, list[str]]:
        async with vainu_engine(sim, tmp_path, clock) as engine:
            job = await engine.submit("acc", vainu_job())
            await engine.start()
            await until(engine, lambda: engine.all_settled([job.id]))
            return engine.job(job.id), [e.kind for e in engine.events(job.id)]

    return run(scenario())


def assert_saved(sim: Simulator, job: Job) -> None:
    (result,) = job.results
    assert result.download_state == DownloadState.DONE, result.error
    (expected,) = sim.expected_results("vainu", job.remote_id or "")
    assert Path(result.path or "").read_bytes() == expected


def test_local_clock_two_hours_ahead_of_the_signer_saves_the_result(tmp_path: Path) -> None:
    clock = WallClock()
    clock.offset = timedelta(hours=2)
    with Simulator(SimConfig(queue_time=0.05, run_time=0.1)) as sim:
        job, kinds = settle_vainu(sim, tmp_path, clock)
        assert_saved(sim, job)
        assert "link-refresh" not in kinds  # the link was never taken for expired
        # its expiry is shown on the local clock: the signed 600 s from now, not 2 h ago
        expires = job.results[0].expires_at
        assert expires is not None
        assert timedelta(minutes=5) < expires - clock() <= timedelta(seconds=600 + 5)


def test_a_link_that_looks_expired_is_tried_before_it_counts_as_expired(tmp_path: Path) -> None:
    # The API's clock (its Date header) agrees with ours but it signs with a clock two hours
    # slow, which its storage shares: by the signature every link expired long ago, yet the
    # storage serves it.
    slow = lambda: time.time() - 7200  # noqa: E731
    with Simulator(SimConfig(queue_time=0.05, run_time=0.1, clock=slow)) as sim:
        job, kinds = settle_vainu(sim, tmp_path, WallClock())
        assert_saved(sim, job)
        assert "download-expired" not in kinds
        assert [r.status for r in sim.requests("storage")] == [200]


def test_retry_after_date_is_measured_from_the_answers_date() -> None:
    sent = utcnow() - timedelta(hours=2)  # a server two hours behind us
    headers = httpx.Headers(
        {"Date": format_datetime(sent, usegmt=True),
         "Retry-After": format_datetime(sent + timedelta(seconds=30), usegmt=True)}
    )  # fmt: skip
    assert parse_retry_after(headers) == 30.0
    now = time.time()
    until_at = retry_instant(headers["retry-after"], now=now, server_now=sent.timestamp())
    assert 30.0 <= until_at - now <= 30.0 + DATE_SLACK + 1


def test_clock_skew_is_kept_per_origin() -> None:
    skew = ClockSkew()
    local = utcnow()

    def answer(url: str, server: datetime) -> httpx.Response:
        headers = {"Date": format_datetime(server, usegmt=True)}
        return httpx.Response(200, headers=headers, request=httpx.Request("GET", url))

    skew.observe(answer("https://api.test/x", local - timedelta(hours=2)), local_now=local)
    skew.observe(answer("https://store.test/o", local + timedelta(seconds=1)), local_now=local)
    api_offset = skew.offset("https://api.test")
    assert api_offset is not None and abs(api_offset + timedelta(hours=2)) < timedelta(seconds=2)
    assert skew.offset("https://store.test") == timedelta(0)  # a second is noise
    assert skew.offset("https://other.test") is None
    cached = answer("https://cache.test/x", local - timedelta(minutes=5))
    cached.headers["Age"] = "300"  # a cache's copy, five minutes old
    skew.observe(cached, local_now=local)
    assert skew.offset("https://cache.test") == timedelta(0)
    signed = local - timedelta(hours=2) + timedelta(minutes=10)  # on the API's clock
    status = RemoteStatus(
        state=JobState.SUCCEEDED,
        remote_state="done",
        results=(
            ResultLink(url="https://cdn.test/a", expires_at=signed),
            ResultLink(url="https://store.test/b", expires_at=signed),
        ),
    )
    a, b = skew.localize(status, api_origin="https://api.test").results
    assert a.expires_at is not None and b.expires_at == signed
    assert abs(a.expires_at - (local + timedelta(minutes=10))) < timedelta(seconds=2)
