"""The bundled `meta-insights` profile through the real CLI against the simulator's Marketing API
(docs/profiles/meta-insights.md): an access token on stdin, an async insights report run started
with the documented parameters, polled by its report_run_id until "Job Completed", and every page
of its insights saved as served, each next page found at the page's `paging.next`. The token goes
to the Graph API's origin only, in a header. The fake writes it into every `paging.next`, as the
Graph API does: the saved pages hold it (their bytes are the ones served), but no URL Jobdock asks
for, stores or shows does, nor the store, the log files, `jobs --json` or `watch`'s output."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli
from tests.e2e.profiles.support import (
    add_profile_account,
    assert_secret_stayed_home,
    saved_files,
    saved_job,
)

PROVIDER = "meta-insights"
# https://developers.facebook.com/docs/marketing-api/insights/best-practices/#asynchronous
PARAMS = ["level=campaign", "fields=campaign_id,campaign_name,impressions,spend",
          'time_range={"since":"2026-10-01","until":"2026-10-31"}']  # fmt: skip


def _submit(cli: Cli, *params: str) -> dict[str, str]:
    args = [p for param in (*PARAMS, *params) for p in ("--param", param)]
    return cli.json("submit", "ads", "--path", "act_1234567890/insights", *args, "--json")


def test_a_report_run_is_saved_page_by_page_from_paging_next(cli: Cli, simulator: Simulator):
    add_profile_account(cli, simulator, PROVIDER, "ads")
    job = _submit(cli, "sim_files=3")
    run_id = job["remote_id"]
    assert job["state"] == "queued" and run_id.isdigit()
    assert job["status_url"] == f"{simulator.base_url(PROVIDER)}/{run_id}"
    watched = cli("watch", "--until-done", "--timeout", "60", "--json")
    saved = saved_job(cli, simulator, PROVIDER)
    assert (saved["remote_state"], saved["progress"]) == ("Job Completed", 100)
    results = saved["results"]
    assert [Path(r["path"]).name for r in results] == [  # type: ignore[attr-defined]
        f"insights-{run_id}-00{n}.json" for n in (1, 2, 3)
    ]
    pages = [json.loads(Path(r["path"]).read_bytes()) for r in results]  # type: ignore[attr-defined]
    assert all(p["data"] and set(p["data"][0]) >= {"campaign_name", "spend"} for p in pages)
    assert "next" in pages[0]["paging"] and "next" not in pages[2]["paging"]
    api = simulator.requests(PROVIDER)
    (post,) = [r for r in api if r.method == "POST"]
    assert (post.path, post.params["level"]) == ("/v21.0/act_1234567890/insights", "campaign")
    reads = [r for r in api if r.path.endswith("/insights") and r.method == "GET"]
    secret = simulator.secret(PROVIDER)
    nexts = [parse_qs(urlsplit(p["paging"]["next"]).query) for p in pages[:2]]
    assert all(q["access_token"] == [secret] for q in nexts)  # echoed, as the Graph API does
    cli.vendor_files.extend(Path(r["path"]) for r in results)  # type: ignore[attr-defined]
    afters = {r.params.get("after") for r in reads}
    assert afters == {None, *(q["after"][0] for q in nexts)}
    assert all(r.status == 200 for r in api)
    assert all(secret not in r.query for r in api)  # each next followed without it
    listed = cli("jobs", "--json").stdout
    assert [r["url"] for r in json.loads(listed)[0]["results"]] == [
        f"{simulator.base_url(PROVIDER)}/{run_id}/insights?limit=500",
        *(p["paging"]["next"].replace(f"access_token={secret}&", "") for p in pages[:2]),
    ]  # each as served, less the token
    _submit(cli, "sim_files=2")  # and a second run, watched with every human line
    human = cli("watch", "--until-done", "--timeout", "60", "--verbose")
    both = cli("jobs", "--json").stdout
    for each in json.loads(both):  # as served, the token in their `paging.next` too
        assert saved_files(each) == simulator.expected_results(PROVIDER, each["remote_id"])
        cli.vendor_files.extend(Path(r["path"]) for r in each["results"])
    shown = [listed, both, cli("jobs").stdout, watched.stdout, watched.stderr, human.stdout,
             human.stderr]  # fmt: skip
    assert '"event": "saved"' in watched.stdout and " saved " in human.stdout
    assert all(secret not in text for text in shown)
    kept = [*cli.data_dir.glob("jobs.sqlite3*"), *(cli.data_dir / "logs").rglob("*.log*")]
    assert {"jobs.sqlite3", "jobdock.log"} <= {path.name for path in kept}
    for path in kept:  # the store (its WAL too) and every log file
        assert secret.encode() not in path.read_bytes(), path
    assert_secret_stayed_home(simulator, PROVIDER)


def test_a_failed_and_a_skipped_run_and_a_refused_request(cli: Cli, simulator: Simulator):
    add_profile_account(cli, simulator, PROVIDER, "ads")
    _submit(cli, "sim_outcome=fail")
    _submit(cli, "sim_outcome=skip")
    cli("watch", "--until-done", "--timeout", "60", expect=1)
    jobs = cli.json("jobs", "--json")
    assert sorted((j["state"], j["remote_state"]) for j in jobs) == [
        ("failed", "Job Failed"), ("failed", "Job Skipped")]  # fmt: skip
    assert all(j["results"] == [] for j in jobs)
    refused = cli("submit", "ads", "--path", "act_1234567890/insights", "--param", "level=bogus",
                  expect=1)  # fmt: skip
    assert "level must be one of" in refused.stderr
    assert len(cli.json("jobs", "--json")) == 2
