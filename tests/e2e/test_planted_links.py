"""Issue 11: links planted in the download folder — at a `.part`, at a final name, at the job or
the account folder — are refused, never followed. A real download of a three-file testo job from
the simulator on 127.0.0.1, real files under tmp_path: no byte lands outside the download folder,
the file the link points at is unchanged, the result it sits on fails with a clear message and its
siblings are saved. A download folder that is a file or read-only is one clear line too."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, DownloadState, Job
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.runtime import Runtime
from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli

PRECIOUS = b"the user's own file, which no download may touch\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the download folder, with one file in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_bytes(PRECIOUS)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@asynccontextmanager
async def _engine(sim: Simulator, tmp_path: Path) -> AsyncIterator[Engine]:
    async with Runtime.open(
        data_dir=tmp_path / "data", credentials=MemoryCredentialStore()
    ) as runtime:
        engine = runtime.engine
        engine.configure(download_dir=tmp_path / "dl")
        account = Account(
            name="acc",
            provider="testo",
            base_url=sim.base_url("testo"),
            options={"poll_min": "0.05", "poll_max": "0.3"},
        )
        await engine.add_account(account, sim.secret("testo"))
        yield engine


async def _settle(engine: Engine, job_id: str) -> Job:
    changed = asyncio.Event()

    def listener(_batch: UpdateBatch) -> None:
        changed.set()

    unsubscribe = engine.subscribe(listener)
    try:
        await engine.start()
        while not engine.all_settled([job_id]):
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()
    return engine.job(job_id)


def _fetch(sim: Simulator, tmp_path: Path, plant: Callable[[Path], None]) -> tuple[Job, Path]:
    """Submit a job of two data files and a metadata file, `plant` something in its folder
    (before any download starts: the job runs for 0.4 s), and follow it until settled."""

    async def scenario() -> tuple[Job, Path]:
        async with _engine(sim, tmp_path) as engine:
            request = engine.provider("testo").default_request()
            job = await engine.submit("acc", replace(request, params=(("sim_files", "2"),)))
            folder = engine.transfers.folder_for(job)
            plant(folder)
            return await _settle(engine, job.id), folder

    return asyncio.run(asyncio.wait_for(scenario(), 60))


def _expected(sim: Simulator, job: Job) -> list[bytes]:
    expected = sim.expected_results("testo", job.remote_id or "")
    assert len(expected) == len(job.results) == 3
    return expected


def _assert_saved(job: Job, index: int, content: bytes, folder: Path) -> None:
    result = job.results[index]
    assert result.download_state == DownloadState.DONE, result.error
    path = Path(result.path or "")
    assert path.parent == folder and not path.is_symlink()
    assert path.read_bytes() == content
    assert result.sha256 == hashlib.sha256(content).hexdigest()


def _link(at: Path, to: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(to)


@pytest.mark.parametrize(
    ("planted", "what"),
    [
        ("part", "symbolic link"),  # .part → a file outside
        ("dangling-part", "symbolic link"),  # .part → a name outside that does not exist yet
        ("hard-part", "hard link"),  # .part is another name of a file outside
        ("final", "symbolic link"),  # the final name → a file outside
        ("dangling-final", "symbolic link"),  # the final name → nothing (yet)
        ("final-dir", "symbolic link"),  # the final name → a folder outside
    ],
)
def test_a_link_at_a_file_fails_that_result_only(
    simulator: Simulator, tmp_path: Path, outside: Path, planted: str, what: str
) -> None:
    victim = outside / "victim.txt"
    before = _snapshot(outside)

    def plant(folder: Path) -> None:
        name = "part-00000.csv"
        if planted == "part":
            _link(folder / f"{name}.part", victim)
        elif planted == "dangling-part":
            _link(folder / f"{name}.part", outside / "created.txt")
        elif planted == "hard-part":
            folder.mkdir(parents=True)
            os.link(victim, folder / f"{name}.part")
        elif planted == "final":
            _link(folder / name, victim)
        elif planted == "dangling-final":
            _link(folder / name, outside / "created.txt")
        else:
            _link(folder / name, outside)

    job, folder = _fetch(simulator, tmp_path, plant)
    expected = _expected(simulator, job)
    assert _snapshot(outside) == before, "a byte was written outside the download folder"
    assert victim.read_bytes() == PRECIOUS
    bad = job.results[0]
    assert bad.download_state == DownloadState.FAILED
    assert what in (bad.error or "") and "part-00000.csv" in (bad.error or ""), bad.error
    _assert_saved(job, 1, expected[1], folder)
    _assert_saved(job, 2, expected[2], folder)
    if planted != "hard-part":
        link = folder / ("part-00000.csv.part" if "part" in planted else "part-00000.csv")
        assert link.is_symlink(), "the planted link is left as it was, for the user to see"


@pytest.mark.parametrize("level", ["job", "account"])
def test_a_linked_job_or_account_folder_is_never_written_through(
    simulator: Simulator, tmp_path: Path, outside: Path, level: str
) -> None:
    before = _snapshot(outside)

    def plant(folder: Path) -> None:
        _link(folder if level == "job" else folder.parent, outside)

    job, folder = _fetch(simulator, tmp_path, plant)
    assert _snapshot(outside) == before, "a byte was written outside the download folder"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    for result in job.results:
        assert result.download_state == DownloadState.FAILED
        linked = folder if level == "job" else folder.parent
        assert f"refusing to save into {linked}: it is a symbolic link" in (result.error or "")


def test_a_download_folder_that_is_a_file_is_a_job_error(
    simulator: Simulator, tmp_path: Path
) -> None:
    """What the window shows: every result says why, and nothing is created or changed."""
    (tmp_path / "dl").write_bytes(PRECIOUS)
    job, _ = _fetch(simulator, tmp_path, lambda _folder: None)
    assert (tmp_path / "dl").read_bytes() == PRECIOUS
    for result in job.results:
        assert result.download_state == DownloadState.FAILED
        assert result.error == (
            f"cannot save into the download folder {tmp_path / 'dl'}: "
            f"{tmp_path / 'dl'} is not a folder"
        )


def test_cli_refuses_a_download_folder_that_is_a_file(cli: Cli, tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_bytes(PRECIOUS)
    for args, flag in (
        (["watch", "--until-done", "--download-dir", str(a_file)], "--download-dir"),
        (["download", "some-job", "--to", str(a_file / "sub")], "--to"),
    ):
        done = cli(*args, expect=2)
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"jobdock: {flag} ")
        assert f"{a_file} is not a folder" in done.stderr
    assert a_file.read_bytes() == PRECIOUS


def test_cli_refuses_a_read_only_download_folder(cli: Cli, tmp_path: Path) -> None:
    """As root every folder is writable, so there the folder is a read-only mount (in a mount
    namespace of the CLI's own); otherwise its permissions make it read-only."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("running as root without unshare: no way to make a read-only folder")
        wrap = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"']
        prefix, reason = [*wrap, str(folder)], "is on a read-only file system"
    else:
        folder.chmod(0o555)
        prefix, reason = [], "is not writable"
    try:
        for args in (
            ["watch", "--until-done", "--download-dir", str(folder / "new")],
            ["download", "some-job", "--to", str(folder)],
        ):
            done = subprocess.run(
                [*prefix, sys.executable, "-m", "jobdock", *args],
                capture_output=True,
                text=True,
                env=cli.env,
                timeout=60,
                check=False,
            )
            if "mount" in done.stderr and "jobdock" not in done.stderr:
                pytest.skip(f"cannot mount a read-only file system here: {done.stderr.strip()}")
            assert done.returncode == 2, done.stderr
            assert done.stderr.count("\n") == 1, done.stderr
            assert f"{folder} {reason}" in done.stderr
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
