"""Result links across refreshes, through the real CLI: an API that lists a job's links in another
order on every answer (the simulator's `reorder_links`) must still get every file saved, each
with its own bytes, under its own result."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli, add_account


def _object_key(sim: Simulator, url: str) -> str:
    return unquote(urlsplit(url).path).removeprefix(f"/{sim.storage.bucket}/")


def test_reordered_links_on_refresh_save_every_file_with_its_own_bytes(
    cli: Cli, simulator: Simulator
) -> None:
    simulator.config.reorder_links = True
    # Every reading of the clock is a new second: each answer signs new links.
    start, ticks = time.time(), itertools.count()
    simulator.config.clock = lambda: start + next(ticks)
    account = add_account(cli, simulator, "testo")
    body = json.dumps({"options": {"result_file_format": "CSV"}})
    submitted = cli.json("submit", account, "--body", body, "--param", "sim_files=3", "--json")
    remote_id = submitted["remote_id"]
    # The second file's link dies half-way: the download asks the API again, which answers
    # with fresh links in another order, after the first file was saved.
    simulator.storage.add_fault(
        StorageFault(key=f"testo/{remote_id}/part-00001.csv", expire_at=0.5)
    )
    downloads = cli.data_dir.parent / "downloads"
    watch = cli("watch", "--until-done", "--timeout", "60", "--download-dir", str(downloads))
    assert watch.stdout.count(" saved ") == 4, watch.stdout  # each file once

    (job,) = [j for j in cli.json("jobs", "--json") if j["id"] == submitted["id"]]
    expected = simulator.expected_results("testo", remote_id)
    assert len(job["results"]) == len(expected) == 4, job["results"]
    saved = []
    for result in job["results"]:
        assert result["download_state"] == "done", result
        path = Path(result["path"])
        data = path.read_bytes()
        # each result holds the bytes of the object its own link names
        assert data == simulator.storage.object_bytes(_object_key(simulator, result["url"]))
        assert result["bytes"] == len(data)
        saved.append(data)
    assert sorted(saved) == sorted(expected)
    folder = downloads / job["account"] / job["id"]
    assert not list(folder.glob("*.part"))
    statuses = [r.status for r in simulator.requests("storage")]
    assert 403 in statuses  # the refresh did happen
