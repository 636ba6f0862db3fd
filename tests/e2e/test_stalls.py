"""Peers that trickle or stall: a download below the minimum speed, or silent after its headers,
is dropped and resumed with `Range` from every byte already written; a status answer that stalls
ends at the request deadline and does not hold up the other jobs of its origin. In-process
engine, the simulator on 127.0.0.1, settings shrunk so the windows are short."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, DownloadState, Job, JobState, SubmitRequest
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.runtime import Runtime
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StallFault, StorageFault

T = TypeVar("T")
SIZE = 3 * 1024 * 1024  # more than one 1 MiB read buffer: a lost buffer would show
FAST = {"min_speed": 64 * 1024.0, "min_speed_window": 0.5, "request_deadline": 0.5}


def run(coro: Awaitable[T], timeout: float = 40.0) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


def request(size: int = SIZE) -> SubmitRequest:
    return SubmitRequest(
        method="GET",
        path="companies/async/",
        params=(("async_format", "csv"), ("sim_size", str(size))),
    )


@asynccontextmanager
async def engine_on(sim: Simulator, tmp_path: Path, **settings: object) -> AsyncIterator[Engine]:
    async with Runtime.open(
        data_dir=tmp_path / "data", credentials=MemoryCredentialStore()
    ) as runtime:
        engine = runtime.engine
        engine.configure(download_dir=tmp_path / "dl", **settings)
        account = Account(
            name="acc",
            provider="vainu",
            base_url=sim.base_url("vainu"),
            options={"poll_min": "0.05", "poll_max": "0.2"},
        )
        await engine.add_account(account, sim.secret("vainu"))
        yield engine


async def until(engine: Engine, predicate: Callable[[], bool]) -> None:
    changed = asyncio.Event()
    unsubscribe = engine.subscribe(lambda _batch: changed.set())
    try:
        await engine.start()
        while not predicate():
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


def saved_right(sim: Simulator, job: Job) -> None:
    (result,) = job.results
    assert result.download_state == DownloadState.DONE, result.error
    (expected,) = sim.expected_results("vainu", job.remote_id or "")
    path = Path(result.path or "")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no .part left


def resumed_from(sim: Simulator) -> list[int | None]:
    """The first byte each storage request asked for (None: the whole object)."""
    ranges = [r.headers.get("range") for r in sim.requests("storage")]
    return [int(r.removeprefix("bytes=").rstrip("-")) if r else None for r in ranges]


async def fetch(engine: Engine) -> Job:
    job = await engine.submit("acc", request())
    await until(engine, lambda: engine.all_settled([job.id]))
    return engine.job(job.id)


def test_a_trickling_download_is_dropped_and_resumed_from_the_bytes_written(
    simulator: Simulator, tmp_path: Path
) -> None:
    # Half the object at full speed, then 200 bytes a second: every read returns in time, so
    # only the minimum-speed rule can end it.
    simulator.storage.add_fault(StorageFault(trickle=200, trickle_at=0.5))

    async def scenario() -> tuple[Job, list[str]]:
        async with engine_on(simulator, tmp_path, **FAST) as engine:
            job = await fetch(engine)
            return job, [e.message for e in engine.events(job.id) if e.kind == "download-retry"]

    job, retries = run(scenario())
    saved_right(simulator, job)
    first, resume = resumed_from(simulator)
    assert first is None and resume is not None
    # Every byte that reached the .part stays: the resume starts past the fast half, not at
    # the last full read buffer before it.
    assert SIZE // 2 <= resume < SIZE
    assert len(retries) == 1 and "too slow" in retries[0]


@pytest.mark.parametrize("stall_at", [0.0, 0.5], ids=["after-headers", "after-half"])
def test_a_download_that_stalls_after_the_headers_is_resumed(
    simulator: Simulator, tmp_path: Path, stall_at: float
) -> None:
    simulator.storage.add_fault(StorageFault(stall_at=stall_at))

    async def scenario() -> tuple[Job, list[str]]:
        async with engine_on(simulator, tmp_path, **FAST) as engine:
            job = await fetch(engine)
            return job, [e.message for e in engine.events(job.id) if e.kind == "download-retry"]

    job, retries = run(scenario())
    saved_right(simulator, job)
    first, resume = resumed_from(simulator)
    assert first is None
    if stall_at:
        assert resume is not None and int(stall_at * SIZE) <= resume < SIZE
    assert len(retries) == 1 and "stalled" in retries[0]


def test_a_stalled_poll_does_not_hold_up_the_other_jobs_of_its_origin(
    simulator: Simulator, tmp_path: Path
) -> None:
    # One poll at a time for the origin: without a deadline the stalled answer would hold
    # that one slot for ever.
    settings = {**FAST, "max_per_origin": 1}

    async def scenario() -> tuple[Job, list[Job]]:
        async with engine_on(simulator, tmp_path, **settings) as engine:
            stuck = await engine.submit("acc", request(4096))
            path = f"/api/v2/companies/async/{stuck.remote_id}/"
            simulator.add_fault("vainu", StallFault(after=10, times=10_000, path_prefix=path))
            others = [await engine.submit("acc", request(4096)) for _ in range(2)]
            ids = [j.id for j in others]
            await until(engine, lambda: engine.all_settled(ids))
            return engine.job(stuck.id), [engine.job(i) for i in ids]

    stuck, others = run(scenario())
    for job in others:
        assert job.state == JobState.SUCCEEDED
        saved_right(simulator, job)
    assert not stuck.state.is_terminal
    assert "no complete answer within 0.5 s" in (stuck.error or "")
    polls = [r for r in simulator.requests("vainu") if r.path.endswith(f"/{stuck.remote_id}/")]
    assert polls and all(r.status == 200 for r in polls)  # answers that began, then stalled
