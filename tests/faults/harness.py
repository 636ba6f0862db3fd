"""What the fault tests share: `jobdock` processes run in the background with their output in
files, bounded waits on conditions, jobs submitted in bulk, and the end checks every fault must
leave true — each result saved once, under its final name, with the bytes the simulator served,
no `.part` left, and a store that passes SQLite's `PRAGMA integrity_check`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jobdock.core.net.requests import build_request
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.runtime import Runtime
from jobdock.simulator import Simulator
from tests.e2e.conftest import FAST_POLLS, Cli

T = TypeVar("T")
ACCOUNT = "acc"
# Header names a storage origin must never receive (every built-in provider's credential).
SECRET_HEADERS = ("api-key", "x-custom-api-key", "authorization", "shoptet-private-api-token")


@dataclass
class Background:
    """A `jobdock` process started with Popen; stdout and stderr go to files, read any time."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no handler, no clean-up runs."""
        if self.running():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"jobdock still running after {timeout:g} s\n"
                f"stdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"
            ) from None

    def describe(self) -> str:
        return f"exit {self.process.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def start(cli: Cli, *args: str, logs: Path, env: dict[str, str] | None = None) -> Background:
    """`python -m jobdock ARGS` in the background with the test's keyring (and `env` on top)."""
    logs.mkdir(parents=True, exist_ok=True)
    count = len(list(logs.glob("*.out")))
    out, err = logs / f"{count:02d}.out", logs / f"{count:02d}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobdock", *args],
            env={**cli.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return Background(process, out, err)


def watch_args(downloads: Path, *, timeout: float = 90) -> list[str]:
    return ["watch", "--until-done", "--timeout", str(timeout), "--download-dir", str(downloads)]


def add_account(cli: Cli, sim: Simulator, provider: str = "vainu", name: str = ACCOUNT) -> str:
    args = ["accounts", "add", name, "--provider", provider, "--base-url", sim.base_url(provider)]
    cli(*args, *FAST_POLLS, "--secret-stdin", stdin=sim.secret(provider) + "\n")
    return name


def submit_many(
    cli: Cli,
    sim: Simulator,
    params: Sequence[Sequence[tuple[str, str]]],
    *,
    provider: str = "vainu",
) -> list[str]:
    """Submit one job per entry of `params` (query parameters) on ACCOUNT; their local ids.

    In this process, on the same data dir, through the app's own engine: thirty `jobdock submit`
    processes would cost more time than the faults they set up. The secret is the simulator's,
    the one the CLI's account holds in the test keyring.
    """

    async def submit() -> list[str]:
        credentials = MemoryCredentialStore({ACCOUNT: sim.secret(provider)})
        async with Runtime.open(data_dir=cli.data_dir, credentials=credentials) as runtime:
            engine = runtime.engine
            default = engine.provider(provider).default_request()
            ids = []
            for extra in params:
                request = build_request(default, params=list(extra))
                ids.append((await engine.submit(ACCOUNT, request)).id)
            return ids

    return asyncio.run(submit())


def tree(folder: Path) -> dict[str, int]:
    """Every file under `folder` (path relative to it → size); {} when it does not exist."""
    if not folder.exists():
        return {}
    found = {}
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                found[str(path.relative_to(folder))] = path.stat().st_size
        except FileNotFoundError:  # renamed or removed by the running process meanwhile
            continue
    return found


def integrity(data_dir: Path) -> list[str]:
    """SQLite's own verdict on the store (["ok"] when sound), read after the writers are gone."""
    connection = sqlite3.connect(data_dir / "jobs.sqlite3")
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


def jobs_by_id(cli: Cli) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in cli.json("jobs", "--json")}


def assert_all_saved(
    cli: Cli,
    sim: Simulator,
    downloads: Path,
    job_ids: Iterable[str],
    *,
    provider: str = "vainu",
    context: str = "",
) -> dict[str, dict[str, Any]]:
    """Each job succeeded and each of its results is on disk exactly once, under its final name,
    with the sha256 of the bytes the simulator served; nothing else is in the download dir."""
    jobs = jobs_by_id(cli)
    expected_files: set[str] = set()
    for job_id in job_ids:
        job = jobs[job_id]
        assert job["state"] == "succeeded", f"{job_id}: {job}{context}"
        served = sim.expected_results(provider, job["remote_id"])
        assert len(job["results"]) == len(served), f"{job_id}: {job['results']}{context}"
        saved_here = set()
        for result, data in zip(job["results"], served, strict=True):
            assert result["download_state"] == "done", f"{job_id}: {result}{context}"
            path = Path(result["path"])
            assert path.parent == downloads / job["account"] / job_id, f"{path}{context}"
            digest = hashlib.sha256(data).hexdigest()
            saved = path.read_bytes()
            on_disk = hashlib.sha256(saved).hexdigest()
            assert on_disk == digest == result["sha256"], (
                f"{path}: wrong bytes ({_differences(saved, data, result)}){context}"
            )
            assert result["bytes"] == len(data), f"{path}: {result}{context}"
            # The simulator states every length (and a plain-MD5 ETag): never "unverified".
            assert result["verified"] not in (None, "unverified"), f"{path}: {result}{context}"
            saved_here.add(str(path.relative_to(downloads)))
        assert len(saved_here) == len(served), f"{job_id}: two results, one file{context}"
        expected_files |= saved_here
    present = tree(downloads)
    parts = sorted(name for name in present if name.endswith(".part"))
    assert not parts, f".part files left: {parts}{context}"
    duplicates = sorted(name for name in present if " (" in Path(name).name)
    assert not duplicates, f"saved twice: {duplicates}{context}"
    assert set(present) == expected_files, f"unexpected files: {sorted(present)}{context}"
    return jobs


def _differences(saved: bytes, served: bytes, result: dict[str, Any]) -> str:
    """What differs between the file on disk and the bytes the simulator served."""
    first = next((i for i, (a, b) in enumerate(zip(saved, served, strict=False)) if a != b), None)
    recorded = result["sha256"]
    if recorded == hashlib.sha256(saved).hexdigest():
        matches = "the disk"
    elif recorded == hashlib.sha256(served).hexdigest():
        matches = "what was served"
    else:
        matches = "neither"
    return (
        f"{len(saved):,} bytes on disk, {len(served):,} served, first difference at {first}; "
        f"the recorded sha256 matches {matches}"
    )


def assert_no_credentials_at_storage(sim: Simulator, *secrets: str) -> None:
    """No credential header, and no secret in any header or query, reached a storage origin."""
    for server in ("storage", "storage-alt"):
        for record in sim.requests(server):
            leaked = [h for h in SECRET_HEADERS if h in record.headers]
            assert not leaked, f"{server} received the credential header(s) {leaked}"
            seen = " ".join([record.path, record.query, *record.headers.values()])
            for secret in secrets:
                assert secret not in seen, f"{server} received the secret in {record.path}"
