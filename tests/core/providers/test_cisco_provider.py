"""CiscoCceProvider: `?async=true`, 202 + Location + progress (JSON or XML), the synchronous final
answers, failures with `apiErrors` bodies, and which answers are errors rather than job states."""

from __future__ import annotations

import base64

import httpx
import pytest

from jobdock.core.model.errors import ConfigError, ProtocolError, ProviderError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.cisco import CiscoCceProvider

BASE = "https://cce.test/unifiedconfig/config"
ACCOUNT = Account(name="c", provider="cisco-cce", base_url=BASE, user="administrator")
PROVIDER = CiscoCceProvider()
POLL_URL = "https://cce.test/unifiedconfig/config/requeststatus/77"
JSON_REQUEST = SubmitRequest(
    method="POST", path="calltype", body=b'{"name": "x"}', content_type="application/json"
)
XML_REQUEST = SubmitRequest(
    method="PUT",
    path="calltype/5001",
    body=b"<callType><name>x</name></callType>",
    content_type="application/xml",
)
API_ERRORS = {"apiErrors": {"apiError": [{"errorMessage": "Name already used", "errorType": "x"}]}}
XML_ERRORS = (
    "<apiErrors><apiError><errorData>name</errorData><errorMessage>Invalid name</errorMessage>"
    "</apiError></apiErrors>"
)


def submit(harness, response: httpx.Response, request: SubmitRequest = JSON_REQUEST):
    return harness.run(PROVIDER, ACCOUNT, lambda r: response, lambda s: PROVIDER.submit(s, request))


def poll(harness, response: httpx.Response, request: SubmitRequest | None = JSON_REQUEST):
    job = Job(id="1", account="c", provider="cisco-cce", status_url=POLL_URL, request=request)
    return harness.run(PROVIDER, ACCOUNT, lambda r: response, lambda s: PROVIDER.poll(s, job))


def xml(status: int, text: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers={"Content-Type": "application/xml", **headers})


def test_submit_adds_async_and_basic_auth(harness):
    response = httpx.Response(
        202,
        json={"progress": "IN_QUEUE"},
        headers={"Location": "/unifiedconfig/config/requeststatus/77"},
    )
    status = submit(harness, response)
    sent = harness.requests[0]
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE}/calltype?async=true")
    assert sent.content == b'{"name": "x"}'
    assert sent.headers["content-type"] == "application/json"
    user_pass = base64.b64decode(sent.headers["authorization"].split()[1]).decode()
    assert user_pass == f"administrator:{harness.secret}"
    assert (status.state, status.remote_state, status.status_url) == (
        JobState.QUEUED,
        "IN_QUEUE",
        POLL_URL,
    )


def test_submit_xml_body_and_namespaced_xml_progress(harness):
    body = (
        '<?xml version="1.0"?><ns:apiAsyncResponse xmlns:ns="urn:cisco">'
        "<ns:progress>IN_PROGRESS</ns:progress></ns:apiAsyncResponse>"
    )
    status = submit(harness, xml(202, body, Location=POLL_URL), XML_REQUEST)
    sent = harness.requests[0]
    assert (sent.method, sent.url.params["async"]) == ("PUT", "true")
    assert sent.headers["content-type"] == "application/xml"
    assert (status.state, status.remote_state) == (JobState.RUNNING, "IN_PROGRESS")


def test_progress_is_found_at_any_depth(harness):
    body = {"wrapper": {"items": [{"progress": "IN_QUEUE"}]}}
    status = poll(harness, httpx.Response(202, json=body, headers={"Location": POLL_URL}))
    assert status.state is JobState.QUEUED


def test_a_hostile_xml_body_is_not_expanded(harness):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><r><progress>&lol2;</progress></r>'
    )
    status = poll(harness, xml(202, bomb, Location=POLL_URL))
    assert (status.state, status.remote_state) == (JobState.RUNNING, "HTTP 202")


