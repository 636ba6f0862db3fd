"""Every provider followed end to end through the CLI, as a user would: add an account (secret on
stdin), submit or track, `watch --until-done`, `jobs --json`, and the saved files byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli, add_account

SECRET_HEADERS = ("api-key", "x-custom-api-key", "authorization", "shoptet-private-api-token")


def _settle_and_check(cli: Cli, sim: Simulator, provider: str, job_id: str) -> dict[str, Any]:
    downloads = cli.data_dir.parent / "downloads"
    watch = cli("watch", "--until-done", "--timeout", "60", "--download-dir", str(downloads))
    assert "saved" in watch.stdout
    jobs = {j["id"]: j for j in cli.json("jobs", "--json")}
    job = jobs[job_id]
    assert job["state"] == "succeeded", job
    assert job["provider"] == provider and (job["remote_id"] or job["status_url"])
    # cisco-cce names a job only by its polling URL: the simulator keys it by the URL's last part
    key = job["remote_id"] or job["status_url"].rstrip("/").rsplit("/", 1)[-1]
    expected = sim.expected_results(provider, key)
    saved = [r for r in job["results"] if r["download_state"] == "done"]
    assert len(saved) == len(job["results"]) == len(expected) >= 1
    for result, content in zip(saved, expected, strict=True):
        path = Path(result["path"])
        assert path.is_relative_to(downloads / job["account"] / job_id)
        assert path.read_bytes() == content
        assert result["bytes"] == len(content)
        assert not path.with_name(path.name + ".part").exists()
    return job


def test_vainu_submit(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    job_id = cli("submit", account, "--param", "country=FI", "--param", "async_format=csv")
    _settle_and_check(cli, simulator, "vainu", job_id.stdout.strip())


def test_testo_submit_several_files(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "testo")
    body = json.dumps({"time_range": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
                       "options": {"result_file_format": "CSV"}})  # fmt: skip
    submitted = cli.json("submit", account, "--body", body, "--param", "sim_files=3", "--json")
    assert submitted["state"] == "queued" and submitted["remote_state"] == "Submitted"
    job = _settle_and_check(cli, simulator, "testo", submitted["id"])
    assert len(job["results"]) == 4  # three data files and the metadata file
    # the pre-signed storage never saw the API key
    storage = simulator.requests("storage")
    assert storage and not any(h in r.headers for r in storage for h in SECRET_HEADERS)


def test_cisco_cce_xml_body(cli: Cli, simulator: Simulator, tmp_path: Path) -> None:
    account = add_account(cli, simulator, "cisco-cce")
    body = tmp_path / "calltype.xml"
    body.write_text("<callType><name>support</name><description>e2e</description></callType>")
    job_id = cli("submit", account, "--method", "POST", "--path", "calltype",
                 "--body", f"@{body}").stdout.strip()  # fmt: skip
    job = _settle_and_check(cli, simulator, "cisco-cce", job_id)
    assert job["results"][0]["path"].endswith(".xml")


def test_generic_202_put(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "generic-202")
    job_id = cli("submit", account, "--method", "PUT", "--path", "items/e2e-1",
                 "--body", '{"name": "e2e"}').stdout.strip()  # fmt: skip
    _settle_and_check(cli, simulator, "generic-202", job_id)


def test_shoptet_track_existing_job(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "shoptet")
    # A job started elsewhere (another tool, a colleague): Jobdock is only told its id.
    response = httpx.get(
        simulator.base_url("shoptet") + "/api/products/snapshot",
        headers={"Shoptet-Private-API-Token": simulator.secret("shoptet")},
    )
    remote_id = response.json()["data"]["jobId"]
    tracked = cli.json("track", account, remote_id, "--json")
    assert tracked["remote_id"] == remote_id
    again = cli.json("track", account, remote_id, "--json")
    assert again["id"] == tracked["id"]  # tracking twice is one job
    _settle_and_check(cli, simulator, "shoptet", tracked["id"])


def test_vainu_track_by_status_url(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    started = httpx.get(
        simulator.base_url("vainu") + "/companies/async/",
        params={"async_format": "json"},
        headers={"API-Key": simulator.secret("vainu")},
    ).json()
    job_id = cli("track", account, started["link"]).stdout.strip()
    _settle_and_check(cli, simulator, "vainu", job_id)


def test_failed_job_exits_1_with_its_message(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "testo")
    job_id = cli("submit", account, "--param", "sim_outcome=fail").stdout.strip()
    watch = cli("watch", "--until-done", "--timeout", "60", expect=1)
    assert f"{job_id} {account} failed" in watch.stdout
    job = cli.json("jobs", "--json")[0]
    assert job["state"] == "failed" and job["error"]
    assert cli.json("jobs", "--json", "--state", "succeeded") == []


def test_watch_timeout_exits_3(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    cli("submit", account, "--param", "sim_duration=30")
    done = cli("watch", "--until-done", "--timeout", "0.5", expect=3)
    assert "timeout" in done.stdout


@pytest.mark.parametrize("no_auto", [True])
def test_manual_download_after_watch_without_auto(
    cli: Cli, simulator: Simulator, tmp_path: Path, no_auto: bool
) -> None:
    account = add_account(cli, simulator, "vainu")
    job_id = cli("submit", account).stdout.strip()
    cli("watch", "--until-done", "--timeout", "60", "--no-auto-download")
    job = cli.json("jobs", "--json")[0]
    assert job["state"] == "succeeded" and job["results"][0]["download_state"] == "pending"
    target = tmp_path / "here"
    saved = Path(cli("download", job_id, "--to", str(target)).stdout.strip())
    assert saved.parent == target
    assert saved.read_bytes() == simulator.expected_results("vainu", job["remote_id"])[0]
    cli("remove", job_id)
    assert cli.json("jobs", "--json") == []
    assert saved.exists()  # files stay
