"""The bundled `vainu` profile: submit and poll shapes, state mapping, result links and refs."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from jobdock.core.model.errors import ProtocolError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.profiles.load import bundled_profile
from jobdock.core.providers.profiles.provider import ProfileProvider

BASE = "https://api.vainu.test/api/v2"
ACCOUNT = Account(name="v", provider="vainu", base_url=BASE)
LINK = f"{BASE}/companies/async/j42/"
SIGNED = (
    "https://storage.test/b/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261123T100000Z"
    "&X-Amz-Expires=600&X-Amz-Signature=ab12"
)
PROVIDER = ProfileProvider(bundled_profile("vainu"))


def job_object(state: str, **extra: object) -> dict[str, object]:
    return {
        "job_id": "j42",
        "state": state,
        "link": LINK,
        "download_link": None,
        "created": "2026-11-23T10:00:00Z",
        "finished": None,
        "duration": "0:00:01",
        **extra,
    }


def poll(harness, body: object, *, params=(("async_format", "csv"),), status=200, **kw):
    job = Job(
        id="1",
        account="v",
        provider="vainu",
        remote_id="j42",
        status_url=kw.get("status_url", LINK),
        request=SubmitRequest(path="companies/async/", params=params),
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.poll(s, job))


def test_submit_adds_csv_format_and_sends_the_key(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=job_object("accepted"))

    request = SubmitRequest(path="companies/async/", params=(("country", "FI"),))
    status = harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.submit(s, request))
    sent = harness.requests[0]
    assert sent.method == "GET"
    assert sent.url.path == "/api/v2/companies/async/"
    assert sent.url.params.multi_items() == [("country", "FI"), ("async_format", "csv")]
    assert sent.headers["API-Key"] == harness.secret
    assert (status.state, status.remote_state) == (JobState.QUEUED, "accepted")
    assert (status.remote_id, status.status_url) == ("j42", LINK)
    assert status.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert status.raw is not None and '"j42"' in status.raw


def test_submit_keeps_a_given_format(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=job_object("accepted"))

    request = SubmitRequest(params=(("async_format", "jsonl"),))
    harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.submit(s, request))
    assert harness.requests[0].url.params.get_list("async_format") == ["jsonl"]
    assert harness.requests[0].url.path == "/api/v2/companies/async/"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("accepted", JobState.QUEUED),
        ("process", JobState.RUNNING),
        ("PROCESS", JobState.RUNNING),
        ("completed", JobState.SUCCEEDED),
        ("failure", JobState.FAILED),
    ],
)
def test_state_mapping(harness, raw, state):
    status = poll(harness, job_object(raw))
    assert (status.state, status.remote_state) == (state, raw)


def test_completed_gives_a_presigned_link_with_its_expiry(harness):
    body = job_object("completed", download_link=SIGNED, finished="2026-11-23T10:05:00+00:00")
    status = poll(harness, body, params=(("async_format", "jsonl"),))
    (link,) = status.results
    assert link.url == SIGNED
    assert link.expires_at == datetime(2026, 11, 23, 10, 10, tzinfo=UTC)
    assert link.filename_hint == "vainu-j42.jsonl"
    assert not link.needs_auth
    assert status.finished_at == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def test_plain_link_has_no_expiry_and_csv_is_the_default(harness):
    status = poll(harness, job_object("completed", download_link="https://x.test/f"), params=())
    (link,) = status.results
    assert (link.expires_at, link.filename_hint) == (None, "vainu-j42.csv")


def test_failure_carries_the_error(harness):
    status = poll(harness, job_object("failure", error="query too broad\nretry"))
    assert status.state is JobState.FAILED
    assert status.error == "query too broad retry"
    status = poll(harness, job_object("failure"))
    assert status.error and "no reason" in status.error


def test_poll_by_id_builds_the_status_url(harness):
    status = poll(harness, {**job_object("process"), "link": None}, status_url=None)
    assert str(harness.requests[0].url) == LINK
    assert status.status_url == LINK


@pytest.mark.parametrize("body", [{"job_id": "j42"}, {"state": "weird"}, [1, 2]])
def test_unusable_objects_are_protocol_errors(harness, body):
    with pytest.raises(ProtocolError) as info:
        poll(harness, body)
    harness.check_message(info.value, mentions="vainu: polling job j42")


def test_parse_ref():
    assert PROVIDER.parse_ref(ACCOUNT, " j42 ").remote_id == "j42"
    ref = PROVIDER.parse_ref(ACCOUNT, LINK)
    assert (ref.remote_id, ref.status_url) == ("j42", LINK)
    with pytest.raises(UsageError, match="neither a job id nor"):
        PROVIDER.parse_ref(ACCOUNT, "not an id!")
    with pytest.raises(UsageError, match="not on the account's origin"):
        PROVIDER.parse_ref(ACCOUNT, "https://evil.test/api/v2/companies/async/j42/")


def test_static_attributes():
    assert PROVIDER.poll_policy.first_delay == 3
    assert (PROVIDER.poll_policy.min_interval, PROVIDER.poll_policy.max_interval) == (3, 60)
    assert PROVIDER.auth_headers(ACCOUNT, "k") == {"API-Key": "k"}
    assert dict(PROVIDER.default_request().params)["async_format"] == "csv"
