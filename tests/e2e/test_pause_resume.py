"""Downloads the user holds in their hand: pause keeps the `.part` and asks the storage for no
more bytes, a resume asks with `Range` from the bytes written, cancel deletes the `.part` and
leaves the result pending and not fetched again unasked, a pause outlives a restart; the files
of one job come side by side within the limit of parallel downloads, each origin within its
own. In-process engines on a real SQLite file, the simulator's throttled storage on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from jobdock.core.download.partfile import part_path
from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, DownloadState, Job, Result, SubmitRequest
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.runtime import Runtime
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault

T = TypeVar("T")
SIZE = 2 * 1024 * 1024
RATE = 256 * 1024.0  # bytes a second: a download that lasts long enough to be paused


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


@asynccontextmanager
async def engine_on(
    sim: Simulator, tmp_path: Path, credentials: MemoryCredentialStore, **settings: object
) -> AsyncIterator[Engine]:
    async with Runtime.open(data_dir=tmp_path / "data", credentials=credentials) as runtime:
        engine = runtime.engine
        engine.configure(download_dir=tmp_path / "dl", **settings)
        for provider in ("vainu", "testo"):
            account = Account(
                name=provider,
                provider=provider,
                base_url=sim.base_url(provider),
                options={"poll_min": "0.05", "poll_max": "0.2"},
            )
            await engine.add_account(account, sim.secret(provider))
        yield engine


async def until(engine: Engine, predicate: Callable[[], bool]) -> None:
    """Wait for `predicate`, looking again after every update batch."""
    changed = asyncio.Event()

    def listener(_batch: UpdateBatch) -> None:
        changed.set()

    unsubscribe = engine.subscribe(listener)
    try:
        await engine.start()
        while not predicate():
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


async def server_idle(sim: Simulator) -> None:
    """Until the storage answers no request (bounded by the test's timeout)."""
    while sim.storage.in_flight:  # noqa: ASYNC110 - a condition on the server's threads
        await asyncio.sleep(0.02)


def big_request() -> SubmitRequest:
    return SubmitRequest(
        method="GET",
        path="companies/async/",
        params=(("async_format", "csv"), ("sim_size", str(SIZE))),
    )


def the_result(engine: Engine, job_id: str) -> Result:
    (result,) = engine.job(job_id).results
    return result


async def pause_midway(engine: Engine, sim: Simulator) -> Job:
    """Submit a one-file job, let its throttled download get going, pause it."""
    sim.storage.add_fault(StorageFault(rate=RATE, times=1))
    job = await engine.submit("vainu", big_request())

    def underway() -> bool:
        result = engine.job(job.id).results
        if not result or result[0].download_state != DownloadState.DOWNLOADING:
            return False
        path = result[0].path
        return bool(path) and part_path(Path(path or "")).exists() and sim.storage.in_flight > 0

    await until(engine, underway)
    path = part_path(Path(the_result(engine, job.id).path or ""))
    while path.stat().st_size == 0:  # noqa: ASYNC110 - written by the download's thread
        await asyncio.sleep(0.02)
    return await engine.pause_download(job.id)


def storage_ranges(sim: Simulator) -> list[str | None]:
    return [r.headers.get("range") for r in sim.requests("storage")]


def assert_saved(sim: Simulator, job: Job) -> None:
    (result,) = job.results
    assert result.download_state == DownloadState.DONE, result.error
    (expected,) = sim.expected_results("vainu", job.remote_id or "")
    path = Path(result.path or "")
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(expected).digest()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no .part left


async def nothing_more_asked(engine: Engine, sim: Simulator, job_id: str) -> None:
    """After a pause or cancel: the scheduler starts nothing for the job, and a poll of it
    (a round trip to the API, time for any stray download to show) asks the storage for
    nothing more."""
    asked = len(sim.requests("storage"))
    assert engine.transfers.schedule(engine.clock()) is None
    assert engine.transfers.tasks() == []
    await engine.refresh(job_id)
    assert engine.transfers.tasks() == []
    assert len(sim.requests("storage")) == asked
    assert sim.storage.in_flight == 0


def test_pause_keeps_the_part_and_resume_asks_with_range_from_its_bytes(
    simulator: Simulator, tmp_path: Path
) -> None:
    async def scenario() -> tuple[Job, Result, int, list[str | None]]:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            job = await pause_midway(engine, simulator)
            paused = the_result(engine, job.id)
            await server_idle(simulator)
            part = part_path(Path(paused.path or ""))
            size = part.stat().st_size
            await nothing_more_asked(engine, simulator, job.id)
            assert part.stat().st_size == size  # no byte written after the pause
            assert engine.all_settled([job.id])  # `watch --until-done` does not wait for it
            await engine.resume_download(job.id)
            await until(engine, lambda: the_result(engine, job.id).is_settled)
            return engine.job(job.id), paused, size, storage_ranges(simulator)

    job, paused, size, ranges = run(scenario())
    assert paused.download_state == DownloadState.PAUSED and paused.held
    assert 0 < size < SIZE and paused.bytes_done == size
    assert ranges == [None, f"bytes={size}-"]
    assert_saved(simulator, job)
    assert not job.results[0].held


def test_a_pause_outlives_a_restart_and_is_not_downloaded_unasked(
    simulator: Simulator, tmp_path: Path
) -> None:
    credentials = MemoryCredentialStore()

    async def first() -> tuple[str, int]:
        async with engine_on(simulator, tmp_path, credentials) as engine:
            job = await pause_midway(engine, simulator)
            await server_idle(simulator)
            return job.id, the_result(engine, job.id).bytes_done

    async def second(job_id: str) -> tuple[Result, Job]:
        async with engine_on(simulator, tmp_path, credentials) as engine:
            await engine.start()
            reloaded = the_result(engine, job_id)
            await nothing_more_asked(engine, simulator, job_id)
            await engine.resume_download(job_id)
            await until(engine, lambda: the_result(engine, job_id).is_settled)
            return reloaded, engine.job(job_id)

    job_id, written = run(first())
    reloaded, job = run(second(job_id))
    assert reloaded.download_state == DownloadState.PAUSED and reloaded.held
    assert reloaded.bytes_done == written > 0
    assert part_path(Path(reloaded.path or "")).parent == tmp_path / "dl" / "vainu" / job_id
    assert storage_ranges(simulator) == [None, f"bytes={written}-"]
    assert_saved(simulator, job)


def test_cancel_deletes_the_part_and_leaves_the_result_pending_until_asked(
    simulator: Simulator, tmp_path: Path
) -> None:
    async def scenario() -> tuple[Result, Path, Job, list[str | None]]:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            job = await pause_midway(engine, simulator)  # a paused one can be cancelled too
            part = part_path(Path(the_result(engine, job.id).path or ""))
            await engine.cancel_download(job.id)
            cancelled = the_result(engine, job.id)
            await server_idle(simulator)
            await nothing_more_asked(engine, simulator, job.id)
            assert engine.all_settled([job.id])
            done = await engine.download(job.id)  # the user asks: from the first byte
            return cancelled, part, done, storage_ranges(simulator)

    cancelled, part, job, ranges = run(scenario())
    assert cancelled.download_state == DownloadState.PENDING and cancelled.held
    assert cancelled.path is None and cancelled.bytes_done == 0
    assert not part.exists()
    assert ranges == [None, None]
    assert_saved(simulator, job)


def test_cancel_stops_a_running_download(simulator: Simulator, tmp_path: Path) -> None:
    async def scenario() -> tuple[Result, Path]:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            simulator.storage.add_fault(StorageFault(rate=RATE, times=1))
            job = await engine.submit("vainu", big_request())
            await until(
                engine,
                lambda: (
                    bool(engine.job(job.id).results)
                    and the_result(engine, job.id).download_state == DownloadState.DOWNLOADING
                    and bool(the_result(engine, job.id).path)
                ),
            )
            part = part_path(Path(the_result(engine, job.id).path or ""))
            await engine.cancel_download(job.id)
            await server_idle(simulator)
            await nothing_more_asked(engine, simulator, job.id)
            return the_result(engine, job.id), part

    cancelled, part = run(scenario())
    assert cancelled.download_state == DownloadState.PENDING and cancelled.held
    assert not part.exists() and not any(part.parent.iterdir())


@pytest.mark.parametrize(
    ("max_downloads", "max_per_origin", "peak"),
    [(2, 4, 2), (4, 1, 1)],
    ids=["limit-2", "origin-limit-1"],
)
def test_the_files_of_one_job_come_side_by_side_within_the_limit(
    simulator: Simulator, tmp_path: Path, max_downloads: int, max_per_origin: int, peak: int
) -> None:
    async def scenario() -> Job:
        async with engine_on(
            simulator,
            tmp_path,
            MemoryCredentialStore(),
            max_downloads=max_downloads,
            max_per_origin=max_per_origin,
        ) as engine:
            # Every file throttled: the downloads of a job overlap when they may.
            simulator.storage.add_fault(StorageFault(rate=RATE, times=100))
            request = engine.provider("testo").default_request()
            params = (("sim_files", "3"), ("sim_size", str(192 * 1024)))
            job = await engine.submit("testo", replace(request, params=params))
            await until(engine, lambda: engine.all_settled([job.id]))
            return engine.job(job.id)

    job = run(scenario())
    assert len(job.results) == 4
    assert all(r.download_state == DownloadState.DONE for r in job.results)
    assert simulator.storage.peak_in_flight == peak
    assert len(simulator.requests("storage")) == 4


def test_a_pause_wins_over_a_download_asked_for_before_it(
    simulator: Simulator, tmp_path: Path
) -> None:
    async def scenario() -> tuple[Job, Job, Result]:
        async with engine_on(
            simulator, tmp_path, MemoryCredentialStore(), auto_download=False
        ) as engine:
            simulator.storage.add_fault(StorageFault(rate=RATE, times=1))
            job = await engine.submit("vainu", big_request())
            await until(engine, lambda: bool(engine.job(job.id).results))
            first = asyncio.create_task(engine.download(job.id))
            await until(
                engine,
                lambda: the_result(engine, job.id).download_state == DownloadState.DOWNLOADING,
            )
            second = asyncio.create_task(engine.download(job.id))
            for _ in range(10):  # its turn on the loop: it now waits for the first
                await asyncio.sleep(0)
            await until(engine, lambda: simulator.storage.in_flight > 0)
            await engine.pause_download(job.id)
            done = await asyncio.gather(first, second)
            await server_idle(simulator)
            await nothing_more_asked(engine, simulator, job.id)
            return done[0], done[1], the_result(engine, job.id)

    first, second, result = run(scenario())
    assert result.download_state == DownloadState.PAUSED and result.held
    assert result.error is not None and "paused" in result.error
    assert first.results[0].download_state == DownloadState.PAUSED
    assert second.results[0].download_state == DownloadState.PAUSED
    assert len(simulator.requests("storage")) == 1
