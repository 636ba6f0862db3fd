"""kill -9 ten times at random moments while `jobdock watch` follows 30 jobs with multi-MiB results.

The storage origin is throttled so most kills land in the middle of downloads (and some during
polls, renames and store writes). The moments come from a seeded generator; the seed is printed
and can be replayed with JOBDOCK_FAULT_SEED. After the last restart every job must be saved
exactly once with the bytes the simulator served, and the store must be sound.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli
from tests.faults.harness import (
    add_account,
    assert_all_saved,
    assert_no_credentials_at_storage,
    integrity,
    start,
    submit_many,
    tree,
    watch_args,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

JOBS = 30
KILLS = 10
SIZE = 2 * 1024 * 1024 + 12_345  # multi-MiB, and not a multiple of any buffer size
RATE = 1.5 * 1024 * 1024  # bytes a second per connection: about 1.4 s a file


def kill_once(cli: Cli, downloads: Path, logs: Path, rng: random.Random, *, seed: int) -> str:
    """Start a watch, wait until it is at work, let a random moment pass, and kill -9 it."""
    before = tree(downloads)
    watch = start(cli, *watch_args(downloads), logs=logs)
    # Kill only once this run is at work (the tree changed), so no kill is spent on imports.
    wait_until(
        lambda: tree(downloads) != before or not watch.running(),
        timeout=30,
        what=f"a restarted watch touched the download dir (seed {seed})",
    )
    assert watch.running(), f"watch ended before it was killed (seed {seed}): {watch.describe()}"
    delay = rng.uniform(0.0, 0.8)
    time.sleep(delay)  # the random moment is the point of this test
    parts = sum(1 for name in tree(downloads) if name.endswith(".part"))
    watch.kill()
    return f"{delay:.2f} s after activity, {parts} .part"


def test_ten_kills_during_thirty_jobs_leave_every_result_saved_once(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    seed = int(os.environ.get("JOBDOCK_FAULT_SEED") or random.randrange(2**32))
    print(f"kill moments seeded with JOBDOCK_FAULT_SEED={seed}")
    rng = random.Random(seed)
    simulator.storage.add_fault(StorageFault(rate=RATE, times=10**9))
    add_account(cli, simulator)
    # Jobs finish over the first seconds, so early kills hit polls and later ones downloads.
    params = [
        [("async_format", "csv"), ("sim_size", str(SIZE)),
         ("sim_duration", f"{rng.uniform(0.2, 4.0):.2f}")]
        for _ in range(JOBS)
    ]  # fmt: skip
    job_ids = submit_many(cli, simulator, params)
    downloads = tmp_path / "downloads"
    logs = tmp_path / "logs"

    moments = [kill_once(cli, downloads, logs, rng, seed=seed) for _ in range(KILLS)]
    print("\n".join(moments))
    context = f"\n(seed {seed}; kills {'; '.join(moments)})"

    final = start(cli, *watch_args(downloads), logs=logs)
    code = final.wait(90)
    assert code == 0, final.describe() + context
    assert integrity(cli.data_dir) == ["ok"], context
    assert_all_saved(cli, simulator, downloads, job_ids, context=context)
    assert_no_credentials_at_storage(simulator, simulator.secret("vainu"))
    # Kills landed mid-download: some restarts resumed with a Range instead of starting over.
    resumed = [r for r in simulator.requests("storage") if r.headers.get("range")]
    assert resumed, f"no download was ever resumed{context}"
