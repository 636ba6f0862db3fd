"""Every built-in provider against the same bad answers while polling: each becomes the right
`core.errors` exception with a one-line message that names the provider and holds no secret,
`Retry-After` in all its forms is honoured, and credentials never leave the account's origin."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import httpx
import pytest

from jobdock.core.model.errors import (
    AuthError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ServerError,
)
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers import builtin_providers
from jobdock.core.providers.base import Provider

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"
)


@dataclass(frozen=True)
class Case:
    provider_id: str
    base_url: str
    status_path: str
    auth_header: str
    running_body: object
    running_status: int = 200
    user: str | None = None

    @property
    def provider(self) -> Provider:
        return builtin_providers()[self.provider_id]

    @property
    def account(self) -> Account:
        return Account(
            name="acct", provider=self.provider_id, base_url=self.base_url, user=self.user
        )

    @property
    def job(self) -> Job:
        return Job(
            id="7",
            account="acct",
            provider=self.provider_id,
            remote_id="abc1" if self.provider_id in ("vainu", "testo", "shoptet") else None,
            status_url=self.base_url.rstrip("/") + self.status_path,
            request=SubmitRequest(method="PUT", path="items/x"),
        )


CASES = [
    Case("vainu", "https://api.vainu.test/api/v2", "/companies/async/abc1/", "API-Key",
         {"job_id": "abc1", "state": "process", "link": None}),
    Case("testo", "https://testo.test", "/v3/devices/status/abc1", "x-custom-api-key",
         {"request_uuid": "abc1", "status": "In Progress"}),
    Case("cisco-cce", "https://cce.test/unifiedconfig/config", "/requeststatus/9",
         "Authorization", {"progress": "IN_PROGRESS"}, running_status=202, user="administrator"),
    Case("generic-202", "https://lro.test", "/operations/9", "Authorization",
         {"id": "9", "status": "Running"}),
    Case("shoptet", "https://shoptet.test", "/api/system/jobs/abc1", "Shoptet-Private-API-Token",
         {"data": {"jobId": "abc1", "status": "running"}, "errors": None}),
]  # fmt: skip
IDS = [c.provider_id for c in CASES]


def case_id(case: Case) -> str:
    return case.provider_id


def poll_answer(harness, case: Case, response: httpx.Response):
    def handler(request: httpx.Request) -> httpx.Response:
        return response

    return harness.run(
        case.provider, case.account, handler, lambda s: case.provider.poll(s, case.job)
    )


def poll_error(harness, case: Case, response: httpx.Response, kind: type[Exception]):
    with pytest.raises(kind) as info:
        poll_answer(harness, case, response)
    harness.check_message(info.value, mentions=f"{case.provider_id}:")
    return info.value


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_running_answer_sends_credentials_and_reads_retry_after(harness, case):
    response = httpx.Response(
        case.running_status, json=case.running_body, headers={"Retry-After": "4"}
    )
    status = poll_answer(harness, case, response)
    assert status.state is JobState.RUNNING
    assert status.retry_after == 4
    assert status.raw
    assert harness.requests[0].headers.get(case.auth_header)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nginx_502_page_is_a_server_error(harness, case):
    response = httpx.Response(502, text=NGINX_502, headers={"Content-Type": "text/html"})
    error = poll_error(harness, case, response, ServerError)
    assert "502 Bad Gateway" in str(error)
    assert error.retry_after is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_503_with_retry_after_is_transient(harness, case):
    response = httpx.Response(503, text="busy", headers={"Retry-After": "5"})
    error = poll_error(harness, case, response, ServerError)
    assert error.transient and error.retry_after == 5


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bare_500_is_a_server_error(harness, case):
    poll_error(harness, case, httpx.Response(500, text="Internal Server Error"), ServerError)


@pytest.mark.parametrize("case", [c for c in CASES if c.provider_id != "cisco-cce"], ids=case_id)
def test_malformed_json_is_a_protocol_error(harness, case):
    response = httpx.Response(200, text='{"job_id": ', headers={"Content-Type": "application/json"})
    if case.provider_id == "generic-202":
        # A monitor that is not JSON is a plain Location monitor's final answer: done.
        assert poll_answer(harness, case, response).state is JobState.SUCCEEDED
        return
    error = poll_error(harness, case, response, ProtocolError)
    assert "expected JSON" in str(error)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("code", [401, 403])
def test_auth_failures(harness, case, code):
    body = {"detail": f"Invalid API key {harness.secret}"}  # a server that echoes the key
    error = poll_error(harness, case, httpx.Response(code, json=body), AuthError)
    assert error.status_code == code
    assert "Invalid API key [REDACTED]" in str(error)
    assert harness.secret not in str(error)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_not_found(harness, case):
    error = poll_error(
        harness, case, httpx.Response(404, json={"message": "no such job"}), NotFoundError
    )
    assert "404" in str(error)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5), (None, 30.0)],
    ids=["seconds", "ms", "http-date"],
)
def test_rate_limited(harness, case, headers, expected):
    if headers is None:
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        headers = {"Retry-After": when}
    response = httpx.Response(429, json={"message": "slow down"}, headers=headers)
    error = poll_error(harness, case, response, RateLimitedError)
    assert error.transient
    assert error.retry_after == pytest.approx(expected, abs=2)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_credentials_stay_on_the_api_origin_across_a_redirect(harness, case):
    elsewhere = "https://elsewhere.test/status"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "elsewhere.test":
            return httpx.Response(case.running_status, json=case.running_body)
        return httpx.Response(307, headers={"Location": elsewhere})

    job = case.job
    harness.run(case.provider, case.account, handler, lambda s: case.provider.poll(s, job))
    first, second = harness.requests
    assert first.headers.get(case.auth_header)
    assert second.url == elsewhere
    assert case.auth_header not in second.headers
    assert harness.secret not in str(second.headers)
