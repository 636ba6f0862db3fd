"""ShoptetProvider: the envelope and its error codes, the webhook requirement, job detail mapping,
the detail-call budget and the switch to the jobs list, and list pagination."""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from jobdock.core.model.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    UsageError,
)
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.providers.shoptet.provider import (
    DetailLimitError,
    ShoptetProvider,
    WebhookRequiredError,
)

BASE = "https://shoptet.test"
ACCOUNT = Account(name="s", provider="shoptet", base_url=BASE)
PROVIDER = ShoptetProvider()
DETAIL = f"{BASE}/api/system/jobs/3ax1844"
CET = timezone(timedelta(hours=1))


def ok(data: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"data": data, "errors": None}, headers=headers)


def fail(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    errors = [{"errorCode": code, "message": message, "instance": "x"}]
    return httpx.Response(status, json={"data": None, "errors": errors}, headers=headers)


def detail(status: str, **extra: object) -> dict[str, object]:
    return {
        "jobId": "3ax1844",
        "endpoint": "/api/products/snapshot",
        "creationTime": "2019-01-09T15:13:39+0100",
        "completionTime": None,
        "status": status,
        "resultUrl": None,
        "validUntil": None,
        "log": None,
        **extra,
    }


def make_job(polls: int = 0) -> Job:
    return Job(
        id="1",
        account="s",
        provider="shoptet",
        remote_id="3ax1844",
        status_url=DETAIL,
        polls=polls,
        created_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )


def poll(harness, handler, job: Job | None = None):
    job = job or make_job()
    return harness.run(PROVIDER, ACCOUNT, handler, lambda s: PROVIDER.poll(s, job))


def submit(harness, response: httpx.Response, request: SubmitRequest | None = None):
    request = request or PROVIDER.default_request()
    return harness.run(PROVIDER, ACCOUNT, lambda r: response, lambda s: PROVIDER.submit(s, request))


def test_submit_returns_the_job_id(harness):
    status = submit(harness, ok({"jobId": "3ax1844"}, 201))
    sent = harness.requests[0]
    assert (sent.method, str(sent.url)) == ("GET", f"{BASE}/api/products/snapshot")
    assert sent.headers["Shoptet-Private-API-Token"] == harness.secret
    assert (status.state, status.remote_state) == (JobState.QUEUED, "pending")
    assert (status.remote_id, status.status_url) == ("3ax1844", DETAIL)


def test_submit_passes_the_body_through(harness):
    request = SubmitRequest(
        method="POST",
        path="/api/products/abc/images",
        body=b'{"data": {"images": []}}',
        content_type="application/json",
    )
    submit(harness, ok({"jobId": "9z"}, 201), request)
    sent = harness.requests[0]
    assert (sent.method, sent.url.path, sent.content) == ("POST", request.path, request.body)
    assert sent.headers["content-type"] == "application/json"


def test_submit_to_a_synchronous_endpoint_is_a_protocol_error(harness):
    with pytest.raises(ProtocolError) as info:
        submit(harness, ok({"products": []}))
    harness.check_message(info.value, mentions="shoptet: submitting GET /api/products/snapshot")


@pytest.mark.parametrize(
    "response",
    [
        fail(403, "webhook-not-registered", "Register job:finished webhook first."),
        fail(403, "forbidden", "You need a job:finished webhook for asynchronous requests."),
    ],
)
def test_missing_webhook_is_explained(harness, response):
    with pytest.raises(WebhookRequiredError) as info:
        submit(harness, response)
    message = harness.check_message(info.value, mentions="shoptet: submitting")
    assert isinstance(info.value, ConfigError)
    assert "job:finished webhook" in message and "POST /api/webhooks" in message


@pytest.mark.parametrize(
    ("response", "kind", "text"),
    [
        (fail(400, "invalid-request", "Bad page"), ProviderError, "Bad page (invalid-request)"),
        (fail(401, "invalid-token", "Invalid token"), AuthError, "invalid-token"),
        (fail(401, "expired-token", "Token expired"), AuthError, "expired-token"),
        (fail(404, "not-found", "No such job"), NotFoundError, "not-found"),
        (
            httpx.Response(200, json={"data": None, "errors": [{"errorCode": "e1"}]}),
            ProviderError,
            "e1",
        ),
    ],
)
def test_envelope_errors(harness, response, kind, text):
    with pytest.raises(kind) as info:
        submit(harness, response)
    assert text in harness.check_message(info.value, mentions="shoptet:")


def test_rate_limit_with_an_http_date(harness):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    response = fail(429, "too-many-connections", "Too many", **{"Retry-After": when})
    with pytest.raises(RateLimitedError) as info:
        submit(harness, response)
    assert info.value.retry_after == pytest.approx(20, abs=2)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("pending", JobState.QUEUED),
        ("running", JobState.RUNNING),
        ("RUNNING", JobState.RUNNING),
        ("completed", JobState.SUCCEEDED),
        ("failed", JobState.FAILED),
        ("killed", JobState.FAILED),
        ("expired", JobState.SUCCEEDED),
    ],
)
def test_detail_state_mapping(harness, raw, state):
    status = poll(harness, lambda r: ok(detail(raw), **{"X-RateLimit-Bucket-Filling": "3/200"}))
    assert (status.state, status.remote_state) == (state, raw)
    assert status.created_at == datetime(2019, 1, 9, 15, 13, 39, tzinfo=CET)
    assert str(harness.requests[0].url) == DETAIL


