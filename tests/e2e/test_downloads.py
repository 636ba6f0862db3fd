"""Issue #4's acceptance: results saved whole and verified against the simulator's storage with
injected faults — resets, expiry mid-download, a killed process, no Range, lying lengths, hostile
names, cross-origin redirects. Most run in-process (Runtime + engine, the app's real download
path); the kill test runs `python -m jobdock watch` as a real subprocess."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, DownloadState, Job, SubmitRequest
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.runtime import Runtime
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli, add_account

T = TypeVar("T")
SIZE = 20 * 1024 * 1024
SECRET_HEADERS = ("api-key", "x-custom-api-key", "authorization", "shoptet-private-api-token")


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


def vainu_request(size: int = SIZE) -> SubmitRequest:
    return SubmitRequest(
        method="GET",
        path="companies/async/",
        params=(("async_format", "csv"), ("sim_size", str(size))),
    )


@asynccontextmanager
async def engine_on(sim: Simulator, tmp_path: Path) -> AsyncIterator[Engine]:
    async with Runtime.open(
        data_dir=tmp_path / "data", credentials=MemoryCredentialStore()
    ) as runtime:
        engine = runtime.engine
        engine.configure(download_dir=tmp_path / "dl")
        account = Account(
            name="acc",
            provider="vainu",
            base_url=sim.base_url("vainu"),
            options={"poll_min": "0.05", "poll_max": "0.3"},
        )
        await engine.add_account(account, sim.secret("vainu"))
        yield engine


class Watch:
    """Follows a job until settled, checking on every update batch that no file without
    `.part` appears in its folder before the result is done."""

    def __init__(self, engine: Engine, job_id: str) -> None:
        self.engine, self.job_id = engine, job_id
        self.folder = engine.transfers.folder_for(engine.job(job_id))
        self.early: list[str] = []
        self.progress = 0

    def check(self, batch: UpdateBatch) -> None:
        self.progress += sum(1 for p in batch.progress if p.job_id == self.job_id)
        job = self.engine.table.current(self.job_id)
        if job is None or not self.folder.exists():
            return
        if any(r.download_state != DownloadState.DONE for r in job.results):
            self.early += [p.name for p in self.folder.iterdir() if p.suffix != ".part"]

    async def settle(self) -> Job:
        changed = asyncio.Event()

        def listener(batch: UpdateBatch) -> None:
            self.check(batch)
            changed.set()

        unsubscribe = self.engine.subscribe(listener)
        try:
            await self.engine.start()
            while not self.engine.all_settled([self.job_id]):
                changed.clear()
                await changed.wait()
        finally:
            unsubscribe()
        return self.engine.job(self.job_id)


async def fetch(
    engine: Engine, sim: Simulator, *, size: int = SIZE, before: Callable[[Job], None] | None = None
) -> tuple[Job, Watch]:
    job = await engine.submit("acc", vainu_request(size))
    if before is not None:
        before(job)
    watch = Watch(engine, job.id)
    return await watch.settle(), watch


def assert_saved(sim: Simulator, job: Job, watch: Watch) -> Path:
    (result,) = job.results
    assert result.download_state == DownloadState.DONE, result.error
    (expected,) = sim.expected_results("vainu", job.remote_id or "")
    path = Path(result.path or "")
    assert path.parent == watch.folder
    digest = hashlib.sha256(expected).hexdigest()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest == result.sha256
    assert result.bytes == len(expected)
    assert sorted(p.name for p in watch.folder.iterdir()) == [path.name]  # no .part left
    assert not watch.early, f"a final-named file existed before completion: {watch.early}"
    return path


def assert_no_credentials(sim: Simulator, *servers: str) -> None:
    for server in servers:
        for record in sim.requests(server):
            leaked = [h for h in SECRET_HEADERS if h in record.headers]
            assert not leaked, f"{server} received {leaked}"


def ranges(sim: Simulator, server: str = "storage") -> list[str | None]:
    return [r.headers.get("range") for r in sim.requests(server)]


def test_resets_at_30_and_70_percent_resume_with_range(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.storage.add_fault(StorageFault(reset_at=[0.3, 0.7]))

    async def scenario() -> tuple[Job, Watch]:
        async with engine_on(simulator, tmp_path) as engine:
            return await fetch(engine, simulator)

    job, watch = run(scenario())
    assert_saved(simulator, job, watch)
    seen = ranges(simulator)
    assert seen[0] is None and len(seen) == 3
    offsets = [int((r or "").removeprefix("bytes=").rstrip("-")) for r in seen[1:]]
    assert (
        offsets[0] >= int(0.3 * SIZE) - 1024 * 1024 and offsets[1] >= int(0.7 * SIZE) - 1024 * 1024
    )
    assert all(r.headers.get("if-range") for r in simulator.requests("storage")[1:])
    assert watch.progress >= 1
    assert_no_credentials(simulator, "storage")


def test_link_expiring_mid_download_is_refreshed_and_resumed(
    simulator: Simulator, tmp_path: Path
) -> None:
    # Every reading of the clock is a new second: each presigned URL is a new one.
    start, ticks = time.time(), itertools.count()
    simulator.config.clock = lambda: start + next(ticks)
    simulator.storage.add_fault(StorageFault(expire_at=0.5))

    async def scenario() -> tuple[Job, Watch, list[str]]:
        async with engine_on(simulator, tmp_path) as engine:
            job, watch = await fetch(engine, simulator)
            return job, watch, [e.kind for e in engine.events(job.id)]

    job, watch, kinds = run(scenario())
    assert_saved(simulator, job, watch)
    assert "link-refresh" in kinds
    records = simulator.requests("storage")
    statuses = [r.status for r in records]
    assert 403 in statuses and statuses[-1] == 206
    assert records[-1].params["X-Amz-Signature"] != records[0].params["X-Amz-Signature"]
    assert int((records[-1].headers["range"]).removeprefix("bytes=").rstrip("-")) > 0


def test_server_without_range_support_restarts_and_completes(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.storage.add_fault(StorageFault(reset_at=[0.4], no_range=True))
    simulator.storage.add_fault(StorageFault(no_range=True, times=5))

    async def scenario() -> tuple[Job, Watch]:
        async with engine_on(simulator, tmp_path) as engine:
            return await fetch(engine, simulator)

    job, watch = run(scenario())
    assert_saved(simulator, job, watch)
    records = simulator.requests("storage")
    assert len(records) == 2
    assert records[1].headers.get("range") and records[1].status == 200  # ignored: from zero


@pytest.mark.parametrize(
    "fault",
    [
        StorageFault(truncate_at=0.5),
        StorageFault(wrong_length=1000),
        StorageFault(wrong_length=SIZE + 10),
    ],
    ids=["truncated", "length-too-short", "length-too-long"],
)
def test_lying_length_or_truncated_body_is_never_saved_as_complete(
    simulator: Simulator, tmp_path: Path, fault: StorageFault
) -> None:
    simulator.storage.add_fault(fault)

    async def scenario() -> tuple[Job, Watch, list[str]]:
        async with engine_on(simulator, tmp_path) as engine:
            # A body cut to a too-short Content-Length has the length it claims: only a digest
            # can tell. The simulator states none here, so it stands in for S3, whose plain ETag
            # is the MD5 (tests/e2e/test_verification.py has the stated-digest cases).
            engine.transfers.trust_etag_host = lambda host: host == "127.0.0.1"
            job, watch = await fetch(engine, simulator)
            return job, watch, [e.kind for e in engine.events(job.id)]

    job, watch, kinds = run(scenario())
    assert_saved(simulator, job, watch)
    assert "download-retry" in kinds
    # too long: all bytes, then 416 to the resume (the .part is dropped), then all bytes again
    assert len(simulator.requests("storage")) in (2, 3)


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="../../x"',
        'attachment; filename="/etc/passwd"',
        "attachment; filename*=UTF-8''ev%00il%2F..%2F..%2Fx",
        'attachment; filename="..\\\\..\\\\x"',
    ],
    ids=["dotdot", "absolute", "nul", "backslashes"],
)
def test_hostile_content_disposition_stays_in_the_job_folder(
    simulator: Simulator, tmp_path: Path, disposition: str
) -> None:
    def plant(job: Job) -> None:
        key = f"vainu/{job.remote_id}/companies.csv"
        data = simulator.storage.object_bytes(key)
        simulator.storage.put(key, data, disposition=disposition)

    async def scenario() -> tuple[Job, Watch]:
        async with engine_on(simulator, tmp_path) as engine:
            return await fetch(engine, simulator, size=4096, before=plant)

    job, watch = run(scenario())
    path = assert_saved(simulator, job, watch)
    assert "\x00" not in path.name and "/" not in path.name and not path.name.startswith(".")
    outside = [p for p in tmp_path.rglob("*x") if p.parent != watch.folder]
    assert not outside


def test_redirect_to_another_origin_sends_no_credentials(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.storage.add_fault(StorageFault(redirect=True))

    async def scenario() -> tuple[Job, Watch]:
        async with engine_on(simulator, tmp_path) as engine:
            return await fetch(engine, simulator)

    job, watch = run(scenario())
    assert_saved(simulator, job, watch)
    assert [r.status for r in simulator.requests("storage")] == [302]
    assert [r.status for r in simulator.requests("storage-alt")] == [200]
    assert_no_credentials(simulator, "storage", "storage-alt")


def test_killed_during_download_resumes_from_the_part_file(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    """SIGKILL a real `jobdock watch` mid-download; the next run resumes from the .part."""
    rate = 8 * 1024 * 1024  # 20 MiB in about 2.5 s: a wide window to kill in
    simulator.storage.add_fault(StorageFault(rate=rate))
    account = add_account(cli, simulator, "vainu")
    job_id = cli(
        "submit", account, "--param", "async_format=csv", "--param", f"sim_size={SIZE}"
    ).stdout.strip()
    downloads = tmp_path / "downloads"
    watch = [sys.executable, "-m", "jobdock", "watch", "--until-done", "--timeout", "60"]
    watch += ["--download-dir", str(downloads)]
    folder = downloads / account / job_id
    process = subprocess.Popen(
        watch, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen = 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = list(folder.glob("*.part")) if folder.exists() else []
            if parts and 2 * 1024 * 1024 <= (size := parts[0].stat().st_size) < SIZE // 2:
                seen = size
                break
            assert process.poll() is None, "watch ended before the download was under way"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
    assert seen, "never saw a partly written .part file"
    assert [p.name for p in folder.iterdir() if p.suffix != ".part"] == []
    (part,) = folder.glob("*.part")
    at_kill = part.stat().st_size
    assert seen <= at_kill < SIZE

    cli(*watch[3:], timeout=60)
    (expected,) = simulator.expected_results("vainu", _remote_id(cli, job_id))
    saved = folder / part.name.removesuffix(".part")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert sorted(p.name for p in folder.iterdir()) == [saved.name]
    resumed = [r for r in ranges(simulator) if r]
    assert resumed, "the restart did not ask for a byte range"
    offset = int(resumed[-1].removeprefix("bytes=").rstrip("-"))
    assert seen <= offset <= at_kill
    assert simulator.requests("storage")[-1].status == 206
    assert_no_credentials(simulator, "storage")


def _remote_id(cli: Cli, job_id: str) -> str:
    jobs = {j["id"]: j for j in cli.json("jobs", "--json")}
    return str(jobs[job_id]["remote_id"])
