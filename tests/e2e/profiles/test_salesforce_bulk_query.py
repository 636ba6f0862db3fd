"""The bundled `salesforce-bulk-query` profile through the real CLI against the simulator's
Salesforce org (docs/profiles/salesforce-bulk-query.md): an account with the external client
app's consumer key and secret on stdin and only its base URL (client credentials flow, the
org's own token endpoint on the base URL's origin; `--option token_url` still replaces it),
the documented query-job request, the job polled by id until JobComplete, and every set of its
CSV result saved as a numbered file, each next set found by the `Sforce-Locator` header of the
one before. The token endpoint gets the client secret, the API only the access tokens it issued,
and no other host anything; a revoked session is not used again. An account of a web-server-flow
app (`--option grant=refresh_token`) holds the user's refresh token too, and the token endpoint
gets it with the refresh token grant."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

from jobdock.simulator import Simulator
from jobdock.simulator.salesforce import SalesforceApi
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.e2e.profiles.support import assert_credentials_only_at, assert_in_keyring, saved_files

PROVIDER = "salesforce-bulk-query"
# https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_walkthrough.htm
REQUEST = {"operation": "query", "query": "SELECT Id, Name FROM Account"}
PATH = "services/data/v62.0/jobs/query"


def add_account(cli: Cli, sim: Simulator, name: str = "org") -> dict[str, str]:
    named = sim.salesforce_oauth_secrets()
    stdin = "".join(f"{k}={v}\n" for k, v in named.items())
    # only the base URL: the token endpoint is on its origin (the org's My Domain)
    cli("accounts", "add", name, "--provider", PROVIDER, "--base-url", sim.base_url(PROVIDER),
        *FAST_POLLS, "--secret-stdin", stdin=stdin)  # fmt: skip
    assert_in_keyring(cli, name, named.values())
    return named


def test_a_query_job_is_saved_set_by_set_by_its_locators(simulator: Simulator, cli: Cli):
    named = add_account(cli, simulator)
    job = cli.json("submit", "org", "--path", PATH, "--body", json.dumps(REQUEST),
                   "--param", "sim_files=3", "--param", "sim_size=4000", "--json")  # fmt: skip
    job_id = job["remote_id"]
    assert job_id.startswith("750") and len(job_id) == 18
    assert job["remote_state"] == "UploadComplete" and job["state"] == "queued"
    assert job["status_url"] == f"{simulator.base_url(PROVIDER)}/{PATH}/{job_id}"
    cli("watch", "--until-done", "--timeout", "60")
    (done,) = cli.json("jobs", "--json")
    assert (done["state"], done["remote_state"]) == ("succeeded", "JobComplete")
    served = simulator.expected_results(PROVIDER, job_id)
    assert len(served) == 3 and saved_files(done) == served
    assert all(s.startswith(b'"Id","Name"\n') for s in served)
    assert [Path(r["path"]).name for r in done["results"]] == [
        f"query-{job_id}-00{n}.csv" for n in (1, 2, 3)
    ]
    api = simulator.requests(PROVIDER)
    results = [r for r in api if r.path.endswith("/results")]
    locators = [r.params.get("locator") for r in results]
    assert None in locators and len({loc for loc in locators if loc}) == 2
    assert all(r.params["maxRecords"] == "50000" for r in results)
    assert all(r.status == 200 for r in api)
    posts = [r for r in api if r.method == "POST" and r.path == f"/{PATH}"]
    assert [json.loads(r.body) for r in posts] == [REQUEST]
    grants = [r for r in api if r.path == "/services/oauth2/token"]
    assert grants and all("authorization" not in r.headers for r in grants)
    tokens = simulator.salesforce_access_tokens()
    calls = [r for r in api if r.path != "/services/oauth2/token"]
    assert all(r.headers["authorization"].removeprefix("Bearer ") in tokens for r in calls)
    secret = named["client_secret"]
    assert not any(secret in " ".join([*r.headers.values(), r.query, r.body.decode()])
                   for r in calls)  # fmt: skip
    assert_credentials_only_at(simulator, {PROVIDER}, [secret, *tokens])


def test_a_failed_job_a_revoked_session_and_a_refused_request(simulator: Simulator, cli: Cli):
    add_account(cli, simulator)
    cli.json("submit", "org", "--param", "sim_outcome=fail", "--json")  # the default request
    api = simulator.apis[PROVIDER]
    assert isinstance(api, SalesforceApi)
    api.revoke_sessions()  # the session is revoked: the watch gets a token of its own
    cli("watch", "--until-done", "--timeout", "60", expect=1)
    (failed,) = cli.json("jobs", "--json")
    assert (failed["state"], failed["remote_state"]) == ("failed", "Failed")
    assert failed["error"].startswith("INVALID_FIELD: No such column 'Nmae' on entity 'Account'")
    assert len(simulator.salesforce_access_tokens()) == 2  # the submit's and the watch's
    refused = cli("submit", "org", "--path", PATH, "--body",
                  json.dumps({"operation": "upsert", "query": "SELECT Id FROM Account"}),
                  expect=1)  # fmt: skip
    assert "Invalid operation" in refused.stderr
    assert len(cli.json("jobs", "--json")) == 1
    add = ["accounts", "add", "bad", "--provider", PROVIDER, "--base-url",
           simulator.base_url(PROVIDER), "--option",
           f"token_url={simulator.base_url(PROVIDER)}/services/oauth2/token"]  # fmt: skip
    cli(*add, "--secret-stdin", stdin="client_id=x\nclient_secret=wrong-secret\n")
    grants = len(simulator.requests(PROVIDER))
    bad = cli("submit", "bad", expect=None)
    assert bad.returncode != 0 and "wrong-secret" not in bad.stdout + bad.stderr
    (refused,) = simulator.requests(PROVIDER)[grants:]  # the option's endpoint refused it
    assert (refused.path, refused.status) == ("/services/oauth2/token", 400)


def test_an_account_option_token_url_replaces_the_my_domain_endpoint(
    simulator: Simulator, cli: Cli
) -> None:
    stdin = "".join(f"{k}={v}\n" for k, v in simulator.salesforce_oauth_secrets().items())
    elsewhere = f"{simulator.origin('amazon-lwa')}/services/oauth2/token"  # not the org's
    cli("accounts", "add", "org", "--provider", PROVIDER, "--base-url",
        simulator.base_url(PROVIDER), "--option", f"token_url={elsewhere}", "--secret-stdin",
        stdin=stdin)  # fmt: skip
    assert cli("submit", "org", expect=None).returncode != 0
    assert [r.path for r in simulator.requests("amazon-lwa")] == ["/services/oauth2/token"]
    assert simulator.requests(PROVIDER) == []


def test_an_account_of_the_refresh_token_grant(simulator: Simulator, cli: Cli) -> None:
    """docs/profiles/salesforce-bulk-query.md: `--option grant=refresh_token` and three secrets
    on stdin; the org's token endpoint gets the refresh token grant, the API only the access
    token, and the job runs to the end."""
    named = simulator.salesforce_oauth_secrets("refresh_token")
    stdin = "".join(f"{k}={v}\n" for k, v in named.items())
    add = ["accounts", "add", "org", "--provider", PROVIDER, "--base-url",
           simulator.base_url(PROVIDER), *FAST_POLLS]  # fmt: skip
    two = "".join(f"{k}={v}\n" for k, v in named.items() if k != "refresh_token")
    missing = cli(*add, "--option", "grant=refresh_token", "--secret-stdin", stdin=two, expect=2)
    assert "missing refresh_token" in missing.stderr
    bad = cli(*add, "--option", "grant=password", "--secret-stdin", stdin=stdin, expect=2)
    assert "--option grant='password' is not one of client_credentials, refresh_token" in (
        bad.stderr
    )
    assert_in_keyring(cli, "org", [])  # nothing stored
    assert cli.json("accounts", "list", "--json") == []
    cli(*add, "--option", "grant=refresh_token", "--secret-stdin", stdin=stdin)
    assert_in_keyring(cli, "org", named.values())  # one entry holds all three
    job = cli.json("submit", "org", "--path", PATH, "--body", json.dumps(REQUEST), "--json")
    cli("watch", "--until-done", "--timeout", "60")
    (done,) = cli.json("jobs", "--json")
    assert (done["state"], done["remote_state"]) == ("succeeded", "JobComplete")
    assert saved_files(done) == simulator.expected_results(PROVIDER, job["remote_id"])
    api = simulator.requests(PROVIDER)
    grants = [r for r in api if r.path == "/services/oauth2/token"]
    assert len(grants) == 2  # the submit's process and the watch's: tokens live in memory
    for grant in grants:
        assert grant.status == 200 and grant.method == "POST"
        assert dict(parse_qsl(grant.body.decode())) == {"grant_type": "refresh_token", **named}
        assert "authorization" not in grant.headers
    tokens = simulator.salesforce_access_tokens()
    calls = [r for r in api if r.path != "/services/oauth2/token"]
    assert calls and all(r.status == 200 for r in calls)
    assert all(r.headers["authorization"].removeprefix("Bearer ") in tokens for r in calls)
    for secret in named.values():
        assert not any(secret in " ".join([*r.headers.values(), r.query, r.body.decode()])
                       for r in calls)  # fmt: skip
    assert_credentials_only_at(simulator, {PROVIDER}, [*named.values(), *tokens])
    # a refresh token the org does not know (revoked, expired): refused, and said so
    stale = stdin.replace(named["refresh_token"], "5Aep861-revoked-token")
    cli("accounts", "add", "stale", *add[3:], "--option", "grant=refresh_token",
        "--secret-stdin", stdin=stale)  # fmt: skip
    refused = cli("submit", "stale", expect=None)
    assert refused.returncode != 0 and "5Aep861-revoked" not in refused.stdout + refused.stderr
    assert "check the client id and secret and the refresh token" in refused.stderr
    assert simulator.requests(PROVIDER)[-1].status == 400


def test_a_rotated_refresh_token_is_kept_in_the_keyring_between_runs(
    simulator: Simulator, cli: Cli
) -> None:
    """docs/profiles/salesforce-bulk-query.md: an app with refresh token rotation on answers a
    new refresh token at each renewal and refuses the old one (using it again revokes the
    chain). Each `jobdock` process that exchanges (each `submit`, each `watch`) writes the new
    one to the account's keyring entry, and the next process reads it there: two jobs in two
    runs both end well, the entry holds the newest refresh token, and no refresh token or
    access token is in the store, the log, the saved files or any output."""
    simulator.config.salesforce_rotate_refresh_tokens = True
    named = simulator.salesforce_oauth_secrets("refresh_token")
    stdin = "".join(f"{k}={v}\n" for k, v in named.items())
    cli("accounts", "add", "org", "--provider", PROVIDER, "--base-url",
        simulator.base_url(PROVIDER), *FAST_POLLS, "--option", "grant=refresh_token",
        "--secret-stdin", stdin=stdin)  # fmt: skip
    said: list[str] = []
    for _ in range(2):
        submitted = cli("submit", "org", "--path", PATH, "--body", json.dumps(REQUEST), "--json")
        watched = cli("watch", "--until-done", "--timeout", "60")
        said += [submitted.stdout, submitted.stderr, watched.stdout, watched.stderr]
    jobs = cli.json("jobs", "--json")
    assert len(jobs) == 2
    for job in jobs:
        assert (job["state"], job["remote_state"]) == ("succeeded", "JobComplete")
        assert saved_files(job) == simulator.expected_results(PROVIDER, job["remote_id"])
    given = simulator.salesforce_refresh_tokens()
    assert len(given) == 5  # the one added, then one rotation by each of the four processes
    assert_in_keyring(cli, "org", [named["client_id"], named["client_secret"], given[-1]])
    grants = [r for r in simulator.requests(PROVIDER) if r.path == "/services/oauth2/token"]
    assert [dict(parse_qsl(g.body.decode()))["refresh_token"] for g in grants] == given[:-1]
    assert all(g.status == 200 for g in grants)  # none stale: not one refusal
    tokens = [*given, *simulator.salesforce_access_tokens()]
    assert not any(t in text for t in tokens for text in said)
    files = [p for p in cli.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any(p.name == "jobs.sqlite3" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not any(t.encode() in data for t in tokens), path
    assert_credentials_only_at(simulator, {PROVIDER}, [*named.values(), *tokens])
