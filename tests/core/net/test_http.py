"""http.py: Retry-After forms, error mapping with readable messages, credential routing."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

import httpx
import pytest

from jobdock.core.model import errors
from jobdock.core.model.job import Account
from jobdock.core.net.http import (
    ApiSession,
    body_excerpt,
    credentialed,
    make_api_client,
    make_bare_client,
    parse_json,
    parse_retry_after,
    raise_for_status,
    safe_url,
)
from jobdock.core.net.inputs import MAX_ANSWER_BYTES, MAX_RETRY_AFTER
from jobdock.core.net.redaction import Redactor


def test_retry_after_seconds_date_and_ms() -> None:
    now = time.time()
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"}), now=now) == 7.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"Retry-After": date}), now=now) == pytest.approx(
        30, abs=1.5
    )
    both = httpx.Headers({"Retry-After": "9", "retry-after-ms": "1500"})
    assert parse_retry_after(both, now=now) == 1.5
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"}), now=now) is None
    past = email.utils.formatdate(now - 60, usegmt=True)
    assert parse_retry_after(httpx.Headers({"Retry-After": past}), now=now) == 0.0
    assert parse_retry_after(httpx.Headers({}), now=now) is None


def _response(
    status: int, body: bytes, ctype: str = "application/json", **headers: str
) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": ctype, **headers})


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, errors.AuthError),
        (403, errors.AuthError),
        (404, errors.NotFoundError),
        (429, errors.RateLimitedError),
        (500, errors.ServerError),
        (503, errors.ServerError),
        (400, errors.ProviderError),
    ],
)
def test_raise_for_status_maps_codes(status: int, kind: type[Exception]) -> None:
    with pytest.raises(kind) as info:
        raise_for_status(_response(status, b'{"message": "nope"}'), what="polling x")
    message = info.value.user_message  # type: ignore[attr-defined]
    assert "\n" not in message and "polling x" in message and "nope" in message


def test_rate_limit_carries_retry_after() -> None:
    with pytest.raises(errors.RateLimitedError) as info:
        raise_for_status(_response(429, b"", **{"Retry-After": "12"}), what="x")
    assert info.value.retry_after == 12.0
    assert info.value.transient


def test_html_error_page_is_summarised() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body>"
    response = _response(502, page, "text/html")
    assert body_excerpt(response) == "HTML page: 502 Bad Gateway"
    with pytest.raises(errors.ProtocolError) as info:
        parse_json(_response(200, page, "text/html"), what="status")
    assert "expected JSON" in info.value.user_message
    assert "502 Bad Gateway" in info.value.user_message


def test_malformed_json_is_protocol_error() -> None:
    with pytest.raises(errors.ProtocolError, match="expected JSON"):
        parse_json(_response(200, b'{"job_id": '), what="vainu status")


def test_shoptet_style_error_envelope() -> None:
    body = b'{"data": null, "errors": [{"errorCode": "invalid-token", "message": "Bad token"}]}'
    assert body_excerpt(_response(401, body)) == "Bad token (invalid-token)"


def test_safe_url_redacts_signatures() -> None:
    url = "https://s3.example/b/k?X-Amz-Signature=abc&X-Amz-Date=1&token=t&a=b"
    shown = safe_url(url)
    assert "abc" not in shown and "token=REDACTED" in shown and "a=b" in shown


def test_query_credentials_merge_into_the_url_query() -> None:
    creds = (("api_key", "k-1"),)
    url = "https://api.example/x?b=2&a=%20x+y&flag&api_key=old#frag"
    assert credentialed(url, creds, on_origin=True) == (
        "https://api.example/x?b=2&a=%20x+y&flag&api_key=k-1#frag"
    )
    assert credentialed("https://api.example/x", creds, on_origin=True) == (
        "https://api.example/x?api_key=k-1"
    )
    elsewhere = "https://cdn.example/f?sig=s&key=k-1&api_key=other"
    assert credentialed(elsewhere, creds, on_origin=False) == (
        "https://cdn.example/f?sig=s&api_key=other"
    )
    assert credentialed(url, (), on_origin=True) == url


def test_elsewhere_a_url_loses_every_credential_the_redactor_knows() -> None:
    redactor = Redactor()
    redactor.add("bearer-token-1")  # a bearer or OAuth access token: a header, not a parameter
    echoed = "https://cdn.example/f?access_token=bearer-token-1&sig=s"
    assert credentialed(echoed, (), on_origin=False, redactor=redactor) == (
        "https://cdn.example/f?sig=s"
    )
    assert credentialed(echoed, (), on_origin=True, redactor=redactor) == echoed  # its own host
    assert credentialed(echoed, (), on_origin=False) == echoed  # no redactor: only query auth


def test_a_token_echoed_into_a_redirect_elsewhere_is_not_sent_there() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example":
            target = "https://storage.example/file?access_token=bearer-token-1&part=2"
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, content=b"ok")

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        account = Account(name="a", provider="x", base_url="https://api.example")
        api = make_api_client(headers={"Authorization": "Bearer bearer-token-1"},
                              transport=transport)  # fmt: skip
        bare = make_bare_client(transport=transport)
        session = ApiSession(account=account, api=api, bare=bare)
        try:
            assert (await session.request("GET", "/start")).text == "ok"
        finally:
            await api.aclose()
            await bare.aclose()

    asyncio.run(run())
    assert [str(r.url) for r in seen] == [
        "https://api.example/start", "https://storage.example/file?part=2"]  # fmt: skip
    assert "authorization" not in seen[1].headers


def test_credentials_only_reach_the_account_origin() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example" and request.url.path == "/api/v2/start":
            return httpx.Response(302, headers={"Location": "https://storage.example/file"})
        if request.url.host == "storage.example":
            return httpx.Response(307, headers={"Location": "https://api.example/back"})
        return httpx.Response(200, content=b"ok")

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        account = Account(name="a", provider="vainu", base_url="https://api.example/api/v2")
        api = make_api_client(headers={"API-Key": "sekrit-key"}, transport=transport)
        bare = make_bare_client(transport=transport)
        session = ApiSession(account=account, api=api, bare=bare)
        try:
            response = await session.request("GET", "/start")
            assert response.text == "ok"
        finally:
            await api.aclose()
            await bare.aclose()

    asyncio.run(run())
    by_host = {(r.url.host, r.url.path): r.headers.get("API-Key") for r in seen}
    assert by_host[("api.example", "/api/v2/start")] == "sekrit-key"
    assert by_host[("storage.example", "/file")] is None
    assert by_host[("api.example", "/back")] == "sekrit-key"
    assert all("Jobdock/" in r.headers["user-agent"] for r in seen)


def test_redirect_loop_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": str(request.url)})

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        account = Account(name="a", provider="x", base_url="https://api.example")
        api = make_api_client(headers={}, transport=transport)
        session = ApiSession(account=account, api=api, bare=api)
        try:
            with pytest.raises(errors.ProtocolError, match="too many redirects"):
                await session.request("GET", "/loop")
        finally:
            await api.aclose()

    asyncio.run(run())


def test_connect_failure_is_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        account = Account(name="a", provider="x", base_url="https://api.example")
        api = make_api_client(headers={}, transport=transport)
        session = ApiSession(account=account, api=api, bare=api)
        try:
            with pytest.raises(errors.NetworkError, match=r"cannot connect to api\.example"):
                await session.request("GET", "/x")
        finally:
            await api.aclose()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1e12"}, MAX_RETRY_AFTER),
        ({"Retry-After": "99999999999999999999999"}, MAX_RETRY_AFTER),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "-inf"}, None),
        ({"retry-after-ms": "1e15"}, MAX_RETRY_AFTER),
        ({"retry-after-ms": "nan", "Retry-After": "4"}, 4.0),
        ({"retry-after-ms": "-100", "Retry-After": "4"}, 4.0),
        ({"retry-after-ms": "inf"}, None),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_RETRY_AFTER),
    ],
)
def test_retry_after_ignores_garbage_and_is_bounded(
    headers: dict[str, str], expected: float | None
) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=time.time()) == expected


def _session(handler: object) -> tuple[ApiSession, httpx.AsyncClient]:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    account = Account(name="a", provider="x", base_url="https://api.example")
    api = make_api_client(headers={}, transport=transport)
    return ApiSession(account=account, api=api, bare=api), api


class _Endless(httpx.AsyncByteStream):
    """A 64 MiB body in 1 MiB chunks, counting what was taken from it."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for _ in range(64):
            self.sent += 1 << 20
            yield b" " * (1 << 20)