def test_completed_links_the_result_until_valid_until(harness):
    body = detail(
        "completed",
        resultUrl="https://cdn.test/api-results/3ax1844-lrmsrf0.json",
        validUntil="2019-01-10T15:13:39+0100",
        completionTime="2019-01-09T15:15:13+0100",
    )
    status = poll(harness, lambda r: ok(body))
    (link,) = status.results
    assert link.url == "https://cdn.test/api-results/3ax1844-lrmsrf0.json"
    assert link.expires_at == datetime(2019, 1, 10, 14, 13, 39, tzinfo=UTC)
    assert (link.filename_hint, link.needs_auth) == ("3ax1844-lrmsrf0.json", False)
    assert status.finished_at == datetime(2019, 1, 9, 15, 15, 13, tzinfo=CET)


def test_failed_and_killed_take_the_last_log_line(harness):
    body = detail("failed", log="started\nimage 100.jpg: download failed\n\n")
    status = poll(harness, lambda r: ok(body))
    assert status.error == "image 100.jpg: download failed"
    assert status.log == body["log"]
    assert poll(harness, lambda r: ok(detail("killed"))).error == "the job was killed"


def test_expired_results(harness):
    body = detail(
        "expired", resultUrl="https://cdn.test/r.json", validUntil="2019-01-10T15:13:39+0100"
    )
    (link,) = poll(harness, lambda r: ok(body)).results
    assert link.expires_at is not None and link.expires_at < datetime.now(UTC)
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    (link,) = poll(harness, lambda r: ok({**body, "validUntil": future})).results
    assert link.expires_at is not None and link.expires_at <= datetime.now(UTC)
    status = poll(harness, lambda r: ok(detail("expired")))
    assert status.results == ()
    assert status.error == (
        "results expired on the server after 24 h; re-submit the request to get them again"
    )


def list_page(jobs: list[dict[str, object]], page: int, pages: int) -> httpx.Response:
    paginator = {"totalCount": 3 * pages, "page": page, "pageCount": pages}
    paginator |= {"itemsOnPage": len(jobs), "itemsPerPage": 500}
    return ok({"jobs": jobs, "paginator": paginator})


def listed(job_id: str, status: str) -> dict[str, object]:
    return {
        "jobId": job_id,
        "endpoint": "/api/x",
        "creationTime": "2026-11-23T11:00:00+0100",
        "completionTime": None,
        "status": status,
    }


def test_within_the_detail_budget_the_detail_is_read(harness):
    poll(harness, lambda r: ok(detail("running")), make_job(polls=7))
    assert [r.url.path for r in harness.requests] == ["/api/system/jobs/3ax1844"]


