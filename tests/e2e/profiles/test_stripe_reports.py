"""The bundled `stripe-reports` profile through the real CLI against the simulator's Stripe
(docs/profiles/stripe-reports.md): a report run started with the Reports guide's own form
request, followed by id until `succeeded`, and its CSV saved from `result.url` on the file host,
which is a declared result host (`--option result_hosts=…`) and so gets the secret key; no other
host gets it. A failed run fails the job with Stripe's `error`."""

from __future__ import annotations

import json
from pathlib import Path

from jobdock.simulator import Simulator
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.e2e.profiles.support import assert_credentials_only_at, assert_in_keyring, saved_job

# https://docs.stripe.com/reports/api: "Create a run"
RUN = (
    "report_type=balance.summary.1&parameters[interval_start]=1680000000"
    "&parameters[interval_end]=1680100000"
)
FORM = "application/x-www-form-urlencoded"


def add_account(cli: Cli, sim: Simulator) -> None:
    cli("accounts", "add", "st", "--provider", "stripe-reports", "--base-url",
        sim.base_url("stripe-reports"), "--option", f"result_hosts={sim.origin('stripe-files')}",
        *FAST_POLLS, "--secret-stdin", stdin=sim.secret("stripe-reports") + "\n")  # fmt: skip
    assert_in_keyring(cli, "st", [sim.secret("stripe-reports")])


def test_a_report_run_is_saved_from_the_file_host_with_the_key(cli: Cli, simulator: Simulator):
    add_account(cli, simulator)
    job = cli.json("submit", "st", "--body", RUN, "--content-type", FORM, "--json")
    run_id = job["remote_id"]
    assert run_id.startswith("frr_") and job["state"] == "running"  # "status": "pending"
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "stripe-reports")
    (path,) = (Path(r["path"]) for r in saved["results"])  # type: ignore[attr-defined]
    assert path.name == f"stripe-{run_id}.csv"
    assert path.read_bytes().startswith(b"category,description,net_amount,currency\n")
    api = simulator.requests("stripe-reports")
    assert (api[0].method, api[0].path, api[0].body.decode()) == (
        "POST",
        "/v1/reporting/report_runs",
        RUN,
    )
    assert api[0].headers["content-type"] == FORM
    assert {(r.method, r.path) for r in api[1:]} == {("GET", f"/v1/reporting/report_runs/{run_id}")}
    (download,) = [r for r in simulator.requests("stripe-files") if r.status == 200]
    assert download.path.startswith("/v1/files/file_") and download.path.endswith("/contents")
    key = simulator.secret("stripe-reports")
    home = [*api, *simulator.requests("stripe-files")]
    assert all(r.headers["authorization"] == f"Bearer {key}" for r in home)
    assert_credentials_only_at(simulator, {"stripe-reports", "stripe-files"}, [key])


def test_a_failed_run_fails_the_job_with_stripes_error(cli: Cli, simulator: Simulator) -> None:
    add_account(cli, simulator)
    # the profile's own request: the last month's balance summary, times from {now-…:epoch}
    cli("submit", "st", "--param", "sim_outcome=fail")
    cli("watch", "--until-done", "--timeout", "60", expect=1)  # a job failed
    (job,) = json.loads(cli("jobs", "--json").stdout)
    assert (job["state"], job["remote_state"]) == ("failed", "failed")
    assert job["error"] == "The report could not be run (simulated)."
    (post,) = [r for r in simulator.requests("stripe-reports") if r.method == "POST"]
    assert post.body.startswith(b"report_type=balance.summary.1&parameters[interval_start]=")
    assert simulator.requests("stripe-files") == []
