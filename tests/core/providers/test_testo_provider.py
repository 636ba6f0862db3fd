"""The bundled `testo` profile: submit and poll shapes, states, pre-signed result links, refs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from jobdock.core.model.errors import ProtocolError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.profiles.load import bundled_profile
from jobdock.core.providers.profiles.provider import ProfileProvider

BASE = "https://testo.test"
ACCOUNT = Account(name="t", provider="testo", base_url=BASE)
PROVIDER = ProfileProvider(bundled_profile("testo"))
STATUS_URL = f"{BASE}/v3/devices/status/u-1"


def signed(name: str, *, expires: str = "3600") -> str:
    return (
        f"https://bucket.s3.test/exports/u-1/{name}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Date=20261123T100000Z&X-Amz-Expires={expires}&X-Amz-Signature=ff"
    )


def poll(harness, body: object, *, job: Job | None = None):
    job = job or Job(id="1", account="t", provider="testo", remote_id="u-1", status_url=STATUS_URL)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.poll(s, job))


def test_default_request_is_last_24h_as_csv():
    request = PROVIDER.default_request()
    body = json.loads(request.body or b"")
    assert (request.method, request.path) == ("POST", "/v3/devices/status")
    assert body["options"] == {"result_file_format": "CSV"}
    start = datetime.fromisoformat(body["time_range"]["from"])
    end = datetime.fromisoformat(body["time_range"]["to"])
    assert (end - start).total_seconds() == 24 * 3600
    assert request.content_type == "application/json"


def test_submit_posts_json_and_builds_the_status_url(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"request_uuid": "u-1", "status": "Submitted"})

    request = SubmitRequest(
        method="POST", path="/v3/measurements", body=b'{"a": 1}', content_type="application/json"
    )
    status = harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.submit(s, request))
    sent = harness.requests[0]
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE}/v3/measurements")
    assert sent.content == b'{"a": 1}'
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-custom-api-key"] == harness.secret
    assert (status.state, status.remote_state) == (JobState.QUEUED, "Submitted")
    assert status.remote_id == "u-1"
    assert status.status_url == f"{BASE}/v3/measurements/u-1"


def test_submit_without_uuid_is_a_protocol_error(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"status": "Submitted"})

    request = PROVIDER.default_request()
    with pytest.raises(ProtocolError) as info:
        harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.submit(s, request))
    harness.check_message(info.value, mentions="testo: submitting /v3/devices/status")


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("Submitted", JobState.QUEUED),
        ("In Progress", JobState.RUNNING),
        ("IN_PROGRESS", JobState.RUNNING),
        ("in progress", JobState.RUNNING),
        ("Completed", JobState.SUCCEEDED),
        ("Failed", JobState.FAILED),
    ],
)
def test_state_mapping(harness, raw, state):
    status = poll(harness, {"request_uuid": "u-1", "status": raw, "data_urls": []})
    assert (status.state, status.remote_state, status.status_url) == (state, raw, STATUS_URL)


def test_unknown_state_is_a_protocol_error(harness):
    with pytest.raises(ProtocolError, match="unknown request status 'Sleeping'"):
        poll(harness, {"request_uuid": "u-1", "status": "Sleeping"})


def test_completed_lists_every_data_url_and_the_metadata(harness):
    body = {
        "request_uuid": "u-1",
        "status": "Completed",
        "data_urls": [signed("part-0.csv"), signed("part-1.csv"), signed("part-0.csv")],
        "metadata_url": signed("metadata", expires="60"),
        "unknown": {"ignored": True},
    }
    status = poll(harness, body)
    hints = [r.filename_hint for r in status.results]
    assert hints == ["part-0.csv", "part-1.csv", "part-0 (2).csv", "metadata.json"]
    expiry = [r.expires_at for r in status.results]
    hour = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert expiry == [hour, hour, hour, datetime(2026, 11, 23, 10, 1, tzinfo=UTC)]
    assert not any(r.needs_auth for r in status.results)


def test_expires_epoch_style_links(harness):
    url = "https://cdn.test/x/data.parquet?Expires=1795000000&Signature=abc&Key-Pair-Id=K"
    status = poll(harness, {"request_uuid": "u-1", "status": "Completed", "data_urls": [url]})
    (link,) = status.results
    assert link.expires_at == datetime.fromtimestamp(1795000000, UTC)
    assert link.filename_hint == "data.parquet"


def test_failed_carries_the_error(harness):
    status = poll(harness, {"request_uuid": "u-1", "status": "Failed", "error": "no devices"})
    assert (status.state, status.error) == (JobState.FAILED, "no devices")


def test_poll_by_id_uses_the_request_path(harness):
    job = Job(
        id="1",
        account="t",
        provider="testo",
        remote_id="u-9",
        request=SubmitRequest(method="POST", path="/v3/alarms"),
    )
    status = poll(harness, {"request_uuid": "u-9", "status": "Submitted"}, job=job)
    assert str(harness.requests[0].url) == f"{BASE}/v3/alarms/u-9"
    assert status.status_url == f"{BASE}/v3/alarms/u-9"


def test_parse_ref():
    assert PROVIDER.parse_ref(ACCOUNT, "9f1c-77").remote_id == "9f1c-77"
    ref = PROVIDER.parse_ref(ACCOUNT, STATUS_URL)
    assert (ref.remote_id, ref.status_url) == ("u-1", STATUS_URL)
    with pytest.raises(UsageError, match="neither a request_uuid nor"):
        PROVIDER.parse_ref(ACCOUNT, "two words")


def test_poll_policy_follows_the_vendor_advice():
    policy = PROVIDER.poll_policy
    assert (policy.first_delay, policy.min_interval, policy.max_interval) == (5, 5, 20)
    assert policy.factor == 2
