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
from urllib.parse import urlsplit

import pytest

from jobdock.core.download.partfile import part_path
from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, DownloadState, Job, Result, SubmitRequest
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.runtime import Runtime
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli, add_account

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


# One file of a job --------------------------------------------------------------------------
def two_big_files(engine: Engine) -> SubmitRequest:
    request = engine.provider("testo").default_request()
    return replace(request, params=(("sim_files", "2"), ("sim_size", str(SIZE))))


def path_of(result: Result) -> str:
    """The storage path a result's link names (what its requests are recorded under)."""
    return urlsplit(result.url).path


async def one_file_midway(engine: Engine, sim: Simulator) -> tuple[Job, int]:
    """Submit a job of several files, every one throttled; once one of the big ones has bytes
    in its `.part`, return the job and that file's index."""
    sim.storage.add_fault(StorageFault(rate=RATE, times=100))
    job = await engine.submit("testo", two_big_files(engine))

    def writing() -> int | None:
        for index, result in enumerate(engine.job(job.id).results):
            if result.download_state == DownloadState.DOWNLOADING and result.path:
                part = part_path(Path(result.path))
                if (result.bytes or 0) >= SIZE and part.exists() and part.stat().st_size > 0:
                    return index
        return None

    await until(engine, lambda: writing() is not None)
    index = writing()
    assert index is not None
    return engine.job(job.id), index


def ranges_of(sim: Simulator, result: Result) -> list[str | None]:
    return [r.headers.get("range") for r in sim.requests("storage") if r.path == path_of(result)]


def test_one_file_paused_keeps_its_part_while_the_others_are_saved_then_resumes_with_range(
    simulator: Simulator, tmp_path: Path
) -> None:
    async def scenario() -> tuple[Job, Result, int, Job]:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            job, index = await one_file_midway(engine, simulator)
            await engine.pause_download(job.id, index=index)
            paused = engine.job(job.id).results[index]
            size = part_path(Path(paused.path or "")).stat().st_size

            def others_saved() -> bool:
                results = engine.job(job.id).results
                return all(r.download_state == DownloadState.DONE
                           for n, r in enumerate(results) if n != index)  # fmt: skip

            await until(engine, others_saved)
            await server_idle(simulator)
            middle = engine.job(job.id)
            assert part_path(Path(paused.path or "")).stat().st_size == size
            assert engine.all_settled([job.id])  # held: nothing to wait for unasked
            await engine.resume_download(job.id, index=index)
            await until(engine, lambda: engine.job(job.id).is_settled)
            return middle, paused, size, engine.job(job.id)

    middle, paused, size, job = run(scenario())
    index = [r.key for r in job.results].index(paused.key)
    assert paused.download_state == DownloadState.PAUSED and paused.held
    assert 0 < size and paused.bytes_done == size
    assert middle.results[index].download_state == DownloadState.PAUSED
    assert ranges_of(simulator, paused) == [None, f"bytes={size}-"]
    expected = simulator.expected_results("testo", job.remote_id or "")
    saved = sorted(hashlib.sha256(Path(r.path or "").read_bytes()).digest() for r in job.results)
    assert saved == sorted(hashlib.sha256(body).digest() for body in expected)
    assert all(r.download_state == DownloadState.DONE and not r.held for r in job.results)
    folder = Path(job.results[0].path or "").parent
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
    others = [r for n, r in enumerate(job.results) if n != index]
    assert all(ranges_of(simulator, r) == [None] for r in others)  # never stopped


def test_one_file_cancelled_loses_its_part_and_waits_while_the_others_are_saved(
    simulator: Simulator, tmp_path: Path
) -> None:
    async def scenario() -> tuple[Result, Path, Job, Job]:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            job, index = await one_file_midway(engine, simulator)
            part = part_path(Path(engine.job(job.id).results[index].path or ""))
            await engine.cancel_download(job.id, index=index)
            cancelled = engine.job(job.id).results[index]

            def others_settled() -> bool:
                results = engine.job(job.id).results
                return all(r.is_settled for r in results)

            await until(engine, others_settled)
            await server_idle(simulator)
            before = engine.job(job.id)
            done = await engine.download(job.id, index=index)  # asked: from the first byte
            return cancelled, part, before, done

    cancelled, part, before, job = run(scenario())
    assert cancelled.download_state == DownloadState.PENDING and cancelled.held
    assert cancelled.path is None and not part.exists()
    index = [r.key for r in before.results].index(cancelled.key)
    assert before.results[index].download_state == DownloadState.PENDING
    assert all(r.download_state == DownloadState.DONE
               for n, r in enumerate(before.results) if n != index)  # fmt: skip
    assert ranges_of(simulator, cancelled) == [None, None]
    assert all(r.download_state == DownloadState.DONE for r in job.results)


def test_a_file_index_the_job_does_not_have_is_a_usage_error(
    simulator: Simulator, tmp_path: Path
) -> None:
    from jobdock.core.model.errors import UsageError

    async def scenario() -> None:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            job = await engine.submit("vainu", big_request())
            await until(engine, lambda: engine.job(job.id).is_settled)
            for call in (engine.pause_download, engine.resume_download, engine.cancel_download,
                         engine.download):  # fmt: skip
                with pytest.raises(UsageError, match="there is no file 2"):
                    await call(job.id, index=1)
            with pytest.raises(UsageError, match="lists no result file"):
                await engine.pause_download(job.id, key="nothing-like-it")

    run(scenario())


