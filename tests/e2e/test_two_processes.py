"""Two Jobdock processes on one data dir, as a user runs them: a long-running `jobdock watch`
(or the window) and a script's `jobdock submit`. The watch takes in the job the script wrote and
saves its result; the script's `jobs` sees what the watch did."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli, add_account


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
        time.sleep(1.0)  # the watch is up and has read the (empty) store
        job_id = cli("submit", account, "--param", "country=FI").stdout.strip()
        deadline = time.monotonic() + 60
        job: dict[str, object] = {}
        while time.monotonic() < deadline:
            job = {j["id"]: j for j in cli.json("jobs", "--json")}[job_id]
            results = job["results"]
            assert isinstance(results, list)
            if results and all(r["download_state"] == "done" for r in results):
                break
            assert watch.poll() is None, watch.communicate()
            time.sleep(0.3)
        else:
            raise AssertionError(f"the watch never saved the job's results: {job}")
    finally:
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=30)
    assert job["state"] == "succeeded"
    expected = simulator.expected_results("vainu", str(job["remote_id"]))
    paths = [Path(r["path"]) for r in job["results"]]  # type: ignore[attr-defined]
    assert [p.read_bytes() for p in paths] == expected
    assert all(p.is_relative_to(downloads) for p in paths)
    assert "saved" in out, (out, err)
