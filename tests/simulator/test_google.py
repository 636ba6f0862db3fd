"""The fake Google AIP-151 API and its OAuth 2.0 token endpoint: an operation's life on a fake
clock as proto3 JSON gives it (no `done` while false, no `progressPercent` while 0, then `error`
or `response`), `:cancel`, access tokens that expire, and the token endpoint's RFC 6749 errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

REQUEST = {"inputUri": "gs://cloud-samples-data/video/cat.mp4", "features": ["LABEL_DETECTION"]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    config = SimConfig(queue_time=1.0, run_time=4.0, google_token_ttl=600.0, clock=clock)
    with Simulator(config) as simulator:
        yield simulator


def token(sim: Simulator, **changed: str) -> httpx.Response:
    named = sim.google_oauth_secrets()
    form = {"grant_type": "refresh_token", **named, **changed}
    return httpx.post(f"{sim.origin('google-oauth')}/token", data=form, timeout=10)


@pytest.fixture
def api(sim: Simulator) -> Iterator[httpx.Client]:
    access = token(sim).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    with httpx.Client(base_url=sim.base_url("google-lro"), headers=headers, timeout=10) as http:
        yield http


def test_an_operation_is_named_then_done_with_its_response(
    sim: Simulator, api: httpx.Client, clock: FakeClock
) -> None:
    started = api.post("/v1/videos:annotate", json=REQUEST).json()
    assert list(started) == ["name"]  # the operation's name only
    name = started["name"]
    assert name.startswith("projects/") and "/locations/us-east1/operations/" in name
    queued = api.get(f"/v1/{name}").json()
    assert "done" not in queued and "response" not in queued  # proto3 JSON leaves false out
    (entry,) = queued["metadata"]["annotationProgress"]
    assert (
        "progressPercent" not in entry and entry["inputUri"] == "/cloud-samples-data/video/cat.mp4"
    )
    clock.advance(3)
    running = api.get(f"/v1/{name}").json()
    assert (
        "done" not in running
        and 0 < running["metadata"]["annotationProgress"][0]["progressPercent"] < 100
    )
    clock.advance(3)
    done = api.get(f"/v1/{name}")
    operation = done.json()
    assert operation["done"] is True and "error" not in operation
    assert operation["response"]["@type"].endswith("AnnotateVideoResponse")
    assert operation["response"]["annotationResults"][0]["segmentLabelAnnotations"]
    assert operation["metadata"]["annotationProgress"][0]["progressPercent"] == 100
    assert [done.content] == sim.expected_results("google-lro", name)
    assert api.get(f"/v1/{name}").content == done.content  # stable bytes once done


def test_a_failed_and_a_cancelled_operation_end_with_a_status(
    sim: Simulator, api: httpx.Client, clock: FakeClock
) -> None:
    failing = api.post("/v1/videos:annotate", json=REQUEST, params={"sim_outcome": "fail"})
    cancelled = api.post("/v1/videos:annotate", json=REQUEST).json()["name"]
    clock.advance(2)
    assert api.post(f"/v1/{cancelled}:cancel").json() == {}
    ended = api.get(f"/v1/{cancelled}").json()
    assert ended["done"] is True and ended["error"] == {
        "code": 1, "message": "Operation was cancelled."}  # fmt: skip
    clock.advance(4)
    failed = api.get(f"/v1/{failing.json()['name']}").json()
    assert failed["done"] is True and failed["error"]["code"] == 3 and "response" not in failed
    assert sim.expected_results("google-lro", cancelled) == []


def test_access_tokens_expire_and_the_token_endpoint_refuses_a_bad_grant(
    sim: Simulator, clock: FakeClock
) -> None:
    issued = token(sim)
    assert issued.status_code == 200
    body = issued.json()
    assert (body["expires_in"], body["token_type"]) == (600, "Bearer")
    assert body["access_token"] in sim.google_access_tokens()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    base = sim.base_url("google-lro")
    assert (
        httpx.post(f"{base}/v1/videos:annotate", json=REQUEST, headers=headers).status_code == 200
    )
    clock.advance(601)
    expired = httpx.post(f"{base}/v1/videos:annotate", json=REQUEST, headers=headers)
    assert expired.status_code == 401 and expired.json()["error"]["status"] == "UNAUTHENTICATED"
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert token(sim, client_secret="wrong").json()["error"] == "invalid_client"
    assert token(sim, client_secret="wrong").status_code == 401
    assert token(sim, refresh_token="revoked").json()["error"] == "invalid_grant"
    assert token(sim, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_a_refused_request_is_googles_error_body(api: httpx.Client) -> None:
    no_feature = api.post("/v1/videos:annotate", json={"inputUri": "gs://b/v.mp4"})
    assert no_feature.status_code == 400
    assert no_feature.json()["error"]["status"] == "INVALID_ARGUMENT"
    not_gcs = api.post("/v1/videos:annotate", json={**REQUEST, "inputUri": "https://x/v.mp4"})
    assert not_gcs.status_code == 400
    missing = api.get("/v1/projects/1/locations/us-east1/operations/1")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    assert json.loads(api.post("/v1/videos:annotate", content=b"{").content)["error"]["code"] == 400