def test_past_the_budget_an_unfinished_job_is_read_from_the_list(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/system/jobs", "no detail call on an unfinished job"
        page = int(request.url.params["page"])
        if page == 1:
            return list_page([listed("aaa", "completed")], 1, 2)
        return list_page([listed("3ax1844", "running")], 2, 2)

    status = poll(harness, handler, make_job(polls=8))
    assert (status.state, status.remote_id, status.status_url) == (
        JobState.RUNNING,
        "3ax1844",
        DETAIL,
    )
    params = harness.requests[0].url.params
    assert params["itemsPerPage"] == "500"
    assert params["creationTimeFrom"] == "2026-11-23T09:59:00+0000"
    assert "status" not in params


def test_past_the_budget_a_finished_job_is_read_in_detail(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/system/jobs":
            return list_page([listed("3ax1844", "completed")], 1, 1)
        return ok(detail("completed", resultUrl="https://cdn.test/r.json"))

    status = poll(harness, handler, make_job(polls=30))
    assert [r.url.path for r in harness.requests] == [
        "/api/system/jobs",
        "/api/system/jobs/3ax1844",
    ]
    assert [r.url for r in status.results] == ["https://cdn.test/r.json"]


def test_a_detail_limit_answer_falls_back_to_the_list(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/system/jobs":
            return list_page([listed("3ax1844", "pending")], 1, 1)
        return fail(403, "job-detail-try-counter-exceeded-limit", "Too many detail calls")

    assert poll(harness, handler, make_job(polls=3)).state is JobState.QUEUED


def test_a_job_missing_from_the_list_is_not_found(harness):
    with pytest.raises(NotFoundError) as info:
        poll(harness, lambda r: list_page([], 1, 1), make_job(polls=9))
    harness.check_message(info.value, mentions="shoptet: job 3ax1844 is not in the jobs list")


def test_detail_limit_error_is_transient_not_a_failure(harness):
    response = fail(403, "job-detail-try-counter-exceeded-limit", "Too many")
    with pytest.raises(DetailLimitError) as info:
        submit(harness, response)
    assert info.value.transient and info.value.status_code == 403


def test_list_jobs_pages_through_everything(harness):
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        jobs = [listed(f"p{page}j{i}", "completed") for i in range(3)]
        return list_page(jobs, page, 3)

    async def collect(session):
        since = datetime(2026, 11, 1, tzinfo=UTC)
        return [
            s
            async for s in PROVIDER.list_jobs(
                session, status="completed", created_from=since, with_details=False
            )
        ]

    statuses = harness.run(PROVIDER, ACCOUNT, handler, collect)
    assert [s.remote_id for s in statuses][::3] == ["p1j0", "p2j0", "p3j0"]
    assert len(statuses) == 9
    assert all(s.state is JobState.SUCCEEDED and s.status_url for s in statuses)
    assert [r.url.params["page"] for r in harness.requests] == ["1", "2", "3"]
    first = harness.requests[0].url.params
    assert (first["status"], first["itemsPerPage"]) == ("completed", "500")
    assert first["creationTimeFrom"] == "2026-11-01T00:00:00+0000"


def test_parse_ref():
    assert PROVIDER.parse_ref(ACCOUNT, "3ax1844").remote_id == "3ax1844"
    ref = PROVIDER.parse_ref(ACCOUNT, DETAIL)
    assert (ref.remote_id, ref.status_url) == ("3ax1844", DETAIL)
    for bad in ("3ax-1844", f"{BASE}/api/products/1"):
        with pytest.raises(UsageError, match="neither a job id"):
            PROVIDER.parse_ref(ACCOUNT, bad)


def test_add_on_accounts_need_a_token_url():
    account = Account(name="s", provider="shoptet", base_url=BASE, options={"auth": "addon"})
    with pytest.raises(ConfigError, match="token_url="):
        PROVIDER.auth_headers(account, "tok")
    with_url = Account(
        name="s", provider="shoptet", base_url=BASE,
        options={"auth": "addon", "token_url": f"{BASE}/token"},
    )  # fmt: skip
    assert PROVIDER.auth_headers(with_url, "tok") == {}  # the access token goes per request
    other = Account(name="s", provider="shoptet", base_url=BASE, options={"auth": "oauth2"})
    with pytest.raises(ConfigError, match="auth=addon"):
        PROVIDER.auth_headers(other, "tok")
    assert PROVIDER.auth_headers(ACCOUNT, "tok") == {"Shoptet-Private-API-Token": "tok"}
