"""Generic202Provider: auth by account options, the choice of monitor header, status monitors'
states and results, Location-only monitors, and cookies kept between calls."""

from __future__ import annotations

import httpx
import pytest

from jobdock.core.model.errors import ConfigError, UsageError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.generic202 import Generic202Provider

BASE = "https://lro.test"
ACCOUNT = Account(name="g", provider="generic-202", base_url=BASE)
PROVIDER = Generic202Provider()
OP = f"{BASE}/operations/9"
RESULT = f"{BASE}/operations/9/result"
PUT = SubmitRequest(method="PUT", path="items/a", params=(("v", "1"),), body=b"{}")
POST = SubmitRequest(method="POST", path="items/a:run", body=b"{}")
DELETE = SubmitRequest(method="DELETE", path="items/a")


def submit(harness, response: httpx.Response, request: SubmitRequest = PUT):
    return harness.run(PROVIDER, ACCOUNT, lambda r: response, lambda s: PROVIDER.submit(s, request))


def poll(harness, response: httpx.Response, *, url: str = OP, request: SubmitRequest | None = PUT):
    job = Job(id="1", account="g", provider="generic-202", status_url=url, request=request)
    return harness.run(PROVIDER, ACCOUNT, lambda r: response, lambda s: PROVIDER.poll(s, job))


def accepted(**headers: str) -> httpx.Response:
    return httpx.Response(202, json={"id": "9"}, headers=headers)


@pytest.mark.parametrize(
    ("options", "user", "expected"),
    [
        ({}, None, {"Authorization": "Bearer tok"}),
        ({"auth": "Bearer"}, None, {"Authorization": "Bearer tok"}),
        ({"auth": "header", "auth_header": "X-Api-Key"}, None, {"X-Api-Key": "tok"}),
        ({"auth": "basic"}, "me", {"Authorization": "Basic bWU6dG9r"}),
    ],
)
def test_auth_by_options(options, user, expected):
    account = Account(name="g", provider="generic-202", base_url=BASE, user=user, options=options)
    assert PROVIDER.auth_headers(account, "tok") == expected


@pytest.mark.parametrize(
    "options",
    [
        {"auth": "header"},
        {"auth": "basic"},
        {"auth": "oauth2"},
        {"auth": "header", "auth_header": "a b"},
    ],
)
def test_unusable_auth_options(options):
    account = Account(name="g", provider="generic-202", base_url=BASE, options=options)
    with pytest.raises(ConfigError, match="generic-202: account 'g'"):
        PROVIDER.auth_headers(account, "tok")


@pytest.mark.parametrize(
    ("headers", "request_", "monitor"),
    [
        ({"Azure-AsyncOperation": OP, "Operation-Location": "/x", "Location": RESULT}, PUT, OP),
        ({"Operation-Location": "/operations/9", "Location": RESULT}, PUT, OP),
        ({"Location": RESULT}, PUT, RESULT),
        ({"Azure-AsyncOperation": OP, "Location": RESULT}, DELETE, OP),
        # A POST polls its status monitor; its Location is kept as the job's result_url.
        ({"Azure-AsyncOperation": OP, "Location": RESULT}, POST, OP),
        ({"Azure-AsyncOperation": OP}, POST, OP),
    ],
)
def test_monitor_choice(harness, headers, request_, monitor):
    status = submit(harness, accepted(**headers, **{"Retry-After": "2"}), request_)
    assert (status.state, status.status_url, status.retry_after) == (JobState.RUNNING, monitor, 2)
    assert harness.requests[0].headers["authorization"] == f"Bearer {harness.secret}"
    assert "async" not in harness.requests[0].url.params


def test_put_answered_201_with_a_monitor_is_followed(harness):
    status = submit(harness, httpx.Response(201, json={}, headers={"Location": RESULT}))
    assert (status.state, status.status_url) == (JobState.RUNNING, RESULT)


