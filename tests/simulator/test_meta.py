"""The fake Meta Marketing API: an async insights report run's states on a fake clock, its pages
chained by `paging.next` (which carries the access token the request presented, in its query or
as `Authorization: Bearer`, as the Graph API's paging links do), and the Graph API's error
bodies."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

PROVIDER = "meta-insights"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=4.0, clock=clock)) as simulator:
        yield simulator


def test_a_report_run_runs_and_pages_its_insights(sim: Simulator, clock: FakeClock):
    base, token = sim.base_url(PROVIDER), sim.secret(PROVIDER)
    assert base.endswith("/v21.0")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base + "/", headers=auth, timeout=10) as api:
        request = {"level": "ad", "sim_files": "3", "fields": "ad_id,impressions,spend"}
        started = api.post("act_42/insights", params=request)
        assert started.status_code == 200 and list(started.json()) == ["report_run_id"]
        run_id = started.json()["report_run_id"]
        assert api.get(run_id).json()["async_status"] == "Job Not Started"
        assert api.get(f"{run_id}/insights").status_code == 400  # not completed yet
        clock.advance(1.5)
        assert api.get(run_id).json()["async_status"] == "Job Started"
        clock.advance(2)
        running = api.get(run_id).json()
        assert running["async_status"] == "Job Running"
        assert 0 < running["async_percent_completion"] < 100
        clock.advance(2)
        done = api.get(run_id).json()
        assert (done["async_status"], done["async_percent_completion"]) == ("Job Completed", 100)
        assert done["account_id"] == "42" and done["time_completed"] >= done["time_ref"]
        served, url = [], f"{base}/{run_id}/insights?limit=500"
        while url:
            page = api.get(url)
            served.append(page.content)
            url = page.json()["paging"].get("next")
            assert url is None or parse_qs(urlsplit(url).query)["access_token"] == [token]
        assert served == sim.expected_results(PROVIDER, run_id) and len(served) == 3
    in_query = httpx.get(f"{base}/{run_id}/insights", params={"access_token": token, "limit": 2})
    following = in_query.json()["paging"]["next"]
    assert parse_qs(urlsplit(following).query)["access_token"] == [token]  # echoed, as Meta does
    assert len(in_query.json()["data"]) == 2


def test_failed_and_skipped_runs_and_errors(sim: Simulator, clock: FakeClock):
    base, token = sim.base_url(PROVIDER), sim.secret(PROVIDER)
    with httpx.Client(base_url=base + "/", params={"access_token": token}, timeout=10) as api:
        failing = api.post("act_42/insights", params={"sim_outcome": "fail"}).json()
        skipped = api.post("act_42/insights", params={"sim_outcome": "skip"}).json()
        clock.advance(6)
        assert api.get(failing["report_run_id"]).json()["async_status"] == "Job Failed"
        assert api.get(skipped["report_run_id"]).json()["async_status"] == "Job Skipped"
        bad = api.post("act_42/insights", params={"level": "bogus"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == 100
        missing = api.get("1234567890123456")
        assert missing.json()["error"]["type"] == "GraphMethodException"
    wrong = httpx.get(f"{base}/1234567890123456", params={"access_token": "nope"})
    assert wrong.status_code == 400
    assert (wrong.json()["error"]["type"], wrong.json()["error"]["code"]) == ("OAuthException", 190)
