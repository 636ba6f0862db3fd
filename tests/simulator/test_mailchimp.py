"""The fake Mailchimp batch operations: the states on a fake clock, the ten-minute archive link
signed anew on each read, the archive's layout, and Mailchimp's problem-detail errors."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

OPS = {"operations": [{"method": "GET", "path": "/lists", "operation_id": "a"},
                      {"method": "GET", "path": "/campaigns"}]}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=5.0, clock=clock)) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    auth = ("anystring", sim.secret("mailchimp-batches"))
    with httpx.Client(base_url=sim.base_url("mailchimp-batches"), auth=auth, timeout=10) as http:
        yield http


def test_a_batch_walks_every_state_and_finishes_with_a_signed_archive(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    started = client.post("/3.0/batches", json=OPS)
    assert started.status_code == 200
    batch = started.json()
    assert (batch["status"], batch["total_operations"], batch["finished_operations"]) == (
        "pending", 2, 0)  # fmt: skip
    assert batch["completed_at"] == "" and batch["response_body_url"] == ""
    assert batch["submitted_at"].endswith("+00:00")
    seen = []
    for _ in range(7):
        seen.append(client.get(f"/3.0/batches/{batch['id']}").json())
        clock.advance(1.0)
    states = [s["status"] for s in seen]
    assert states == ["pending", "preprocessing", "started", "started", "started", "finalizing",
                      "finished"]  # fmt: skip
    done = seen[-1]
    assert (done["finished_operations"], done["errored_operations"]) == (2, 0)
    assert done["completed_at"].endswith("+00:00")
    url = done["response_body_url"]
    assert url.startswith(sim.storage.origin) and "X-Amz-Expires=600" in url
    assert "-response.tar.gz?" in url
    archive = httpx.get(url).content
    assert archive == sim.expected_results("mailchimp-batches", batch["id"])[0]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        results = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    assert [(r["operation_id"], r["status_code"]) for r in results] == [("a", 200), (None, 200)]
    assert json.loads(results[0]["response"])["path"] == "/lists"
    clock.advance(601)
    assert httpx.get(url).status_code == 403  # expired; a new GET signs it anew
    fresh = client.get(f"/3.0/batches/{batch['id']}").json()["response_body_url"]
    assert httpx.get(fresh).content == archive


def test_failing_operations_still_finish_the_batch(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    batch = client.post("/3.0/batches", json=OPS, params={"sim_outcome": "fail"}).json()
    clock.advance(10)
    done = client.get(f"/3.0/batches/{batch['id']}").json()
    assert (done["status"], done["errored_operations"]) == ("finished", 2)
    with tarfile.open(fileobj=io.BytesIO(httpx.get(done["response_body_url"]).content)) as tar:
        results = json.loads(tar.extractfile(tar.getmembers()[0]).read())  # type: ignore[union-attr]
    assert {r["status_code"] for r in results} == {400}
    assert json.loads(results[0]["response"])["title"] == "Invalid Resource"


def test_mailchimp_errors(sim: Simulator, client: httpx.Client) -> None:
    url = sim.base_url("mailchimp-batches")
    denied = httpx.post(f"{url}/3.0/batches", json=OPS, auth=("anystring", "wrong-us6"))
    assert denied.status_code == 401 and denied.json()["title"] == "API Key Invalid"
    assert denied.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{url}/3.0/batches/0123456789").status_code == 401  # no credentials
    missing = client.get("/3.0/batches/0123456789")
    assert (missing.status_code, missing.json()["title"]) == (404, "Resource Not Found")
    invalid = client.post("/3.0/batches", json={"operations": [{"method": "GET"}]})
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["field"] == "operations"
    bodies = client.post("/3.0/batches", json={"operations": [{"method": "POST", "path": "/x",
                                                               "body": {"a": 1}}]})  # fmt: skip
    assert bodies.status_code == 400  # an operation's body is a string of JSON
    assert client.post("/3.0/batches", content=b"{").json()["title"].startswith("JSON")
