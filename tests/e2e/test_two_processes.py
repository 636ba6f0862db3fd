"""Two Jobdock processes on one data dir, as a user runs them: a long-running `jobdock watch`
(or the window) and a script's `jobdock submit`. The watch takes in the job the script wrote and
saves its result; the script's `jobs` sees what the watch did."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli, add_account
from tests.support.waiting import wait_until


def test_a_running_watch_follows_a_job_submitted_by_another_process(
    cli: Cli, simulator: Simulator
) -> None:
    account = add_account(cli, simulator, "vainu")
    downloads = cli.data_dir.parent / "downloads"
    watch = subprocess.Popen(
        [sys.executable, "-m", "jobdock", "watch", "--timeout", "120",
         "--download-dir", str(downloads)],
        env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The watch is up once it holds the worker's lease: it has read the (empty) store and
        # takes in what other processes write from now on.
        wait_until(lambda: lease_pid(cli) == watch.pid, timeout=60, what="the watch's lease")
        job_id = cli("submit", account, "--param", "country=FI").stdout.strip()

        def saved() -> dict[str, Any] | None:
            assert watch.poll() is None, watch.communicate()
            job = {j["id"]: j for j in cli.json("jobs", "--json")}[job_id]
            results = job["results"]
            done = results and all(r["download_state"] == "done" for r in results)
            return job if done else None

        job = wait_until(saved, timeout=60, what="the watch saving the job's results")
        assert lease_pid(cli) == watch.pid  # the watch was the worker throughout
    finally:
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=30)
    assert job["state"] == "succeeded"
    expected = simulator.expected_results("vainu", str(job["remote_id"]))
    paths = [Path(r["path"]) for r in job["results"]]
    assert [p.read_bytes() for p in paths] == expected
    assert all(p.is_relative_to(downloads) for p in paths)
    assert "saved" in out, (out, err)
    # The watch itself took the job in and saved it: its own output names the job and the file.
    for path in paths:
        assert f"{job_id} saved {path} " in out, (out, err)
    assert f"{job_id} {account} succeeded" in out, (out, err)


def lease_pid(cli: Cli) -> int | None:
    """The pid of the process holding the data dir's worker lease, read from the store."""
    uri = (cli.data_dir / "jobs.sqlite3").as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        row = db.execute("SELECT pid FROM lease").fetchone()
    return None if row is None else int(row[0])
