"""The Shoptet quota: bucket pacing before it is full, and a 429's HTTP-date Retry-After honoured
for the whole account (no request before that instant)."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time

import httpx

from jobdock.core.model.job import Account, Job, SubmitRequest
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.net.inputs import MAX_RETRY_AFTER
from jobdock.core.providers.shoptet.provider import ShoptetProvider
from jobdock.core.providers.shoptet.quota import DATE_SLACK, Quota, QuotaStatus, retry_instant

BASE = "https://shoptet.test"


class Clocks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_pacing_while_the_bucket_is_under_half_full() -> None:
    clocks = Clocks()
    quota = Quota(leak_per_second=3.0, clock=clocks, monotonic=clocks, sleep=clocks.sleep)
    quota.observe(200, {"X-RateLimit-Bucket-Filling": "90/200"})

    async def burst() -> None:
        for _ in range(5):
            async with quota.slot():
                pass

    asyncio.run(burst())
    assert clocks.now == 1000.0
    assert quota.status().bucket_filling == 90 and quota.status().bucket_size == 200


def test_requests_are_spaced_more_as_the_bucket_fills() -> None:
    clocks = Clocks()
    quota = Quota(leak_per_second=3.0, clock=clocks, monotonic=clocks, sleep=clocks.sleep)

    def spacing(level: int) -> float:
        quota.observe(200, {"X-RateLimit-Bucket-Filling": f"{level}/200"})
        times: list[float] = []

        async def two() -> None:
            for _ in range(2):
                async with quota.slot():
                    times.append(clocks.now)

        asyncio.run(two())
        return times[1] - times[0]

    half, fuller, full = spacing(110), spacing(160), spacing(199)
    assert 0 < half < fuller < full
    assert full <= 5 / 3.0 + 1e-6  # at most one request per five leak intervals


def test_a_paced_burst_never_fills_the_bucket() -> None:
    """Against a bucket that leaks as announced, a long burst levels off well under the top."""
    clocks = Clocks()
    quota = Quota(leak_per_second=3.0, clock=clocks, monotonic=clocks, sleep=clocks.sleep)
    level, at, highest = 0.0, clocks.now, 0.0

    async def burst() -> None:
        nonlocal level, at, highest
        for _ in range(600):
            async with quota.slot():
                level = max(0.0, level - (clocks.now - at) * 3.0) + 1
                at = clocks.now
                highest = max(highest, level)
            quota.observe(200, {"X-RateLimit-Bucket-Filling": f"{math.ceil(level)}/200"})

    asyncio.run(burst())
    assert 100 <= highest < 120


def test_retry_after_forms() -> None:
    now = 1_800_000_000.0
    assert retry_instant("7", now=now) == now + 7
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_instant(date, now=now) == now + 30 + DATE_SLACK
    assert retry_instant(None, now=now) == now + 1
    assert QuotaStatus.from_json(QuotaStatus(bucket_filling=5, bucket_size=200).to_json()) == (
        QuotaStatus(bucket_filling=5, bucket_size=200)
    )


def test_an_http_date_retry_after_holds_back_the_whole_account() -> None:
    """A 429 on one request: neither its retry nor any other request of the account leaves
    before the instant the HTTP-date names."""
    provider = ShoptetProvider()
    account = Account(name="s", provider="shoptet", base_url=BASE)
    sent: list[tuple[float, str]] = []
    until: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((time.time(), request.url.path))
        if not until:
            instant = math.floor(time.time()) + 2
            until.append(instant)
            date = email.utils.formatdate(instant, usegmt=True)
            body = {"data": None, "errors": [{"errorCode": "too-many-requests", "message": "x"}]}
            return httpx.Response(429, json=body, headers={"Retry-After": date})
        if request.url.path.endswith("/snapshot"):
            return httpx.Response(201, json={"data": {"jobId": "new1"}, "errors": None})
        detail = {"jobId": "3ax1844", "status": "running", "creationTime": None}
        return httpx.Response(200, json={"data": detail, "errors": None})

    async def main() -> None:
        transport = httpx.MockTransport(handler)
        headers = provider.auth_headers(account, "token-0042")
        api = make_api_client(headers=headers, transport=transport)
        bare = make_bare_client(transport=transport)
        session = ApiSession(account, api, bare)
        job = Job(id="1", account="s", provider="shoptet", remote_id="3ax1844")
        try:
            polled = asyncio.create_task(provider.poll(session, job))
            async with asyncio.timeout(10):  # until the 429 has come back and been read
                while not getattr(provider.quota_status(session), "not_before", None):  # noqa: ASYNC110 - set by the poll's task
                    await asyncio.sleep(0.01)
            assert provider.quota_status(session).not_before is not None  # type: ignore[union-attr]
            submitted = await provider.submit(session, SubmitRequest(path="/api/x/snapshot"))
            assert submitted.remote_id == "new1"
            assert (await polled).remote_state == "running"
        finally:
            await api.aclose()
            await bare.aclose()

    asyncio.run(main())
    (instant,) = until
    later = [at for at, _path in sent[1:]]
    assert len(later) == 2
    assert min(later) >= instant  # nothing before the HTTP-date's instant


def test_a_wall_clock_set_back_during_a_429_wait_does_not_prolong_it() -> None:
    mono = Clocks()
    wall = [1_800_000_000.0]

    async def sleep(seconds: float) -> None:  # time passes on both clocks
        mono.now += seconds
        wall[0] += seconds

    quota = Quota(clock=lambda: wall[0], monotonic=mono, sleep=sleep)
    quota.observe(429, {"Retry-After": "30"})
    wall[0] -= 7200  # the wall clock is set back two hours during the wait

    async def one() -> None:
        async with quota.slot():
            pass

    asyncio.run(one())
    assert math.isclose(mono.now - 1000.0, 30.0)


def test_a_retry_after_of_infinity_or_1e12_neither_hangs_nor_breaks_the_status() -> None:
    """One reader for Retry-After (http.parse_retry_after): garbage waits the default second,
    an absurd wait is cut to the six hours every other Retry-After is cut to."""
    now = 1_800_000_000.0
    for value, wait in (("inf", 1.0), ("nan", 1.0), ("-5", 1.0), ("1e12", MAX_RETRY_AFTER)):
        quota = Quota(clock=lambda: now, monotonic=lambda: 1000.0)
        quota.observe(429, {"Retry-After": value})
        assert quota.not_before == now + wait, value
        assert quota.wait_ahead() == wait
        status = quota.status()  # a datetime: an infinite instant would raise here
        assert status.not_before is not None
