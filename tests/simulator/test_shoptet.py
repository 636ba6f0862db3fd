"""The simulator's fake Shoptet API: envelope, jobs list and detail, limits, webhooks, tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

# One TLS context for every client: building one per client costs ~50 ms.
TLS = ssl.create_default_context()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    config = SimConfig(queue_time=1.0, run_time=3.0, result_size=2048, clock=clock)
    with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    headers = {"Shoptet-Private-API-Token": sim.secret("shoptet")}
    with httpx.Client(
        verify=TLS, base_url=sim.base_url("shoptet"), headers=headers, timeout=5.0
    ) as c:
        yield c


def _submit(client: httpx.Client, **params: str) -> str:
    answer = client.get("/api/products/snapshot", params=params)
    assert answer.status_code == 201
    body = answer.json()
    assert body["errors"] is None
    job_id: str = body["data"]["jobId"]
    return job_id


def _error_code(answer: httpx.Response) -> str:
    body = answer.json()
    assert body["data"] is None
    code: str = body["errors"][0]["errorCode"]
    assert body["errors"][0]["message"]
    return code


def test_envelope_submit_detail_and_expiry(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    answer = client.get("/api/products/snapshot")
    assert answer.status_code == 201
    assert answer.headers["x-ratelimit-bucket-filling"] == "1/200"
    job_id = answer.json()["data"]["jobId"]
    detail = client.get(f"/api/system/jobs/{job_id}").json()["data"]
    assert (detail["status"], detail["resultUrl"], detail["completionTime"]) == (
        "pending",
        None,
        None,
    )
    assert detail["creationTime"][-5:] == "+0100"
    clock.advance(2)
    assert client.get(f"/api/system/jobs/{job_id}").json()["data"]["status"] == "running"
    clock.advance(2)
    done = client.get(f"/api/system/jobs/{job_id}").json()["data"]
    assert set(done) == {
        "jobId",
        "endpoint",
        "creationTime",
        "completionTime",
        "duration",
        "status",
        "resultUrl",
        "validUntil",
        "log",
    }
    assert (done["status"], done["endpoint"]) == ("completed", "/api/products/snapshot")
    with httpx.Client(verify=TLS) as bare:
        result = bare.get(done["resultUrl"])
        assert result.status_code == 200
        assert [result.content] == sim.expected_results("shoptet", job_id)
        assert json.loads(result.content.splitlines()[0])["guid"]
        clock.advance(86400 + 1)
        assert client.get(f"/api/system/jobs/{job_id}").json()["data"]["status"] == "expired"
        assert bare.get(done["resultUrl"]).status_code == 403
    assert not any("shoptet-private-api-token" in r.headers for r in sim.requests("storage"))


def test_images_and_failed_jobs(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    images = client.post("/api/products/abc-123/images", json={"data": {"images": []}})
    assert images.status_code == 201
    failed = _submit(client, sim_outcome="fail")
    clock.advance(5)
    image_job = client.get(f"/api/system/jobs/{images.json()['data']['jobId']}").json()["data"]
    assert image_job["endpoint"] == "/api/products/images"
    failed_job = client.get(f"/api/system/jobs/{failed}").json()["data"]
    assert (failed_job["status"], failed_job["resultUrl"]) == ("failed", None)
    assert "error" in failed_job["log"]


def test_jobs_list_and_paginator(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    ids = [_submit(client) for _ in range(5)]
    clock.advance(10)
    late = _submit(client)
    page = client.get("/api/system/jobs", params={"itemsPerPage": 2, "page": 2}).json()["data"]
    assert page["paginator"] == {
        "totalCount": 6,
        "page": 2,
        "pageCount": 3,
        "itemsOnPage": 2,
        "itemsPerPage": 2,
    }
    assert [j["jobId"] for j in page["jobs"]] == ids[2:4]
    assert set(page["jobs"][0]) == {"jobId", "endpoint", "creationTime", "completionTime", "status"}
    pending = client.get("/api/system/jobs", params={"status": "pending"}).json()["data"]
    assert [j["jobId"] for j in pending["jobs"]] == [late]
    since = client.get(
        "/api/system/jobs", params={"creationTimeFrom": pending["jobs"][0]["creationTime"]}
    )
    assert since.json()["data"]["paginator"]["totalCount"] == 1
    too_many = client.get("/api/system/jobs", params={"itemsPerPage": 501})
    assert too_many.status_code == 400
    _error_code(too_many)
    assert sim.shoptet_stats()["list_calls"] == 4


def test_detail_counter_limit(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    job_id = _submit(client)
    for _ in range(10):
        assert client.get(f"/api/system/jobs/{job_id}").status_code == 200
    refused = client.get(f"/api/system/jobs/{job_id}")
    assert refused.status_code == 403
    assert _error_code(refused) == "job-detail-try-counter-exceeded-limit"
    clock.advance(5)
    assert client.get(f"/api/system/jobs/{job_id}").status_code == 200
    stats = sim.shoptet_stats()
    assert (stats["detail_calls"], stats["detail_403"], stats["requests"]) == (12, 1, 13)


def test_auth_errors(sim: Simulator, client: httpx.Client) -> None:
    with httpx.Client(verify=TLS, base_url=sim.base_url("shoptet")) as anonymous:
        for headers in ({}, {"Shoptet-Private-API-Token": "nope"}):
            answer = anonymous.get("/api/system/jobs", headers=headers)
            assert answer.status_code == 401
            assert _error_code(answer) == "invalid-token"
            assert "x-ratelimit-bucket-filling" in answer.headers
    assert _error_code(client.get("/api/nothing")) == "not-found"


def test_addon_token_exchange_and_expiry(sim: Simulator, clock: FakeClock) -> None:
    sim.config.shoptet_access_token_ttl = 60
    with httpx.Client(verify=TLS, base_url=sim.base_url("shoptet")) as c:
        assert c.get("/token", headers={"Authorization": "Bearer nope"}).status_code == 401
        token = c.get("/token", headers={"Authorization": f"Bearer {sim.shoptet_oauth_token}"})
        assert token.json()["expires_in"] == 60
        headers = {"Shoptet-Access-Token": token.json()["access_token"]}
        assert c.get("/api/system/jobs", headers=headers).status_code == 200
        clock.advance(60)
        expired = c.get("/api/system/jobs", headers=headers)
        assert expired.status_code == 401
        assert _error_code(expired) == "expired-token"
        unknown = c.get("/api/system/jobs", headers={"Shoptet-Access-Token": "made-up"})
        assert _error_code(unknown) == "invalid-token"


def test_leaky_bucket(sim: Simulator, client: httpx.Client, clock: FakeClock) -> None:
    sim.config.shoptet_bucket_size = 5
    sim.config.shoptet_leak_per_second = 1.0
    for n in range(1, 6):
        answer = client.get("/api/system/jobs")
        assert answer.headers["x-ratelimit-bucket-filling"] == f"{n}/5"
    limited = client.get("/api/system/jobs")
    assert limited.status_code == 429
    assert _error_code(limited) == "too-many-requests"
    retry_at = parsedate_to_datetime(limited.headers["retry-after"]).timestamp()
    assert retry_at == pytest.approx(clock() + 1, abs=1)
    clock.advance(2)
    assert client.get("/api/system/jobs").status_code == 200
    assert sim.shoptet_stats()["rate_limited"] == 1


def test_connection_limit(sim: Simulator) -> None:
    url = sim.base_url("shoptet") + "/api/system/jobs"
    headers = {"Shoptet-Private-API-Token": sim.secret("shoptet")}
    barrier = threading.Barrier(5)
    answers: list[tuple[int, Any]] = []

    def call(delay: str) -> None:
        with httpx.Client(verify=TLS, timeout=5.0) as c:
            barrier.wait()
            answer = c.get(url, params={"sim_delay": delay}, headers=headers)
            answers.append((answer.status_code, answer.json()["errors"]))

    threads = [threading.Thread(target=call, args=("0.6",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    barrier.wait()
    deadline = time.monotonic() + 3
    while sim.shoptet_stats()["too_many_connections"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # until all four arrived: three are held, the fourth was refused
    with httpx.Client(verify=TLS, timeout=5.0) as c:
        late = c.get(url, headers=headers)
    for thread in threads:
        thread.join()
    assert late.status_code == 429
    assert _error_code(late) == "too-many-connections"
    assert sorted(status for status, _ in answers) == [200, 200, 200, 429]
    stats = sim.shoptet_stats()
    assert stats["max_concurrent"] == 4  # the rejected 4th returns at once
    assert stats["too_many_connections"] == 2


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    thread.join()
    server.server_close()


def test_webhook_required_registered_and_delivered(
    sim: Simulator,
    client: httpx.Client,
    clock: FakeClock,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    sim.config.shoptet_require_webhook = True
    refused = client.get("/api/orders/snapshot")
    assert refused.status_code == 403
    assert _error_code(refused) == "webhook-not-registered"
    assert "job:finished" in refused.json()["errors"][0]["message"]
    registered = client.post(
        "/api/webhooks", json={"data": [{"event": "job:finished", "url": url}]}
    )
    assert registered.status_code == 201
    hooks = client.get("/api/webhooks").json()["data"]["webhooks"]
    assert [(h["event"], h["url"]) for h in hooks] == [("job:finished", url)]
    key = client.post("/api/webhooks/renew-signature-key").json()["data"]["signatureKey"]
    assert key == sim.shoptet_signature_key()
    job_id = _submit(client)
    clock.advance(5)
    deadline = time.monotonic() + 3
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    ((headers, body),) = received
    expected = hmac.new(key.encode(), body, hashlib.sha1).hexdigest()
    assert headers["shoptet-webhook-signature"] == expected
    event = json.loads(body)
    assert set(event) == {"eshopId", "event", "eventCreated", "eventInstance"}
    assert (event["event"], event["eventInstance"]) == ("job:finished", job_id)
    # The sender records its attempt once the receiver's answer is back: a moment after the
    # receiver saw the request.
    while not sim.shoptet_deliveries() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [d.status for d in sim.shoptet_deliveries()] == [200]
    assert sim.shoptet_stats()["webhooks_sent"] == 1


def test_failed_webhook_delivery_is_recorded(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    sim.config.webhook_timeout = 0.5
    client.post(
        "/api/webhooks", json={"data": [{"event": "job:finished", "url": "http://127.0.0.1:1/x"}]}
    )
    _submit(client)
    clock.advance(5)
    deadline = time.monotonic() + 3
    while not sim.shoptet_deliveries() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [d.status for d in sim.shoptet_deliveries()] == [0]
