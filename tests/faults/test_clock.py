"""A skewed or stepped wall clock on the app's process alone (libfaketime), never the machine's.

The simulator keeps the real time, as a real signer does: its pre-signed links carry the server's
X-Amz-Date. With the client 2 h ahead every link looks expired by its signature, 2 h behind every
answer looks to come from the future, and a step back in the middle of a run must not stop the
polls. In every case each job is polled to the end and its results are saved.

CLOCK_MONOTONIC is left alone (FAKETIME_DONT_FAKE_MONOTONIC): a real clock step or a wrong
time zone setting moves only the wall clock.
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import pytest

from jobdock.simulator import Simulator
from jobdock.simulator.config import FakeClock
from tests.e2e.conftest import Cli
from tests.faults.harness import (
    ACCOUNT,
    add_account,
    assert_all_saved,
    start,
    watch_args,
)
from tests.support.tools import skip_or_fail
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SIZE = 200 * 1024
TIMEOUT = 25.0  # seconds (monotonic) for jobs of at most 3 s: a stuck poll exits 3 well before


def faketime_env(**variables: str) -> dict[str, str]:
    """LD_PRELOAD of libfaketime (the thread-safe build) with `variables`; skips without it."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        skip_or_fail(
            "the clock tests need libfaketime: run scripts/setup (Debian package faketime)"
        )
    return {"LD_PRELOAD": found[0], "FAKETIME_DONT_FAKE_MONOTONIC": "1", **variables}


def submit_jobs(cli: Cli, sim: Simulator, durations: list[float]) -> list[str]:
    """Jobs submitted by `jobdock submit` processes on `cli`'s clock (skewed like the watch)."""
    add_account(cli, sim)
    return [
        cli(
            "submit", ACCOUNT, "--param", "async_format=csv", "--param", f"sim_size={SIZE}",
            "--param", f"sim_duration={duration}",
        ).stdout.strip()
        for duration in durations
    ]  # fmt: skip


@pytest.mark.parametrize(
    "offset",
    [pytest.param("+2h", id="2h-ahead"), pytest.param("-2h", id="2h-behind")],
)
def test_skewed_clock_still_polls_every_job_and_saves_every_result(
    cli: Cli, simulator: Simulator, tmp_path: Path, offset: str
) -> None:
    skewed = Cli(env={**cli.env, **faketime_env(FAKETIME=offset)})
    job_ids = submit_jobs(skewed, simulator, [0.3, 1.0, 2.0])
    downloads = tmp_path / "downloads"
    watch = start(skewed, *watch_args(downloads, timeout=TIMEOUT), logs=tmp_path / "logs")
    assert watch.wait(TIMEOUT + 15) == 0, watch.describe()
    assert_all_saved(cli, simulator, downloads, job_ids)


def test_wall_clock_stepped_back_while_watching_keeps_polling(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    # The simulator's time stands still until the test moves it, so the jobs are certainly
    # still running when the app's clock steps back, and finish only after that.
    server_time = FakeClock(time.time())
    simulator.config.clock = server_time
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    env = faketime_env(FAKETIME_TIMESTAMP_FILE=str(clock), FAKETIME_NO_CACHE="1")
    stepped = Cli(env={**cli.env, **env})
    job_ids = submit_jobs(stepped, simulator, [1.0, 2.0])
    remote = [job["remote_id"] for job in cli.json("jobs", "--json") if job["id"] in job_ids]
    downloads = tmp_path / "downloads"
    watch = start(stepped, *watch_args(downloads, timeout=TIMEOUT), logs=tmp_path / "logs")

    def polled_twice_each() -> bool:
        paths = [r.path for r in simulator.requests("vainu")]
        return all(sum(rid in p for p in paths) >= 2 for rid in remote) or not watch.running()

    wait_until(polled_twice_each, timeout=20, what="the watch polled every job twice")
    assert watch.running(), watch.describe()
    clock.write_text("-2h\n")  # the app's wall clock jumps back two hours, mid-run
    server_time.advance(3.0)  # and now the jobs are done, for the next poll to see
    assert watch.wait(TIMEOUT + 15) == 0, watch.describe()
    assert_all_saved(cli, simulator, downloads, job_ids)