def test_poll_202_follows_the_newest_location(harness):
    response = httpx.Response(202, json={"progress": "SOMETHING_NEW"}, headers={"Location": "78"})
    status = poll(harness, response)
    assert status.status_url == "https://cce.test/unifiedconfig/config/requeststatus/78"
    assert (status.state, status.remote_state) == (JobState.RUNNING, "SOMETHING_NEW")
    status = poll(harness, httpx.Response(202))
    assert (status.state, status.status_url) == (JobState.RUNNING, POLL_URL)


@pytest.mark.parametrize(
    ("request_", "content_type", "hint"),
    [
        (JSON_REQUEST, "application/json", "5001.json"),
        (XML_REQUEST, None, "5001.xml"),
        (JSON_REQUEST, "application/xml", "5001.xml"),
    ],
)
def test_201_is_done_with_the_created_item_as_result(harness, request_, content_type, hint):
    headers = {"Location": f"{BASE}/calltype/5001"}
    if content_type:
        headers["Content-Type"] = content_type
    status = poll(harness, httpx.Response(201, headers=headers), request_)
    assert (status.state, status.remote_state) == (JobState.SUCCEEDED, "HTTP 201")
    (link,) = status.results
    assert (link.url, link.needs_auth, link.filename_hint) == (f"{BASE}/calltype/5001", True, hint)


def test_200_keeps_the_body_and_204_has_nothing(harness):
    status = poll(harness, httpx.Response(200, json={"name": "x", "id": 5001}), XML_REQUEST)
    assert (status.state, status.results) == (JobState.SUCCEEDED, ())
    assert status.raw == status.log == '{"name":"x","id":5001}'
    status = poll(harness, httpx.Response(204))
    assert (status.state, status.results, status.raw) == (JobState.SUCCEEDED, (), None)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(400, json=API_ERRORS), "Name already used"),
        (xml(400, XML_ERRORS), "Invalid name"),
        (httpx.Response(409, json=API_ERRORS), "Name already used"),
        (httpx.Response(422, text="unprocessable\nentity"), "unprocessable entity"),
        (httpx.Response(500, json=API_ERRORS), "Name already used"),
        (httpx.Response(408, json={"apiErrors": {"apiError": {"errorMessage": "x"}}}), "x"),
        (httpx.Response(400, text="Request timed out in queue"), "Request timed out in queue"),
    ],
)
def test_final_errors_fail_the_job_with_the_body_as_log(harness, response, error):
    status = poll(harness, response)
    assert status.state is JobState.FAILED
    assert status.error == error
    assert status.log == response.text
    assert status.remote_state == f"HTTP {response.status_code}"


def test_synchronous_answers_finish_at_submit(harness):
    status = submit(harness, httpx.Response(201, headers={"Location": f"{BASE}/calltype/9"}))
    assert status.state is JobState.SUCCEEDED
    assert [r.url for r in status.results] == [f"{BASE}/calltype/9"]
    assert submit(harness, httpx.Response(204)).state is JobState.SUCCEEDED


def test_rejected_submit_names_the_error_message(harness):
    with pytest.raises(ProviderError) as info:
        submit(harness, httpx.Response(400, json=API_ERRORS))
    message = harness.check_message(info.value, mentions="cisco-cce: submitting POST calltype")
    assert "HTTP 400" in message and "Name already used" in message


def test_202_without_location_is_a_protocol_error(harness):
    with pytest.raises(ProtocolError, match="without a Location"):
        submit(harness, httpx.Response(202, json={"progress": "IN_QUEUE"}))


def test_missing_user_is_a_config_error():
    with pytest.raises(ConfigError, match="needs a user name"):
        PROVIDER.auth_headers(Account(name="c", provider="cisco-cce", base_url=BASE), "pw")


def test_parse_ref_takes_only_the_polling_url():
    assert PROVIDER.parse_ref(ACCOUNT, POLL_URL).status_url == POLL_URL
    with pytest.raises(UsageError, match=r"tracked by their polling URL \(the Location header\)"):
        PROVIDER.parse_ref(ACCOUNT, "77")


def test_static_attributes():
    policy = PROVIDER.poll_policy
    assert (policy.first_delay, policy.min_interval, policy.max_interval) == (1, 1, 30)
    assert PROVIDER.default_request().method == "POST"