def test_a_status_answer_larger_than_16_mib_is_an_error_read_no_further() -> None:
    body = _Endless()

    async def run() -> None:
        session, api = _session(lambda request: httpx.Response(200, stream=body))
        try:
            with pytest.raises(errors.ProtocolError, match="larger than 16 MiB"):
                await session.request("GET", "/status")
        finally:
            await api.aclose()

    asyncio.run(run())
    assert MAX_ANSWER_BYTES < body.sent <= MAX_ANSWER_BYTES + (2 << 20)


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    body = _Endless()
    too_long = {"Content-Length": str(MAX_ANSWER_BYTES + 1)}

    async def run() -> None:
        session, api = _session(lambda r: httpx.Response(200, headers=too_long, stream=body))
        try:
            with pytest.raises(errors.ProtocolError, match="larger than 16 MiB"):
                await session.request("GET", "/status")
        finally:
            await api.aclose()

    asyncio.run(run())
    assert body.sent == 0


def test_deeply_nested_json_is_a_protocol_error_not_recursion() -> None:
    deep = _response(200, b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(errors.ProtocolError, match="nested more than 100 levels"):
        parse_json(deep, what="status")
    medium = _response(200, b'{"a":' * 500 + b"1" + b"}" * 500)  # parses, but too deep to walk
    with pytest.raises(errors.ProtocolError, match="nested"):
        parse_json(medium, what="status")
    assert body_excerpt(_response(500, b"[" * 100_000)).startswith("[[[")


@pytest.mark.parametrize(
    "location", ["data:text/plain,hello", "file:///etc/passwd", "http://h:99999/", "http://[::1/"]
)
def test_a_redirect_to_an_unusable_url_is_a_protocol_error(location: str) -> None:
    async def run() -> None:
        session, api = _session(lambda r: httpx.Response(302, headers={"Location": location}))
        try:
            with pytest.raises(errors.ProtocolError, match="does not follow"):
                await session.request("GET", "/start")
        finally:
            await api.aclose()

    asyncio.run(run())


class _Trickle(httpx.AsyncByteStream):
    """A body that sends a byte, then another every 50 ms, for ever (no read ever times out)."""

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        while True:
            yield b"{"
            await asyncio.sleep(0.05)


def test_a_trickling_answer_ends_at_the_request_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "100000"}, stream=_Trickle())

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        account = Account(name="a", provider="x", base_url="https://api.example")
        api = make_api_client(headers={}, transport=transport)
        session = ApiSession(account=account, api=api, bare=api, deadline=0.3)
        try:
            with pytest.raises(errors.NetworkError, match=r"no complete answer within 0\.3 s"):
                await session.request("GET", "/status")
        finally:
            await api.aclose()

    asyncio.run(asyncio.wait_for(run(), 10))


