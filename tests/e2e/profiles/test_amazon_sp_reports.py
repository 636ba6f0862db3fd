"""The bundled `amazon-sp-reports` profile through the real CLI against the simulator's SP-API
Reports API and its Login with Amazon token endpoint (docs/profiles/amazon-sp-reports.md): an
account with the LWA client id, client secret and refresh token on stdin and the token endpoint
pointed at the fake with `--option token_url`, the Reports API's documented createReport
request, the report polled by id until DONE, its document fetched and saved from the five-minute
pre-signed URL (decompressed when the document says GZIP). The token endpoint gets the client
secret and the refresh token, the API only the access tokens, raw in `x-amz-access-token`, and
the storage nothing. SP-API refuses an expired or revoked token with 403, not 401: the token is
renewed once on it and the request sent again, and a 403 that persists fails the report."""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from jobdock.simulator import Simulator
from jobdock.simulator.amazon import SpReportsApi
from jobdock.simulator.config import FakeClock, SimConfig
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.e2e.profiles.support import assert_credentials_only_at, assert_in_keyring, saved_files
from tests.support.processes import stop_process
from tests.support.waiting import wait_until

# https://github.com/amzn/selling-partner-api-models, reports_2021-06-30.json: createReport's
# example request (the "Request a report" tutorial's parameters)
REQUEST = {
    "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
    "dataStartTime": "2024-03-10T20:11:24.000Z",
    "marketplaceIds": ["A1PA6795UKMFR9", "ATVPDKIKX0DER"],
}


def add_account(cli: Cli, sim: Simulator, name: str = "sp") -> dict[str, str]:
    named = sim.amazon_lwa_secrets()
    stdin = "".join(f"{k}={v}\n" for k, v in named.items())
    token_url = f"token_url={sim.origin('amazon-lwa')}/auth/o2/token"
    cli("accounts", "add", name, "--provider", "amazon-sp-reports", "--base-url",
        sim.base_url("amazon-sp-reports"), "--option", token_url, *FAST_POLLS,
        "--secret-stdin", stdin=stdin)  # fmt: skip
    assert_in_keyring(cli, name, named.values())  # all three, in the one keyring item
    return named


def test_a_report_is_polled_by_id_and_its_document_saved(simulator: Simulator, cli: Cli):
    named = add_account(cli, simulator)
    job = cli.json("submit", "sp", "--body", json.dumps(REQUEST), "--json")
    report_id = job["remote_id"]
    assert report_id.isdigit() and job["state"] == "queued"  # createReport: {"reportId"} only
    cli("watch", "--until-done", "--timeout", "60")
    (done,) = cli.json("jobs", "--json")
    assert (done["state"], done["remote_state"]) == ("succeeded", "DONE")
    served = simulator.expected_results("amazon-sp-reports", report_id)
    assert saved_files(done) == served and served[0].startswith(b"item-name\titem-description")
    assert [Path(r["path"]).name for r in done["results"]] == [f"report-{report_id}.txt"]

    api = simulator.requests("amazon-sp-reports")
    tokens = simulator.amazon_access_tokens()
    assert api and {r.status for r in api} == {200, 202}
    assert all(r.headers["x-amz-access-token"] in tokens for r in api)
    assert all("authorization" not in r.headers for r in api)
    (create,) = [r for r in api if r.method == "POST"]
    assert create.path == "/reports/2021-06-30/reports" and json.loads(create.body) == REQUEST
    polls = {r.path for r in api if r.method == "GET" and "/documents/" not in r.path}
    assert polls == {f"/reports/2021-06-30/reports/{report_id}"}
    assert any(r.path.startswith("/reports/2021-06-30/documents/amzn1.spdoc.") for r in api)
    grants = simulator.requests("amazon-lwa")
    assert grants and all((r.method, r.path, r.status) == ("POST", "/auth/o2/token", 200)
                          for r in grants)  # fmt: skip
    secrets = [named["client_secret"], named["refresh_token"]]
    for r in api:  # the API sees access tokens only
        assert not any(s in " ".join([*r.headers.values(), r.query, r.body.decode()])
                       for s in secrets)  # fmt: skip
    # the pre-signed document URL on the storage gets nothing; the token endpoint no token
    assert_credentials_only_at(simulator, {"amazon-sp-reports"}, tokens)
    assert_credentials_only_at(simulator, {"amazon-lwa"}, secrets)


def test_a_gzip_document_is_saved_decompressed_and_fatal_and_cancelled_reports_fail(
    simulator: Simulator, cli: Cli
):
    add_account(cli, simulator)
    body = json.dumps(REQUEST)
    packed = cli.json("submit", "sp", "--body", body, "--param", "sim_compression=GZIP", "--json")
    fatal = cli.json("submit", "sp", "--body", body, "--param", "sim_outcome=fail", "--json")
    empty = cli.json("submit", "sp", "--body", body, "--param", "sim_outcome=cancel", "--json")
    cli("watch", "--until-done", "--timeout", "60", expect=1)  # two reports did not succeed
    jobs = {j["remote_id"]: j for j in cli.json("jobs", "--json")}
    done = jobs[packed["remote_id"]]
    assert done["state"] == "succeeded"
    raw = simulator.amazon_served(packed["remote_id"])
    assert raw is not None and raw[:2] == b"\x1f\x8b"  # served gzip-compressed
    assert saved_files(done) == [gzip.decompress(raw)]
    assert saved_files(done) == simulator.expected_results("amazon-sp-reports", done["remote_id"])
    assert [Path(r["path"]).name for r in done["results"]] == [f"report-{done['remote_id']}.txt"]
    assert (jobs[fatal["remote_id"]]["state"], jobs[fatal["remote_id"]]["remote_state"]) == (
        "failed", "FATAL")  # fmt: skip
    assert (jobs[empty["remote_id"]]["state"], jobs[empty["remote_id"]]["remote_state"]) == (
        "cancelled", "CANCELLED")  # fmt: skip
    assert jobs[fatal["remote_id"]]["results"] == []


