"""The download disk fills up in the middle of a download, and later gets room again.

A real tmpfs of a few MiB is the download disk (mounting needs root or CAP_SYS_ADMIN: without it
the test is skipped, saying so). The results fit when the downloads start; another writer then
takes the rest of the disk, so the downloads hit ENOSPC mid-body. `jobdock watch` must keep
running, say how much space it needs and where, and once the tmpfs is enlarged
(`mount -o remount,size=…`) save every file with the right bytes.
"""

from __future__ import annotations

import errno
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.core.simulator import Simulator
from jobdock.core.simulator.faults import StorageFault
from tests.e2e.conftest import Cli
from tests.faults.harness import (
    add_account,
    assert_all_saved,
    start,
    submit_many,
    tree,
    wait_until,
    watch_args,
)

pytestmark = pytest.mark.slow

SIZE = 1536 * 1024 + 77  # two of these fit in the 6 MiB disk, with room for the file system
RATE = 512 * 1024  # bytes a second per connection: 3 s a file, so the disk fills mid-download
# "needs 1,234 bytes", "1,234 more bytes needed", "need 1.5 MiB": an amount of space needed.
NEEDED = re.compile(r"need.*\d[\d,.]*\s*(more\s+)?(bytes|[KMGT]i?B)\b|\d[\d,.]*\s*(more\s+)?"
                    r"(bytes|[KMGT]i?B)\b.*need", re.IGNORECASE)  # fmt: skip


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted on tmp_path/disk, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        done = _mount("-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(disk))
    except FileNotFoundError:
        pytest.skip("no `mount` command: cannot make a small download disk")
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with a file of its own (another program's, as it were)."""
    filler = disk / "someone-else.bin"
    with filler.open("wb", buffering=0) as out:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            try:
                while True:
                    out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


def test_disk_full_mid_download_waits_for_room_and_then_saves_every_file(
    cli: Cli, simulator: Simulator, small_disk: Path, tmp_path: Path
) -> None:
    simulator.storage.add_fault(StorageFault(rate=RATE, times=10**6))
    add_account(cli, simulator)
    params = [[("async_format", "csv"), ("sim_size", str(SIZE)), ("sim_duration", "0.2")]] * 2
    job_ids = submit_many(cli, simulator, params)
    downloads = small_disk / "downloads"
    watch = start(cli, *watch_args(downloads, timeout=60), logs=tmp_path / "logs")

    def under_way() -> bool:
        return any(n.endswith(".part") and s >= 256 * 1024 for n, s in tree(downloads).items())

    wait_until(lambda: under_way() or not watch.running(), timeout=30, what="a download began")
    assert watch.running(), watch.describe()
    fill(small_disk)

    def says_what_is_needed() -> bool:
        lines = (watch.stdout + watch.stderr).splitlines()
        return any(str(downloads) in line and NEEDED.search(line) for line in lines)

    wait_until(
        lambda: says_what_is_needed() or not watch.running(),
        timeout=30,
        what="the watch said how much space it needs, and where",
    )
    assert watch.running(), "watch gave up on a full disk: " + watch.describe()
    assert says_what_is_needed(), watch.describe()

    grown = _mount("-o", "remount,size=24m", str(small_disk))
    assert grown.returncode == 0, grown.stderr
    assert watch.wait(60) == 0, watch.describe()
    assert_all_saved(cli, simulator, downloads, job_ids)