def test_synchronous_200_on_put_links_the_resource(harness):
    status = submit(harness, httpx.Response(200, json={"name": "a"}))
    assert status.state is JobState.SUCCEEDED
    assert [r.url for r in status.results] == [f"{BASE}/items/a?v=1"]


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("NotStarted", JobState.QUEUED),
        ("Running", JobState.RUNNING),
        ("running", JobState.RUNNING),
        ("InProgress", JobState.RUNNING),
        ("Accepted", JobState.RUNNING),
        ("Creating", JobState.RUNNING),
        ("Updating", JobState.RUNNING),
        ("Deleting", JobState.RUNNING),
    ],
)
def test_status_monitor_running_states(harness, raw, state):
    body = {"id": "9", "status": raw, "percentComplete": 40}
    status = poll(harness, httpx.Response(200, json=body))
    assert (status.state, status.remote_state, status.progress) == (state, raw, 40.0)
    assert (status.remote_id, status.results, status.error) == ("9", (), None)


def test_succeeded_links_the_resource_location(harness):
    body = {
        "status": "Succeeded",
        "resourceLocation": "/items/a",
        "endTime": "2026-01-02T03:04:05Z",
    }
    status = poll(harness, httpx.Response(200, json=body))
    assert status.state is JobState.SUCCEEDED
    (link,) = status.results
    assert (link.url, link.needs_auth, link.filename_hint) == (f"{BASE}/items/a", True, "a.json")
    assert status.finished_at is not None and status.finished_at.year == 2026


@pytest.mark.parametrize(
    ("request_", "urls"),
    [(PUT, [f"{BASE}/items/a?v=1"]), (DELETE, []), (None, [])],
)
def test_succeeded_without_resource_location(harness, request_, urls):
    status = poll(harness, httpx.Response(200, json={"status": "SUCCEEDED"}), request=request_)
    assert status.state is JobState.SUCCEEDED
    assert [r.url for r in status.results] == urls


def test_failed_and_canceled(harness):
    body = {"status": "Failed", "error": {"code": "Quota", "message": "quota\nexceeded"}}
    status = poll(harness, httpx.Response(200, json=body))
    assert (status.state, status.error) == (JobState.FAILED, "quota exceeded")
    assert status.log is not None and "Quota" in status.log
    status = poll(harness, httpx.Response(200, json={"status": "Canceled"}))
    assert (status.state, status.error) == (JobState.CANCELLED, "the operation was cancelled")
    status = poll(harness, httpx.Response(200, json={"status": "Failed"}))
    assert status.error == "the operation failed"


def test_location_monitor_states(harness):
    status = poll(harness, httpx.Response(202, headers={"Retry-After": "1"}), url=RESULT)
    assert (status.state, status.status_url, status.retry_after) == (JobState.RUNNING, RESULT, 1)
    status = poll(harness, httpx.Response(200, json={"answer": 42}), url=RESULT)
    assert status.state is JobState.SUCCEEDED
    (link,) = status.results
    assert (link.url, link.needs_auth, link.filename_hint) == (RESULT, True, "result.json")
    status = poll(harness, httpx.Response(204), url=RESULT)
    assert (status.state, status.results) == (JobState.SUCCEEDED, ())
    body = {"error": {"code": "Bad", "message": "bad input"}}
    status = poll(harness, httpx.Response(400, json=body), url=RESULT)
    assert (status.state, status.error) == (JobState.FAILED, "bad input")


def test_post_result_comes_from_the_location_kept_at_submit(harness):
    headers = {"Azure-AsyncOperation": OP, "Location": RESULT}
    status = submit(harness, accepted(**headers), POST)
    assert (status.status_url, status.result_url) == (OP, RESULT)
    job = Job(
        id="1", account="g", provider="generic-202", status_url=OP, result_url=RESULT,
        request=POST,
    )  # fmt: skip
    response = httpx.Response(200, json={"status": "Succeeded"})
    done = harness.run(PROVIDER, ACCOUNT, lambda r: response, lambda s: PROVIDER.poll(s, job))
    assert [r.url for r in done.results] == [RESULT]


def test_see_other_leads_to_the_result(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/operations/9/result":
            return httpx.Response(303, headers={"Location": "/items/a"})
        return httpx.Response(200, json={"name": "a"})

    job = Job(id="1", account="g", provider="generic-202", status_url=RESULT, request=POST)
    status = harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.poll(s, job))
    assert [r.url for r in status.results] == [f"{BASE}/items/a"]


