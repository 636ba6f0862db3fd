"""The fake Salesforce org: the client credentials token endpoint, a Bulk API 2.0 query job's
states on a fake clock, its result in sets chained by `Sforce-Locator`, `maxRecords`, the API
version rule, gzip, abort, and the documented error bodies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator
from jobdock.simulator.salesforce import SalesforceApi

PROVIDER = "salesforce-bulk-query"
JOBS = "/services/data/v62.0/jobs/query"
QUERY = {"operation": "query", "query": "SELECT Id, Name FROM Account"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=3.0, clock=clock)) as simulator:
        yield simulator


def _client(sim: Simulator) -> httpx.Client:
    named = sim.salesforce_oauth_secrets()
    base = sim.base_url(PROVIDER)
    grant = httpx.post(f"{base}/services/oauth2/token",
                       data={"grant_type": "client_credentials", **named})  # fmt: skip
    assert grant.status_code == 200
    token = grant.json()
    assert token["instance_url"] == base and token["token_type"] == "Bearer"
    assert "expires_in" not in token and token["issued_at"].isdigit()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    return httpx.Client(base_url=base, headers=auth, timeout=10)


def test_a_query_job_runs_and_serves_its_result_in_sets(sim: Simulator, clock: FakeClock):
    with _client(sim) as api:
        created = api.post(JOBS, params={"sim_files": "3", "sim_size": "2000"}, json=QUERY)
        assert created.status_code == 200
        job = created.json()
        assert (job["state"], job["object"], job["operation"]) == (
            "UploadComplete", "Account", "query")  # fmt: skip
        assert job["id"].startswith("750") and len(job["id"]) == 18
        url = f"{JOBS}/{job['id']}"
        assert api.get(f"{url}/results").status_code == 400  # not complete yet
        clock.advance(2)
        assert api.get(url).json()["state"] == "InProgress"
        clock.advance(2)
        done = api.get(url).json()
        assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] > 0
        sets, locator, counts = [], None, []
        while locator != "null":
            params = {"maxRecords": "50000", **({"locator": locator} if locator else {})}
            answer = api.get(f"{url}/results", params=params)
            assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv"
            sets.append(answer.content)
            counts.append(int(answer.headers["Sforce-NumberOfRecords"]))
            locator = answer.headers["Sforce-Locator"]
        assert len(sets) == 3 and all(s.startswith(b'"Id","Name"\n') for s in sets)
        assert sets == sim.expected_results(PROVIDER, job["id"])
        assert sum(counts) == done["numberRecordsProcessed"]
        small = api.get(f"{url}/results", params={"maxRecords": "2"})
        assert small.headers["Sforce-NumberOfRecords"] == "2"
        again = api.get(
            f"{url}/results", params={"maxRecords": "2", "locator": small.headers["Sforce-Locator"]}
        )
        assert again.content.count(b"\n") == 3  # header and two records: a locator is stable
        zipped = api.get(f"{url}/results", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == sets[0]  # httpx decodes it
        other = api.get(f"/services/data/v61.0/jobs/query/{job['id']}/results")
        assert other.status_code == 409
        assert api.get(f"{url}/results", params={"locator": "!!"}).status_code == 400


def test_failure_abort_and_errors(sim: Simulator, clock: FakeClock):
    with _client(sim) as api:
        failing = api.post(JOBS, params={"sim_outcome": "fail"}, json=QUERY).json()
        running = api.post(JOBS, json=QUERY).json()
        aborted = api.patch(f"{JOBS}/{running['id']}", json={"state": "Aborted"})
        assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
        clock.advance(5)
        failed = api.get(f"{JOBS}/{failing['id']}").json()
        assert failed["state"] == "Failed" and "INVALID_FIELD" in failed["errorMessage"]
        assert api.get(f"{JOBS}/{running['id']}").json()["state"] == "Aborted"
        again = api.patch(f"{JOBS}/{running['id']}", json={"state": "Aborted"})
        assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALIDJOB"
        bad = api.post(JOBS, json={"operation": "upsert", "query": "SELECT Id FROM Account"})
        assert bad.status_code == 400 and "Invalid operation" in bad.json()[0]["message"]
        assert api.post(JOBS, json={"operation": "query"}).status_code == 400
        missing = api.get(f"{JOBS}/750000000000000AAA")
        assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
        fake = sim.apis[PROVIDER]
        assert isinstance(fake, SalesforceApi)
        fake.revoke_sessions()
        expired = api.get(f"{JOBS}/{running['id']}")
        assert expired.status_code == 401
        assert expired.json() == [{"message": "Session expired or invalid",
                                   "errorCode": "INVALID_SESSION_ID"}]  # fmt: skip
    token_url = f"{sim.base_url(PROVIDER)}/services/oauth2/token"
    wrong = httpx.post(token_url, data={"grant_type": "client_credentials", "client_id": "x",
                                        "client_secret": "y"})  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client_id"
    refresh = httpx.post(token_url, data={"grant_type": "password"})
    assert refresh.json()["error"] == "unsupported_grant_type"


def test_the_refresh_token_flow(sim: Simulator):
    """The refresh token flow of a web-server-flow app (help.salesforce.com,
    remoteaccess_oauth_refresh_token_flow): the consumer key and secret and the user's refresh
    token answer a session, no new refresh token; another refresh token is `invalid_grant`."""
    named = sim.salesforce_oauth_secrets("refresh_token")
    assert set(named) == {"client_id", "client_secret", "refresh_token"}
    assert named["refresh_token"].startswith("5Aep861")
    base = sim.base_url(PROVIDER)
    token_url = f"{base}/services/oauth2/token"
    grant = httpx.post(token_url, data={"grant_type": "refresh_token", **named})
    assert grant.status_code == 200
    token = grant.json()
    assert set(token) == {"access_token", "signature", "instance_url", "id", "token_type",
                          "issued_at"}  # fmt: skip
    assert token["instance_url"] == base and token["token_type"] == "Bearer"
    assert token["access_token"] in sim.salesforce_access_tokens()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.post(f"{base}{JOBS}", headers=auth, json=QUERY).status_code == 200
    stale = httpx.post(token_url, data={**named, "grant_type": "refresh_token",
                                        "refresh_token": "5Aep861-revoked"})  # fmt: skip
    assert stale.status_code == 400
    assert stale.json() == {"error": "invalid_grant",
                            "error_description": "expired access/refresh token"}  # fmt: skip
    without = {k: v for k, v in named.items() if k != "refresh_token"}
    missing = httpx.post(token_url, data={"grant_type": "refresh_token", **without})
    assert missing.json()["error"] == "invalid_grant"
    wrong = httpx.post(token_url, data={**named, "grant_type": "refresh_token",
                                        "client_secret": "nope"})  # fmt: skip
    assert wrong.json()["error"] == "invalid_client"
    assert len(sim.salesforce_access_tokens()) == 1


def test_refresh_token_rotation(sim: Simulator):
    """`salesforce_rotate_refresh_tokens` (help.salesforce.com 005316711, refresh token
    rotation): each grant answers a new refresh token and the one sent is refused from then
    on; using one of those again revokes the current one and the sessions it gave."""
    sim.config.salesforce_rotate_refresh_tokens = True
    named = sim.salesforce_oauth_secrets("refresh_token")
    first = named["refresh_token"]
    token_url = f"{sim.base_url(PROVIDER)}/services/oauth2/token"

    def grant(refresh_token: str) -> httpx.Response:
        return httpx.post(token_url, data={**named, "grant_type": "refresh_token",
                                           "refresh_token": refresh_token})  # fmt: skip

    answer = grant(first).json()
    second = answer["refresh_token"]
    assert second != first and second.startswith("5Aep861")
    assert set(answer) == {"access_token", "signature", "instance_url", "id", "token_type",
                           "issued_at", "refresh_token"}  # fmt: skip
    assert sim.salesforce_oauth_secrets("refresh_token")["refresh_token"] == second
    third = grant(second).json()["refresh_token"]
    assert sim.salesforce_refresh_tokens() == [first, second, third]
    session = {"Authorization": f"Bearer {answer['access_token']}"}
    jobs = f"{sim.base_url(PROVIDER)}{JOBS}"
    assert httpx.post(jobs, headers=session, json=QUERY).status_code == 200
    reused = grant(first)  # an invalidated one again: refused, and the chain is revoked
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert grant(third).json()["error"] == "invalid_grant"
    assert httpx.post(jobs, headers=session, json=QUERY).status_code == 401
    # the client credentials flow's sessions are not the refresh token's
    others = httpx.post(token_url, data={"grant_type": "client_credentials",
                                         **sim.salesforce_oauth_secrets()})  # fmt: skip
    assert others.status_code == 200