def test_a_body_that_breaks_while_being_read_is_a_network_error() -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b'{"state": '
            raise httpx.ReadError("connection reset by peer")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken())

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        account = Account(name="a", provider="x", base_url="https://api.example")
        api = make_api_client(headers={}, transport=transport)
        session = ApiSession(account=account, api=api, bare=api, deadline=5.0)
        try:
            with pytest.raises(errors.NetworkError, match=r"connection to api\.example broke"):
                await session.request("GET", "/status")
        finally:
            await api.aclose()

    asyncio.run(run())


class _Chunks(httpx.AsyncByteStream):
    """Raw (still encoded) bytes, handed over 64 KiB at a time like a socket would."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for start in range(0, len(self._data), 64 * 1024):
            yield self._data[start : start + 64 * 1024]


def test_a_gzip_bomb_is_refused_without_inflating_it_whole() -> None:
    import tracemalloc
    import zlib

    def gzipped(data: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()

    answer = json.dumps({"status": "done", "pad": "x" * 100_000}).encode()
    bomb = gzipped(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    gzip = {"Content-Encoding": "gzip"}

    async def run() -> int:
        session, api = _session(
            lambda r: httpx.Response(
                200, headers=gzip, stream=_Chunks(gzipped(answer) if r.url.path == "/ok" else bomb)
            )
        )
        try:
            read = await session.request("GET", "/ok")
            assert read.content == answer and read.json()["status"] == "done"
            tracemalloc.start()
            try:
                with pytest.raises(errors.ProtocolError, match="larger than 16 MiB"):
                    await session.request("GET", "/bomb")
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        finally:
            await api.aclose()

    peak = asyncio.run(run())
    assert peak < MAX_ANSWER_BYTES + (8 << 20)  # httpx alone would hold the 64 MiB at once