def test_a_refused_request_and_a_bad_client_secret(simulator: Simulator, cli: Cli):
    add_account(cli, simulator)
    refused = cli("submit", "sp", "--body", json.dumps({"reportType": "X"}), expect=None)
    assert refused.returncode != 0
    assert "rejected (HTTP 400): Invalid input (InvalidInput)" in refused.stderr  # SP-API's own
    assert cli.json("jobs", "--json") == []
    stdin = "client_id=amzn1.application-oa2-client.x\nclient_secret=wrong\nrefresh_token=Atzr|z\n"
    token_url = f"token_url={simulator.origin('amazon-lwa')}/auth/o2/token"
    cli("accounts", "add", "bad", "--provider", "amazon-sp-reports", "--base-url",
        simulator.base_url("amazon-sp-reports"), "--option", token_url, "--secret-stdin",
        stdin=stdin)  # fmt: skip
    denied = cli("submit", "bad", expect=None)
    assert denied.returncode != 0 and "wrong" not in denied.stderr.split()
    assert "refused the account's credentials" in denied.stderr
    assert [r.status for r in simulator.requests("amazon-lwa")][-1] == 401


@contextlib.contextmanager
def watching(cli: Cli, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`jobdock watch --until-done` in the background, its output in `out`."""
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobdock", "watch", "--until-done", "--timeout", "120"],
            env=cli.env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_process(process)  # type: ignore[arg-type]


def test_a_token_revoked_mid_job_is_renewed_once_and_the_report_still_saved(
    cli: Cli, tmp_path: Path
) -> None:
    # The simulator's clock stands still until the token is revoked: the report is still queued
    # when the watch's own token stops working, however slow the machine.
    clock = FakeClock(start=time.time())
    config = SimConfig(queue_time=0.1, run_time=0.3, result_size=48 * 1024, clock=clock)
    with Simulator(config) as simulator:
        add_account(cli, simulator)
        job = cli.json("submit", "sp", "--body", json.dumps(REQUEST), "--json")
        report = f"/reports/2021-06-30/reports/{job['remote_id']}"
        api = simulator.apis["amazon-sp-reports"]
        assert isinstance(api, SpReportsApi)
        out = tmp_path / "watch.txt"
        with watching(cli, out) as watch:
            wait_until(lambda: any(r.path == report for r in simulator.requests(api.name)),
                       timeout=60, what="the watch to poll the report")  # fmt: skip
            (_, watched) = simulator.amazon_access_tokens()  # each process its own
            api.revoke_tokens()  # revoked early, well within its hour
            wait_until(lambda: len(simulator.amazon_access_tokens()) == 3, timeout=60,
                       what="the watch to renew its token")  # fmt: skip
            clock.advance(10)  # the report is DONE now
            assert watch.wait(timeout=120) == 0, out.read_text()
        (done,) = cli.json("jobs", "--json")
        assert done["state"] == "succeeded", done
        assert saved_files(done) == simulator.expected_results(api.name, job["remote_id"])
        seen = simulator.requests(api.name)
        (refused,) = [r for r in seen if r.status == 403]  # once: renewed, then sent again
        renewed = simulator.amazon_access_tokens()[2]
        assert refused.headers["x-amz-access-token"] == watched and refused.path == report
        after = seen[seen.index(refused) + 1]
        assert (after.path, after.status, after.headers["x-amz-access-token"]) == (
            report, 200, renewed)  # fmt: skip
        assert all(r.headers["x-amz-access-token"] == renewed for r in seen[seen.index(after) :])
        assert len(simulator.requests("amazon-lwa")) == 3


def test_a_403_that_persists_after_the_renewal_fails_the_report_without_a_loop(
    simulator: Simulator, cli: Cli
) -> None:
    add_account(cli, simulator)
    job = cli.json("submit", "sp", "--body", json.dumps(REQUEST), "--json")
    api = simulator.apis["amazon-sp-reports"]
    assert isinstance(api, SpReportsApi)
    api.deny()  # every token refused, new ones too (an app without the role)
    cli("watch", "--until-done", "--timeout", "60", expect=1)
    (failed,) = cli.json("jobs", "--json")
    assert failed["state"] == "failed", failed
    assert "access denied (HTTP 403)" in failed["error"], failed["error"]
    assert "Access to requested resource is denied." in failed["error"], failed["error"]
    polls = [r for r in simulator.requests(api.name) if r.method == "GET"]
    # the watch's token refused, renewed once, the new one refused too: the answer, no loop
    assert [r.status for r in polls] == [403, 403], polls
    assert polls[0].path == polls[1].path == f"/reports/2021-06-30/reports/{job['remote_id']}"
    tokens = simulator.amazon_access_tokens()
    assert [r.headers["x-amz-access-token"] for r in polls] == tokens[1:3] and len(tokens) == 3
