"""The simulator's fake APIs (vainu, testo, cisco-cce, generic-202) against docs/simulator.md,
driven by a fake clock so the job lifecycles run without sleeping."""

from __future__ import annotations

import hashlib
import json
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from jobdock.core.model.job import SubmitRequest
from jobdock.simulator import FakeClock, SimConfig, Simulator, demo_config

# One TLS context for every client: building one per client costs ~50 ms.
TLS = ssl.create_default_context()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    config = SimConfig(queue_time=1.0, run_time=3.0, result_size=4096, clock=clock)
    with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(verify=TLS, timeout=5.0) as c:
        yield c


# vainu


def _vainu(sim: Simulator, client: httpx.Client, url: str, **params: str) -> httpx.Response:
    return client.get(url, params=params, headers={"API-Key": sim.secret("vainu")})


def test_vainu_lifecycle(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    base = sim.base_url("vainu")
    assert urlsplit(base).path == "/api/v2"
    job = _vainu(sim, client, base + "/companies/async/", async_format="csv", country="FI").json()
    assert set(job) == {
        "job_id",
        "state",
        "link",
        "download_link",
        "created",
        "finished",
        "duration",
    }
    assert (job["state"], job["download_link"], job["finished"]) == ("accepted", None, None)
    assert job["link"] == f"{base}/companies/async/{job['job_id']}/"
    clock.advance(2)
    assert _vainu(sim, client, job["link"]).json()["state"] == "process"
    clock.advance(2)
    done = _vainu(sim, client, job["link"]).json()
    assert done["state"] == "completed"
    assert done["finished"] is not None
    download = client.get(done["download_link"])
    assert download.status_code == 200
    assert download.content.startswith(b"business_id,company_name,")
    assert len(download.content) == 4096
    assert [download.content] == sim.expected_results("vainu", job["job_id"])
    assert "filename=" in download.headers["content-disposition"]
    assert dict(parse_qsl(urlsplit(done["download_link"]).query))["X-Amz-Expires"] == "600"
    clock.advance(601)
    assert client.get(done["download_link"]).status_code == 403
    fresh = _vainu(sim, client, job["link"]).json()["download_link"]
    assert fresh != done["download_link"]
    assert client.get(fresh).content == download.content


@pytest.mark.parametrize(("fmt", "start"), [("json", b"["), ("jsonl", b"{")])
def test_vainu_formats(
    sim: Simulator, client: httpx.Client, clock: FakeClock, fmt: str, start: bytes
) -> None:
    base = sim.base_url("vainu")
    job = _vainu(sim, client, base + "/companies/async/", async_format=fmt, sim_size="3000").json()
    clock.advance(5)
    (data,) = sim.expected_results("vainu", job["job_id"])
    assert data.startswith(start)
    assert len(data) == 3000
    if fmt == "json":
        assert isinstance(json.loads(data), list)
    else:
        assert all(json.loads(line) for line in data.splitlines()[:-1])


def test_vainu_failure_and_auth(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    base = sim.base_url("vainu")
    job = _vainu(
        sim, client, base + "/companies/async/", sim_outcome="fail", sim_duration="10"
    ).json()
    clock.advance(9)
    assert _vainu(sim, client, job["link"]).json()["state"] == "process"
    clock.advance(1)
    failed = _vainu(sim, client, job["link"]).json()
    assert failed["state"] == "failure"
    assert failed["error"]
    assert failed["download_link"] is None
    assert sim.expected_results("vainu", job["job_id"]) == []
    for headers in ({}, {"API-Key": "wrong"}):
        response = client.get(job["link"], headers=headers)
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid API key"})
    assert _vainu(sim, client, base + "/companies/async/nope/").status_code == 404


# testo


def _testo_headers(sim: Simulator) -> dict[str, str]:
    return {"x-custom-api-key": sim.secret("testo")}


def test_testo_lifecycle(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    url = sim.base_url("testo") + "/v3/devices/status"
    body = {
        "time_range": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
        "options": {"result_file_format": "CSV"},
    }
    submitted = client.post(url, json=body, params={"sim_files": "3"}, headers=_testo_headers(sim))
    assert submitted.status_code == 202
    uuid = submitted.json()["request_uuid"]
    assert submitted.json()["status"] == "Submitted"
    poll = f"{url}/{uuid}"
    assert client.get(poll, headers=_testo_headers(sim)).json()["status"] == "Submitted"
    clock.advance(2)
    assert client.get(poll, headers=_testo_headers(sim)).json()["status"] == "In Progress"
    clock.advance(2)
    done = client.get(poll, headers=_testo_headers(sim)).json()
    assert done["status"] == "Completed"
    assert len(done["data_urls"]) == 3
    urls = [*done["data_urls"], done["metadata_url"]]
    files = [client.get(u).content for u in urls]
    assert files == sim.expected_results("testo", uuid)
    assert files[0].startswith(b"device_id,serial_no,timestamp,")
    assert json.loads(files[-1])["request_uuid"] == uuid
    assert all(u.startswith(sim.storage.origin) for u in urls)
    assert not any("x-custom-api-key" in r.headers for r in sim.requests("storage"))
    clock.advance(1)
    again = client.get(poll, headers=_testo_headers(sim)).json()
    assert again["data_urls"] != done["data_urls"]  # re-signed on every GET


def test_testo_errors(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    url = sim.base_url("testo") + "/v3/measurements"
    bad = client.post(url, content=b"not json", headers=_testo_headers(sim))
    assert bad.status_code == 400
    assert "message" in bad.json()
    forbidden = client.post(url, json={}, headers={"x-custom-api-key": "nope"})
    assert (forbidden.status_code, forbidden.json()) == (403, {"message": "Forbidden"})
    uuid = client.post(
        url, json={}, params={"sim_outcome": "fail"}, headers=_testo_headers(sim)
    ).json()["request_uuid"]
    clock.advance(5)
    failed = client.get(f"{url}/{uuid}", headers=_testo_headers(sim)).json()
    assert failed["status"] == "Failed"
    assert failed["error"]
    other_path = sim.base_url("testo") + f"/v3/alarms/{uuid}"
    assert client.get(other_path, headers=_testo_headers(sim)).status_code == 404


# cisco-cce


def _cisco_auth(sim: Simulator) -> tuple[str, str]:
    user = sim.user("cisco-cce")
    assert user == "administrator"
    return user, sim.secret("cisco-cce")


def test_cisco_async_create_json(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    base = sim.base_url("cisco-cce")
    assert urlsplit(base).path == "/unifiedconfig/config"
    auth = _cisco_auth(sim)
    accepted = client.post(
        base + "/calltype", params={"async": "true"}, json={"name": "ct1"}, auth=auth
    )
    assert accepted.status_code == 202
    assert accepted.json() == {"progress": "IN_QUEUE"}
    location = accepted.headers["location"]
    assert location.startswith(base + "/requeststatus/")
    clock.advance(2)
    running = client.get(location, auth=auth)
    assert (running.status_code, running.json()) == (202, {"progress": "IN_PROGRESS"})
    assert running.headers["location"] == location
    assert client.get(base + "/calltype/5000", auth=auth).status_code == 404
    clock.advance(2)
    created = client.get(location, auth=auth)
    assert created.status_code == 201
    item_url = created.headers["location"]
    assert item_url.startswith(base + "/calltype/")
    item = client.get(item_url, auth=auth)
    assert item.json()["name"] == "ct1"
    assert item.json()["refURL"] == urlsplit(item_url).path
    remote_id = location.rpartition("/")[2]
    assert sim.expected_results("cisco-cce", remote_id) == [item.content]


def test_cisco_async_xml_update_and_delete(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    base, auth = sim.base_url("cisco-cce"), _cisco_auth(sim)
    xml_headers = {"Content-Type": "application/xml"}
    body = b"<callType><name>ct2</name></callType>"
    accepted = client.put(
        base + "/calltype/5001",
        params={"async": "true"},
        content=body,
        headers=xml_headers,
        auth=auth,
    )
    assert accepted.status_code == 202
    progress = ET.fromstring(accepted.content)
    assert (progress.tag, progress.findtext("progress")) == ("apiAsyncResponse", "IN_QUEUE")
    clock.advance(4)
    updated = client.get(accepted.headers["location"], auth=auth)
    assert updated.status_code == 200
    assert ET.fromstring(updated.content).findtext("name") == "ct2"
    deleted = client.delete(base + "/calltype/5001", params={"async": "true"}, auth=auth)
    clock.advance(4)
    assert client.get(deleted.headers["location"], auth=auth).status_code == 204


def test_cisco_failures(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    base, auth = sim.base_url("cisco-cce"), _cisco_auth(sim)
    failing = client.post(
        base + "/calltype",
        params={"async": "true", "sim_outcome": "fail"},
        json={"name": "x"},
        auth=auth,
    )
    slow = client.post(
        base + "/calltype",
        params={"async": "true", "sim_duration": "200"},
        json={"name": "y"},
        auth=auth,
    )
    clock.advance(29)
    assert client.get(slow.headers["location"], auth=auth).json() == {"progress": "IN_QUEUE"}
    clock.advance(2)
    failed = client.get(failing.headers["location"], auth=auth)
    assert failed.status_code == 400
    assert failed.json()["apiErrors"]["apiError"][0]["errorMessage"]
    timed_out = client.get(slow.headers["location"], auth=auth)
    assert timed_out.status_code == 408
    error = timed_out.json()["apiErrors"]["apiError"][0]
    assert error["errorMessage"] == "Request timed out in queue"
    assert client.post(base + "/calltype", json={}, auth=("administrator", "x")).status_code == 401
    assert client.post(base + "/calltype", json={}).status_code == 401


def test_cisco_synchronous(sim: Simulator, client: httpx.Client) -> None:
    base, auth = sim.base_url("cisco-cce"), _cisco_auth(sim)
    created = client.post(base + "/skillgroup", json={"name": "sg"}, auth=auth)
    assert created.status_code == 201
    assert client.get(created.headers["location"], auth=auth).json()["name"] == "sg"
    bad = client.post(
        base + "/skillgroup",
        content=b"<oops",
        auth=auth,
        headers={"Content-Type": "application/xml"},
    )
    assert bad.status_code == 400
    assert ET.fromstring(bad.content).find("apiError/errorMessage") is not None


# generic-202


def _bearer(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.secret('generic-202')}"}


def test_generic_lifecycle(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    base = sim.base_url("generic-202")
    sim.config.retry_after = 2
    sim.config.retry_after_ms = 1500
    put = client.put(base + "/items/a1", json={"name": "a1"}, headers=_bearer(sim))
    assert put.status_code == 201
    op_id = put.json()["id"]
    assert put.headers["location"] == f"{base}/operations/{op_id}/result"
    assert put.headers["azure-asyncoperation"] == f"{base}/operations/{op_id}"
    assert (put.headers["retry-after"], put.headers["retry-after-ms"]) == ("2", "1500")
    monitor = put.headers["azure-asyncoperation"]
    assert client.get(monitor, headers=_bearer(sim)).json()["status"] == "NotStarted"
    clock.advance(2)
    assert client.get(monitor, headers=_bearer(sim)).json()["status"] == "Running"
    pending = client.get(put.headers["location"], headers=_bearer(sim))
    assert pending.status_code == 202
    assert client.get(base + "/items/a1", headers=_bearer(sim)).status_code == 404
    clock.advance(2)
    status = client.get(monitor, headers=_bearer(sim)).json()
    assert status["status"] == "Succeeded"
    assert status["resourceLocation"] == f"{base}/items/a1"
    result = client.get(put.headers["location"], headers=_bearer(sim))
    assert result.status_code == 200
    assert len(result.content) == 4096
    assert [result.content] == sim.expected_results("generic-202", op_id)
    assert client.get(base + "/items/a1", headers=_bearer(sim)).content == result.content


@pytest.mark.parametrize(
    ("monitor", "present", "absent"),
    [
        ("location", set(), {"azure-asyncoperation", "operation-location"}),
        ("operation-location", {"operation-location"}, {"azure-asyncoperation"}),
    ],
)
def test_generic_monitor_headers(
    sim: Simulator, client: httpx.Client, monitor: str, present: set[str], absent: set[str]
) -> None:
    answer = client.post(
        sim.base_url("generic-202") + "/items/b",
        params={"sim_monitor": monitor},
        headers=_bearer(sim),
    )
    assert answer.status_code == 202
    assert "location" in answer.headers
    assert "retry-after" not in answer.headers
    assert present <= set(answer.headers) and not absent & set(answer.headers)


@pytest.mark.parametrize(("outcome", "status"), [("fail", "Failed"), ("cancel", "Canceled")])
def test_generic_failure(
    sim: Simulator, client: httpx.Client, clock: FakeClock, outcome: str, status: str
) -> None:
    base = sim.base_url("generic-202")
    answer = client.patch(
        base + "/items/c", params={"sim_outcome": outcome}, json={}, headers=_bearer(sim)
    )
    clock.advance(4)
    op = client.get(answer.headers["azure-asyncoperation"], headers=_bearer(sim)).json()
    assert op["status"] == status
    assert set(op["error"]) == {"code", "message"}
    result = client.get(answer.headers["location"], headers=_bearer(sim))
    assert result.status_code == 400
    assert result.json()["error"] == op["error"]


def test_generic_auth(sim: Simulator, client: httpx.Client) -> None:
    base = sim.base_url("generic-202")
    for headers in ({}, {"Authorization": "Bearer nope"}):
        answer = client.put(base + "/items/x", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "Unauthorized"


# the whole simulator


def _send(
    client: httpx.Client,
    base: str,
    request: SubmitRequest,
    headers: dict[str, str],
    **extra: object,
) -> httpx.Response:
    url = base.rstrip("/") + "/" + request.path.lstrip("/")
    if request.content_type:
        headers = {**headers, "Content-Type": request.content_type}
    return client.request(
        request.method, url, params=request.params, content=request.body, headers=headers, **extra
    )  # type: ignore[arg-type]


def test_demo_accounts_work(sim: Simulator, client: httpx.Client) -> None:
    accounts = {a.provider: a for a in sim.demo_accounts()}
    assert [a.name for a in accounts.values()] == [
        "demo-vainu",
        "demo-testo",
        "demo-cisco",
        "demo-generic",
        "demo-shoptet",
    ]
    auth_headers = {
        "vainu": {"API-Key": accounts["vainu"].secret},
        "testo": {"x-custom-api-key": accounts["testo"].secret},
        "cisco-cce": {},
        "generic-202": {"Authorization": f"Bearer {accounts['generic-202'].secret}"},
        "shoptet": {"Shoptet-Private-API-Token": accounts["shoptet"].secret},
    }
    expected = {"vainu": 200, "testo": 202, "cisco-cce": 202, "generic-202": 201, "shoptet": 201}
    for provider, account in accounts.items():
        assert account.account().base_url == account.base_url
        extra = {"auth": (account.user, account.secret)} if account.user else {}
        answer = _send(client, account.base_url, account.request, auth_headers[provider], **extra)
        assert answer.status_code == expected[provider], provider


def test_demo_config() -> None:
    config = Simulator.demo_config()
    assert config == demo_config()
    assert config.duration_range == (5.0, 40.0)
    assert 0 < config.failure_rate < 1


def test_results_are_deterministic(sim: Simulator, client: httpx.Client) -> None:
    base = sim.base_url("vainu")
    ids = [
        _vainu(sim, client, base + "/companies/async/", sim_size=str(3 * 1024 * 1024)).json()
        for _ in range(2)
    ]
    first, second = (sim.expected_results("vainu", j["job_id"])[0] for j in ids)
    assert len(first) == len(second) == 3 * 1024 * 1024
    assert hashlib.md5(first).digest() != hashlib.md5(second).digest()  # seeded by job id
    assert first.endswith(b"\n")


def test_demo_randomness_spares_jobs_with_sim_controls(clock: FakeClock) -> None:
    config = demo_config()
    config.clock, config.failure_rate, config.seed = clock, 1.0, 7
    with Simulator(config) as sim, httpx.Client(verify=TLS) as client:
        base = sim.base_url("vainu") + "/companies/async/"
        random_job = _vainu(sim, client, base).json()
        fixed_job = _vainu(sim, client, base, sim_duration="0.5").json()
        clock.advance(41)
        assert _vainu(sim, client, random_job["link"]).json()["state"] == "failure"
        assert _vainu(sim, client, fixed_job["link"]).json()["state"] == "completed"