# A download asked into another folder ---------------------------------------------------------
def test_a_paused_download_asked_into_another_folder_moves_its_part_and_resumes_there(
    simulator: Simulator, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()

    async def scenario() -> tuple[Result, int, Job, list[str]]:
        async with engine_on(simulator, tmp_path, MemoryCredentialStore()) as engine:
            job = await pause_midway(engine, simulator)
            paused = the_result(engine, job.id)
            await server_idle(simulator)
            size = part_path(Path(paused.path or "")).stat().st_size
            # A file of that name is there already: it is neither replaced nor resumed into.
            (other / Path(paused.path or "").name).write_bytes(b"the user's own file\n")
            done = await engine.download(job.id, to=other)
            events = [e.kind for e in engine.events(job.id)]
            return paused, size, done, events

    paused, size, job, events = run(scenario())
    old = Path(paused.path or "")
    assert not part_path(old).exists() and not any(old.parent.iterdir())  # nothing left behind
    assert storage_ranges(simulator) == [None, f"bytes={size}-"]
    (result,) = job.results
    assert result.download_state == DownloadState.DONE and not result.held, result.error
    saved = Path(result.path or "")
    assert saved.parent == other and saved.name != old.name  # numbered: `… (2).csv`
    assert (other / old.name).read_bytes() == b"the user's own file\n"
    (expected,) = simulator.expected_results("vainu", job.remote_id or "")
    assert saved.read_bytes() == expected
    assert sorted(p.name for p in other.iterdir()) == sorted([old.name, saved.name])
    assert "download-moved" in events


def test_a_file_resumed_without_a_folder_goes_on_where_its_part_is(
    simulator: Simulator, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"

    async def scenario() -> tuple[Result, int, Job]:
        async with engine_on(
            simulator, tmp_path, MemoryCredentialStore(), auto_download=False
        ) as engine:
            simulator.storage.add_fault(StorageFault(rate=RATE, times=1))
            job = await engine.submit("vainu", big_request())
            await until(engine, lambda: bool(engine.job(job.id).results))
            asked = asyncio.create_task(engine.download(job.id, to=other))

            def writing() -> bool:
                result = the_result(engine, job.id)
                part = part_path(Path(result.path or "/nowhere"))
                return part.exists() and part.stat().st_size > 0

            await until(engine, writing)
            await engine.pause_download(job.id)
            await asked
            await server_idle(simulator)
            paused = the_result(engine, job.id)
            size = part_path(Path(paused.path or "")).stat().st_size
            await engine.resume_download(job.id)
            await until(engine, lambda: the_result(engine, job.id).is_settled)
            return paused, size, engine.job(job.id)

    paused, size, job = run(scenario())
    assert Path(paused.path or "").parent == other
    assert storage_ranges(simulator) == [None, f"bytes={size}-"]
    (result,) = job.results
    assert result.download_state == DownloadState.DONE, result.error
    assert Path(result.path or "").parent == other
    assert not (tmp_path / "dl").exists() or not any((tmp_path / "dl").rglob("*.part"))
    assert [p.name for p in other.iterdir()] == [Path(result.path or "").name]


# The command line ---------------------------------------------------------------------------
def test_the_cli_pauses_resumes_and_cancels_one_file_with_no_worker_running(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    """`jobdock pause|resume|cancel JOB --file N` and `download --file N`: with no worker on the
    data dir the command does it itself (a resume downloads the file before it exits)."""
    account = add_account(cli, simulator, "testo")
    job_id = cli("submit", account, "--param", "sim_files=2").stdout.strip()
    cli("watch", "--until-done", "--no-auto-download", "--timeout", "60", "-q")
    dl = ["--to", str(tmp_path / "dl")]

    assert (
        cli("pause", job_id, "--file", "2").stdout
        == f"job {job_id}: file 2 paused (0 bytes kept)\n"
    )
    (job,) = cli.json("jobs", "--json")
    states = [(r["download_state"], r["held"]) for r in job["results"]]
    assert states[1] == ("paused", True) and states[0] == ("pending", False)
    again = cli("pause", job_id, "--file", "2").stdout
    assert again == f"job {job_id}: file 2 is paused: nothing to pause\n"

    resumed = cli("resume", job_id, "--file", "2").stdout.splitlines()
    assert resumed[0] == f"job {job_id}: file 2 resumed"
    (saved,) = resumed[1:]
    (job,) = cli.json("jobs", "--json")
    assert job["results"][1]["path"] == saved and Path(saved).is_file()
    assert job["results"][0]["download_state"] == "pending"  # the other file is not touched

    cancelled = cli("cancel", job_id, "--file", "1").stdout
    assert cancelled == f"job {job_id}: file 1 cancelled (partial file deleted)\n"
    rest = [n + 1 for n, r in enumerate(job["results"]) if n > 1]  # the job's other files
    assert cli("cancel", job_id).stdout.splitlines() == [
        f"job {job_id}: file {n} cancelled (partial file deleted)" for n in rest
    ]
    assert cli("cancel", job_id).stdout == f"job {job_id}: nothing to cancel\n"
    assert cli("resume", job_id).stdout == f"job {job_id}: nothing paused to resume\n"
    (first,) = cli("download", job_id, "--file", "1", *dl).stdout.splitlines()
    assert Path(first).parent == tmp_path / "dl"
    (job,) = cli.json("jobs", "--json")
    states = [(r["download_state"], r["held"]) for r in job["results"]]
    assert states[:2] == [("done", False), ("done", False)]
    assert states[2:] == [("pending", True)] * len(rest)  # cancelled: waits until asked

    beyond = str(len(job["results"]) + 1)
    for bad in ("0", beyond, "x", "-1"):
        refused = cli("pause", job_id, "--file", bad, expect=2)
        assert refused.stdout == "" and len(refused.stderr.splitlines()) == 1
    refused = cli("resume", job_id, "--file", beyond, expect=2)
    assert f"there is no file {beyond}" in refused.stderr
