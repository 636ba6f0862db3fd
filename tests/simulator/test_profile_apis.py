"""The fakes behind bundled profiles: Shopify bulk operations and HubSpot CRM exports, their
states on a fake clock, the link lifetimes their documentation gives, and their errors."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

RUN = ('mutation { bulkOperationRunQuery(query: """{ products { edges { node { id } } } }""") '
       "{ bulkOperation { id status } userErrors { field message code } } }")  # fmt: skip
READ = "query($id: ID!) { node(id: $id) { ... on BulkOperation { id status url errorCode } } }"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=3.0, clock=clock)) as simulator:
        yield simulator


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def _shopify(sim: Simulator, client: httpx.Client, query: str, version: str = "2026-07",
             token: str | None = None, **variables: str) -> httpx.Response:  # fmt: skip
    url = f"{sim.base_url('shopify-bulk')}/admin/api/{version}/graphql.json"
    headers = {"X-Shopify-Access-Token": token or sim.secret("shopify-bulk")}
    return client.post(url, json={"query": query, "variables": variables}, headers=headers)


def test_shopify_bulk_operation_lifecycle(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    started = _shopify(sim, client, RUN).json()["data"]["bulkOperationRunQuery"]
    assert started["userErrors"] == [] and started["bulkOperation"]["status"] == "CREATED"
    assert set(started["bulkOperation"]) == {"id", "status"}  # only what was selected
    gid = started["bulkOperation"]["id"]
    assert gid.startswith("gid://shopify/BulkOperation/")
    states = []
    for _ in range(3):
        states.append(_shopify(sim, client, READ, id=gid).json()["data"]["node"])
        clock.advance(2.0)
    assert [s["status"] for s in states] == ["CREATED", "RUNNING", "COMPLETED"]
    url = states[-1]["url"]
    assert client.get(url).content == sim.expected_results("shopify-bulk", gid)[0]
    assert "X-Amz-Expires=604799" in url or "X-Amz-Expires=604800" in url  # seven days
    current = _shopify(sim, client, "{ currentBulkOperation { id status } }").json()
    assert current["data"]["currentBulkOperation"] == {"id": gid, "status": "COMPLETED"}
    clock.advance(7 * 86400)
    expired = _shopify(sim, client, READ, id=gid).json()["data"]["node"]
    assert (expired["status"], expired["url"]) == ("EXPIRED", None)
    unknown = _shopify(sim, client, READ, id="gid://shopify/BulkOperation/1").json()
    assert unknown == {"data": {"node": None}}


def test_shopify_refusals(sim: Simulator, client: httpx.Client) -> None:
    denied = _shopify(sim, client, RUN, token="shpat_wrong")
    assert denied.status_code == 401 and "Invalid API key" in denied.json()["errors"]
    flat = RUN.replace("products { edges { node { id } } }", "shop { name }")
    refused = _shopify(sim, client, flat).json()["data"]["bulkOperationRunQuery"]
    assert refused["bulkOperation"] is None
    assert refused["userErrors"][0]["code"] == "INVALID"
    # one operation at a time before 2026-01, five from 2026-01
    assert _shopify(sim, client, RUN, version="2025-10").json()["data"]
    busy = _shopify(sim, client, RUN, version="2025-10").json()["data"]["bulkOperationRunQuery"]
    assert busy["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    more = [_shopify(sim, client, RUN).json()["data"]["bulkOperationRunQuery"] for _ in range(5)]
    assert [m["userErrors"] for m in more[:4]] == [[], [], [], []]  # five running now
    assert more[4]["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"


def _hubspot(sim: Simulator, client: httpx.Client, method: str, path: str,
             **kwargs: object) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {sim.secret('hubspot-exports')}"}
    url = sim.base_url("hubspot-exports") + path
    return client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]


EXPORT = {"exportType": "VIEW", "exportName": "All contacts", "format": "CSV", "language": "EN",
          "objectType": "CONTACT", "objectProperties": ["email"]}  # fmt: skip


def test_hubspot_export_lifecycle(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    started = _hubspot(sim, client, "POST", "/crm/v3/exports/export/async", json=EXPORT)
    assert started.status_code == 202
    task = started.json()["id"]
    status = f"/crm/v3/exports/export/async/tasks/{task}/status"
    assert started.json()["links"]["status"].endswith(status)
    seen = []
    for _ in range(3):
        seen.append(_hubspot(sim, client, "GET", status).json())
        clock.advance(2.0)
    assert [s["status"] for s in seen] == ["PENDING", "PROCESSING", "COMPLETE"]
    result = seen[-1]["result"]
    assert "X-Amz-Expires=300" in result and result.endswith(result.split("?")[1])
    assert client.get(result).content == sim.expected_results("hubspot-exports", task)[0]
    clock.advance(301)
    assert client.get(result).status_code == 403  # five minutes, then asked for again
    fresh = _hubspot(sim, client, "GET", status).json()["result"]
    assert fresh != result and client.get(fresh).status_code == 200


def test_hubspot_zips_large_csv_and_cancels_failures(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    path = "/crm/v3/exports/export/async"
    big = _hubspot(sim, client, "POST", path, json=EXPORT, params={"sim_size": 3 * 2**20})
    failing = _hubspot(sim, client, "POST", path, json=EXPORT, params={"sim_outcome": "fail"})
    clock.advance(10)
    big_id, failing_id = big.json()["id"], failing.json()["id"]
    done = _hubspot(sim, client, "GET", f"{path}/tasks/{big_id}/status").json()
    assert "/hubspot-crm-exports-all-contacts.zip?" in done["result"]
    (name,) = zipfile.ZipFile(io.BytesIO(client.get(done["result"]).content)).namelist()
    assert name == "hubspot-crm-exports-all-contacts.csv"
    cancelled = _hubspot(sim, client, "GET", f"{path}/tasks/{failing_id}/status").json()
    assert cancelled["status"] == "CANCELED" and cancelled["numErrors"] == 1
    assert "result" not in cancelled


def test_hubspot_errors(sim: Simulator, client: httpx.Client) -> None:
    url = sim.base_url("hubspot-exports") + "/crm/v3/exports/export/async"
    anonymous = client.post(url, json=EXPORT)
    assert anonymous.status_code == 401
    assert anonymous.json()["category"] == "INVALID_AUTHENTICATION"
    bad = _hubspot(sim, client, "POST", "/crm/v3/exports/export/async",
                   content=json.dumps({**EXPORT, "format": "PDF"}))  # fmt: skip
    assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"
    assert {"status", "message", "correlationId", "category"} <= set(bad.json())
    missing = _hubspot(sim, client, "GET", "/crm/v3/exports/export/async/tasks/1/status")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