def test_cookies_set_at_submit_are_sent_when_polling(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return accepted(**{"Azure-AsyncOperation": OP, "Set-Cookie": "affinity=n1; Path=/"})
        return httpx.Response(200, json={"status": "Running"})

    async def submit_then_poll(session):
        submitted = await PROVIDER.submit(session, PUT)
        job = Job(id="1", account="g", provider="generic-202", status_url=submitted.status_url)
        return await PROVIDER.poll(session, job)

    assert harness.run(PROVIDER, ACCOUNT, handler, submit_then_poll).state is JobState.RUNNING
    assert harness.requests[1].headers["cookie"] == "affinity=n1"


def test_parse_ref_takes_only_a_monitor_url():
    assert PROVIDER.parse_ref(ACCOUNT, OP).status_url == OP
    with pytest.raises(UsageError, match="tracked by their monitor URL"):
        PROVIDER.parse_ref(ACCOUNT, "9")


def test_put_with_an_unfinished_provisioning_state_polls_the_resource(harness):
    body = {"properties": {"provisioningState": "Creating"}, "id": "1"}
    status = submit(harness, httpx.Response(201, json=body))
    assert (status.state, status.remote_state) == (JobState.RUNNING, "Creating")
    assert status.status_url == f"{BASE}/items/a?v=1"
    for raw, state in [("Updating", JobState.RUNNING), ("Failed", JobState.FAILED),
                       ("Canceled", JobState.CANCELLED)]:  # fmt: skip
        answer = httpx.Response(200, json={"properties": {"provisioningState": raw}})
        polled = poll(harness, answer, url=f"{BASE}/items/a?v=1")
        assert (polled.state, polled.remote_state) == (state, raw)
        assert (polled.error is not None) == (state is not JobState.RUNNING)
    done = {"properties": {"provisioningState": "Succeeded"}}
    polled = poll(harness, httpx.Response(200, json=done), url=f"{BASE}/items/a?v=1")
    assert polled.state is JobState.SUCCEEDED
    assert [r.url for r in polled.results] == [f"{BASE}/items/a?v=1"]


def test_a_location_monitor_returns_its_final_body_whatever_it_says(harness):
    # Location polling (not the resource itself): the final answer is the result, as in Azure.
    body = {"properties": {"provisioningState": "Failed"}}
    status = poll(harness, httpx.Response(200, json=body), url=RESULT, request=DELETE)
    assert status.state is JobState.SUCCEEDED
    assert [r.url for r in status.results] == [RESULT]


def test_delete_keeps_no_location_beside_its_monitor(harness):
    status = submit(harness, accepted(**{"Azure-AsyncOperation": OP, "Location": RESULT}), DELETE)
    assert (status.status_url, status.result_url) == (OP, None)


@pytest.mark.parametrize(
    ("via", "request_", "expected"),
    [
        ("azure-async-operation", POST, OP),
        ("operation-location", PUT, OP),
        ("location", PUT, RESULT),
        ("original-uri", POST, f"{BASE}/items/a:run"),
    ],
)
def test_final_state_via(harness, via, request_, expected):
    account = Account(
        name="g", provider="generic-202", base_url=BASE, options={"final_state_via": via}
    )
    job = Job(
        id="1", account="g", provider="generic-202", status_url=OP, result_url=RESULT,
        request=request_,
    )  # fmt: skip
    response = httpx.Response(200, json={"status": "Succeeded"})
    done = harness.run(PROVIDER, account, lambda r: response, lambda s: PROVIDER.poll(s, job))
    assert [r.url for r in done.results] == [expected]


def test_a_bad_final_state_via_is_refused_early():
    account = Account(name="g", provider="generic-202", base_url=BASE,
                      options={"final_state_via": "somewhere"})  # fmt: skip
    with pytest.raises(ConfigError, match="final_state_via='somewhere'; use one of location"):
        PROVIDER.auth_headers(account, "tok")
