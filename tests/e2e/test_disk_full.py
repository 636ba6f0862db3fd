"""A full disk is a wait, not a verdict: on a real, small tmpfs a download that fills it fails
transiently with how much is needed and where, keeps its `.part`, and once the tmpfs is enlarged
the same `jobdock watch` resumes it with `Range` and saves the right bytes. A file that fits is
never refused for leaving little to spare. Needs permission to mount (root or CAP_SYS_ADMIN)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.core.store.jobs import JobStore
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli, add_account
from tests.support.tmpfs import TmpFs, mounted_tmpfs

MIB = 1024 * 1024


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[TmpFs]:
    with mounted_tmpfs(tmp_path / "disk", "1m") as disk:
        yield disk


class Lines:
    """A process's stdout, line by line, gathered in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, *words: str, limit: float = 30.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if all(w in line for w in words):
                    return line
            if self._process.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line with {words!r}; watch said: {self.lines}")

    def join(self) -> None:
        self._thread.join(10)


def fast_retries(cli: Cli) -> None:
    store = JobStore.open(cli.data_dir / "jobs.sqlite3")
    try:
        store.set_setting("engine", {"retry_min": 0.2, "retry_max": 0.5})
    finally:
        store.close()


def submit(cli: Cli, account: str, size: int) -> str:
    return cli(
        "submit", account, "--param", "async_format=csv", "--param", f"sim_size={size}"
    ).stdout.strip()


def expected_sha(cli: Cli, sim: Simulator, job_id: str) -> str:
    jobs = {j["id"]: j for j in cli.json("jobs", "--json")}
    (data,) = sim.expected_results("vainu", jobs[job_id]["remote_id"])
    return hashlib.sha256(data).hexdigest()


def watch(cli: Cli, downloads: Path) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "jobdock", "watch", "--until-done", "--timeout", "60"]
    return subprocess.Popen(
        [*args, "--download-dir", str(downloads)],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # failures and retries are said on stderr
        text=True,
    )


def test_a_download_that_fills_the_disk_waits_and_resumes_once_there_is_room(
    cli: Cli, simulator: Simulator, tmpfs: TmpFs
) -> None:
    size = 3 * MIB
    # No Content-Length: nothing tells the size ahead, so the bytes run into the full disk.
    simulator.storage.add_fault(StorageFault(no_length=True))
    account = add_account(cli, simulator, "vainu")
    fast_retries(cli)
    job_id = submit(cli, account, size)
    folder = tmpfs.path / account / job_id
    process = watch(cli, tmpfs.path)
    lines = Lines(process)
    try:
        full = lines.wait_for(job_id, "disk full writing")
        (part,) = folder.glob("*.part")
        assert str(part) in full and f"bytes free in {folder}" in full
        assert "resumes once there is room" in full
        written = part.stat().st_size
        assert 0 < written < size
        # The retries that follow know the size now (the resume's 206 states it) and wait
        # without writing: how much is needed, how much is free, where.
        waiting = lines.wait_for(job_id, "not enough free space", "bytes needed")
        assert str(folder) in waiting and f"{size - written:,} bytes needed" in waiting
        assert process.poll() is None, "watch gave up on a full disk"
        assert [p.name for p in folder.iterdir()] == [part.name]
        tmpfs.resize("16m")
        lines.wait_for(job_id, "saved")
        assert process.wait(60) == 0, lines.lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        lines.join()
        assert process.stdout is not None
        process.stdout.close()
    (saved,) = folder.iterdir()
    assert saved.name == part.name.removesuffix(".part")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == expected_sha(cli, simulator, job_id)
    records = simulator.requests("storage")
    assert records[0].headers.get("range") is None
    assert {r.headers.get("range") for r in records[1:]} == {f"bytes={written}-"}
    assert records[-1].status == 206


def test_a_file_that_fits_is_saved_even_with_little_room_to_spare(
    cli: Cli, simulator: Simulator, tmpfs: TmpFs
) -> None:
    tmpfs.resize("8m")
    account = add_account(cli, simulator, "vainu")
    job_id = submit(cli, account, 4 * MIB)  # fits, leaving less than the 16 MiB reserve
    cli("watch", "--until-done", "--timeout", "60", "--download-dir", str(tmpfs.path))
    (saved,) = (tmpfs.path / account / job_id).iterdir()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == expected_sha(cli, simulator, job_id)
