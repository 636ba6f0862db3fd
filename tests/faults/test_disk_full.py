"""The download disk fills up in the middle of a download, and later gets room again.

A real tmpfs of a few MiB is the download disk (mounting needs root or CAP_SYS_ADMIN: without it
the test is skipped, saying so). The results fit when the downloads start; another writer then
takes the rest of the disk, so the downloads hit ENOSPC mid-body. `jobdock watch` must keep
running, say how much space it needs and where, and once the tmpfs is enlarged
(`mount -o remount,size=…`) save every file with the right bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli
from tests.faults.harness import (
    add_account,
    assert_all_saved,
    start,
    submit_many,
    tree,
    watch_args,
)
from tests.support.tmpfs import TmpFs, fill, mounted_tmpfs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SIZE = 1536 * 1024 + 77  # two of these fit in the 6 MiB disk, with room for the file system
RATE = 512 * 1024  # bytes a second per connection: 3 s a file, so the disk fills mid-download
# "needs 1,234 bytes", "1,234 more bytes needed", "need 1.5 MiB": an amount of space needed.
NEEDED = re.compile(r"need.*\d[\d,.]*\s*(more\s+)?(bytes|[KMGT]i?B)\b|\d[\d,.]*\s*(more\s+)?"
                    r"(bytes|[KMGT]i?B)\b.*need", re.IGNORECASE)  # fmt: skip


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[TmpFs]:
    """A 6 MiB tmpfs mounted on tmp_path/disk, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk", "6m") as disk:
        yield disk


def test_disk_full_mid_download_waits_for_room_and_then_saves_every_file(
    cli: Cli, simulator: Simulator, small_disk: TmpFs, tmp_path: Path
) -> None:
    simulator.storage.add_fault(StorageFault(rate=RATE, times=10**6))
    add_account(cli, simulator)
    params = [[("async_format", "csv"), ("sim_size", str(SIZE)), ("sim_duration", "0.2")]] * 2
    job_ids = submit_many(cli, simulator, params)
    downloads = small_disk.path / "downloads"
    watch = start(cli, *watch_args(downloads, timeout=60), logs=tmp_path / "logs")

    def under_way() -> bool:
        return any(n.endswith(".part") and s >= 256 * 1024 for n, s in tree(downloads).items())

    wait_until(lambda: under_way() or not watch.running(), timeout=30, what="a download began")
    assert watch.running(), watch.describe()
    fill(small_disk.path)

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

    small_disk.resize("24m")  # raises when the remount fails
    assert watch.wait(60) == 0, watch.describe()
    assert_all_saved(cli, simulator, downloads, job_ids)
