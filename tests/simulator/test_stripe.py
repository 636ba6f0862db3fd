"""The fake Stripe report runs and file host: the run's states on a fake clock, the result file
behind the same secret key (Basic user or bearer), and Stripe's errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

FORM = {"report_type": "balance.summary.1", "parameters[interval_start]": "1680000000",
        "parameters[interval_end]": "1680100000"}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=3.0, clock=clock)) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    auth = (sim.secret("stripe-reports"), "")  # curl -u sk_…:
    with httpx.Client(base_url=sim.base_url("stripe-reports"), auth=auth, timeout=10) as http:
        yield http


def test_a_report_run_succeeds_with_a_file_behind_the_key(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    run = client.post("/v1/reporting/report_runs", data=FORM).json()
    assert run["id"].startswith("frr_") and run["object"] == "reporting.report_run"
    assert (run["status"], run["result"], run["succeeded_at"]) == ("pending", None, None)
    assert run["parameters"] == {"interval_start": 1680000000, "interval_end": 1680100000}
    clock.advance(2)
    assert client.get(f"/v1/reporting/report_runs/{run['id']}").json()["status"] == "pending"
    clock.advance(2)
    done = client.get(f"/v1/reporting/report_runs/{run['id']}").json()
    assert done["status"] == "succeeded" and isinstance(done["succeeded_at"], int)
    result = done["result"]
    assert (result["object"], result["purpose"], result["type"]) == ("file", "finance_report_run",
                                                                     "csv")  # fmt: skip
    url = result["url"]
    assert url.startswith(sim.origin("stripe-files")) and url.endswith("/contents")
    assert httpx.get(url).status_code == 401  # the file needs the key
    key = sim.secret("stripe-reports")
    data = httpx.get(url, headers={"Authorization": f"Bearer {key}"}).content
    assert data == sim.expected_results("stripe-reports", run["id"])[0]
    assert data.startswith(b"category,description,net_amount,currency\n")
    assert result["size"] == len(data)


def test_a_failed_run_says_why(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    run = client.post("/v1/reporting/report_runs", data=FORM, params={"sim_outcome": "fail"})
    clock.advance(5)
    failed = client.get(f"/v1/reporting/report_runs/{run.json()['id']}").json()
    assert (failed["status"], failed["result"]) == ("failed", None)
    assert failed["error"] == "The report could not be run (simulated)."


def test_stripe_errors(sim: Simulator, client: httpx.Client) -> None:
    url = f"{sim.base_url('stripe-reports')}/v1/reporting/report_runs"
    missing = httpx.post(url, data=FORM)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("You did not provide an API key.")
    wrong = httpx.post(url, data=FORM, headers={"Authorization": "Bearer sk_test_wrongwrong1234"})
    assert wrong.status_code == 401 and "sk_test_" in wrong.json()["error"]["message"]
    no_type = client.post("/v1/reporting/report_runs", data={"parameters[interval_start]": "1"})
    assert no_type.status_code == 400 and no_type.json()["error"]["param"] == "report_type"
    unknown = client.post("/v1/reporting/report_runs", data={**FORM, "report_type": "nope.1"})
    assert unknown.json()["error"]["message"] == "No such report type: 'nope.1'"
    backwards = {**FORM, "parameters[interval_end]": "1670000000"}
    refused = client.post("/v1/reporting/report_runs", data=backwards).json()["error"]
    assert refused["param"] == "parameters[interval_end]"
    future = client.post("/v1/reporting/report_runs",
                         data={**FORM, "parameters[interval_end]": str(10**10)})  # fmt: skip
    assert future.status_code == 400
    as_json = client.post("/v1/reporting/report_runs", json=FORM)
    assert as_json.status_code == 400  # Stripe takes forms
    nothing = client.get("/v1/reporting/report_runs/frr_nothere")
    assert nothing.status_code == 404 and nothing.json()["error"]["type"] == "invalid_request_error"
