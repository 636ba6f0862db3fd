"""HTTP for Jobdock: client factories, the per-account session that keeps credentials on their
origin, and the helpers that turn answers into values or `errors`.

Two kinds of client exist (docs/providers.md, "same origin"):
- an *API client* per account origin that carries the account's auth headers, and
- one *bare client* for everything else (pre-signed storage URLs, result links on other hosts).

Neither follows redirects by itself: httpx strips `Authorization` on a cross-origin redirect but not
custom headers such as `API-Key`, so `ApiSession` follows redirects itself and picks the client for
every hop by its origin. Query-parameter credentials (profiles with `query` auth) are the
session's, not the client's: httpx's client-level `params=` replaces a URL's own query, so
`credentialed` merges them into each hop's URL on the account's origin and keeps them off every
other. TLS verification is always on.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import re
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from jobdock import __version__
from jobdock.core.model.errors import (
    AuthError,
    JobdockError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    ServerError,
)
from jobdock.core.model.job import Account, origin_of
from jobdock.core.net.inputs import (
    MAX_ANSWER_BYTES,
    MAX_RETRY_AFTER,
    NestingError,
    load_json,
    url_problem,
)
from jobdock.core.net.redaction import Redactor

USER_AGENT = f"Jobdock/{__version__} (+https://github.com/jobdock/jobdock)"
TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=60.0, pool=60.0)
MAX_REDIRECTS = 5
INFLATE_PIECE = 256 * 1024  # a gzip answer is inflated at most this much at a time
BODY_EXCERPT = 300
ERROR_BODY_LIMIT = 64 * 1024  # the most of an error answer read for its message
QueryCredentials = tuple[tuple[str, str], ...]

# Query parameters that carry credentials in pre-signed URLs; redacted in human output.
_SECRET_PARAMS = re.compile(
    r"(signature|sig|token|key|credential|secret|password|auth)", re.IGNORECASE
)


def make_api_client(
    *,
    headers: Mapping[str, str],
    max_connections: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The client for one account's origin: carries its auth headers, keeps cookies (query
    credentials ride on the `ApiSession`, see `credentialed`)."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT, **headers},
        timeout=TIMEOUT,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        transport=transport,
    )


def make_bare_client(
    *, max_connections: int = 8, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The client for other origins: no credentials of any account, ever."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        timeout=TIMEOUT,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        transport=transport,
    )


@dataclass(frozen=True)
class ApiSession:
    """What a provider is handed: the account, its API client and the bare client, the query
    parameters that authenticate requests to the account's origin (`query` auth), and the
    engine's `Redactor`, which learns the session's credentials here and any a provider
    obtains later (short-lived tokens).

    `deadline`: seconds each `request` has for its whole answer, body included (read timeouts
    alone let a peer that trickles, or stalls after the headers, hold a request for ever)."""

    account: Account
    api: httpx.AsyncClient
    bare: httpx.AsyncClient
    auth_params: QueryCredentials = ()
    redactor: Redactor = field(default_factory=Redactor)
    deadline: float | None = None
    # Origins a profile names for its results (Stripe's files.stripe.com): a request that starts
    # there gets the credentials too; a redirect to one never does.
    result_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.api is not self.bare:
            self.redactor.add_headers(self.api.headers)
        self.redactor.add_all(value for _, value in self.auth_params)

    def url(self, path_or_url: str) -> str:
        """An absolute URL: absolute ones unchanged, paths joined under the account's base URL."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        base = self.account.base_url.rstrip("/") + "/"
        return urljoin(base, path_or_url.lstrip("/"))

    def on_origin(self, url: str) -> bool:
        """Whether `url` gets the account's credentials (its origin, and a session that has any)."""
        return self.api is not self.bare and origin_of(url) == self.account.origin

    def client_for(self, url: str, *, first_hop: bool = False) -> httpx.AsyncClient:
        named = first_hop and self.api is not self.bare and origin_of(url) in self.result_origins
        return self.api if self.on_origin(url) or named else self.bare

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Send a request, following redirects with the right client per hop; body read (at
        most `MAX_ANSWER_BYTES` of it: a larger answer is a `ProtocolError`), all within
        `deadline` (else a `NetworkError`)."""
        url = self.url(path_or_url)
        try:
            async with asyncio.timeout(self.deadline) as limit:
                async with self.stream(
                    method,
                    url,
                    params=params,
                    content=content,
                    headers=headers,
                    follow_redirects=follow_redirects,
                ) as response:
                    await read_limited(response, limit=MAX_ANSWER_BYTES)
        except TimeoutError:
            if not limit.expired():
                raise
            host = urlsplit(url).netloc or url
            raise NetworkError(
                f"{host} sent no complete answer within {self.deadline:g} s"
            ) from None
        return response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        link_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """`link_headers`: a result link's own headers (a decryption key), sent on every hop
        to the link's origin and on none elsewhere (`with_link_headers`)."""
        url = self.url(path_or_url)
        if params:
            url = _with_params(url, params)
        problem = url_problem(url)
        if problem is not None:
            raise ProtocolError(f"refusing to request {_short(safe_url(url), 100)}: {problem}")
        home = origin_of(url)
        for hop_number in range(MAX_REDIRECTS + 1):
            client = self.client_for(url, first_hop=hop_number == 0)
            target = credentialed(
                url, self.auth_params, on_origin=client is self.api, redactor=self.redactor
            )
            sent = with_link_headers(headers, link_headers, home=home, url=url)
            request = client.build_request(method, target, content=content, headers=sent)
            try:
                response = await client.send(request, stream=True)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise send_error(exc, url) from None
            try:
                hop = next_hop(response, url, method, content) if follow_redirects else None
                if hop is None:
                    yield response
                    return
                url, method, content = hop
            finally:
                await response.aclose()
        raise ProtocolError(f"too many redirects (more than {MAX_REDIRECTS}) from {safe_url(url)}")


def with_link_headers(
    headers: Mapping[str, str] | None,
    link_headers: Mapping[str, str] | None,
    *,
    home: str,
    url: str,
) -> Mapping[str, str] | None:
    """The headers of one hop of a result link's GET: `headers`, and the link's own headers
    when the hop is to the link's origin `home` (they belong to that host: a redirect to
    another origin gets none of them). The request's own headers win over the link's."""
    if not link_headers or origin_of(url) != home:
        return headers
    return {**link_headers, **(headers or {})}


def next_hop(
    response: httpx.Response, url: str, method: str, content: bytes | None
) -> tuple[str, str, bytes | None] | None:
    """Where a redirect answer sends the request next (URL, method, body); None if it is none."""
    location = response.headers.get("location")
    if not (response.is_redirect and location):
        return None
    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
        method, content = "GET", None
    try:
        target = urljoin(url, location)
    except ValueError:  # e.g. a broken IPv6 literal
        target = location
    problem = url_problem(target)
    if problem is not None:
        raise ProtocolError(
            f"{urlsplit(url).netloc} redirected to {_short(safe_url(target), 100)}, "
            f"which Jobdock does not follow: {problem}",
            status_code=response.status_code,
        )
    return target, method, content


async def read_limited(response: httpx.Response, *, limit: int) -> bytes:
    """Read a streamed answer's body like `aread()`, but never more than `limit` bytes of it
    (after decoding): a larger answer is a `ProtocolError`, and what was read is dropped. A
    gzip body is inflated here, `INFLATE_PIECE` bytes at a time (httpx inflates each received
    chunk whole: 64 KiB of a gzip bomb would be 64 MiB in memory at once)."""
    host = response.request.url.host
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise ProtocolError(_too_large(host, limit), status_code=response.status_code)
    chunks: list[bytes] = []
    size = 0
    pieces = _pieces(response, gzip=_is_gzip(response))
    try:
        async with contextlib.aclosing(pieces):
            async for chunk in pieces:
                size += len(chunk)
                if size > limit:
                    chunks.clear()
                    raise ProtocolError(_too_large(host, limit), status_code=response.status_code)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise NetworkError(describe_transport_error(exc, str(response.request.url))) from None
    # What `aread()` itself does once the stream is consumed: `.content` and `.text` work.
    response._content = b"".join(chunks)
    return response._content


async def _pieces(response: httpx.Response, *, gzip: bool) -> AsyncGenerator[bytes, None]:
    """The body's decoded bytes; a gzip body's in pieces of at most `INFLATE_PIECE` (zlib's
    `max_length`), other encodings as httpx decodes them."""
    if not gzip:
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        async for raw in response.aiter_raw():
            data = raw
            while data and not inflater.eof:
                yield inflater.decompress(data, INFLATE_PIECE)
                data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise ProtocolError(
            f"the answer from {response.request.url.host} is not valid gzip ({exc})",
            status_code=response.status_code,
        ) from None


def read_limited_sync(
    response: httpx.Response,
    *,
    limit: int,
    deadline: float | None = None,
    started: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """`read_limited` for a blocking client's streamed answer. With `deadline`, the whole
    answer has that many seconds from `started` (a `clock()` reading; default: now): checked
    between the body's pieces, each of which the client's own timeouts bound, a `NetworkError`
    once it is over (a peer that trickles cannot hold the worker thread for ever)."""
    host = response.request.url.host
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise ProtocolError(_too_large(host, limit), status_code=response.status_code)
    began = clock() if started is None else started
    chunks: list[bytes] = []
    size = 0
    pieces = _pieces_sync(response, gzip=_is_gzip(response))
    try:
        with contextlib.closing(pieces):
            for chunk in pieces:
                size += len(chunk)
                if size > limit:
                    chunks.clear()
                    raise ProtocolError(_too_large(host, limit), status_code=response.status_code)
                chunks.append(chunk)
                if deadline is not None and clock() - began > deadline:
                    chunks.clear()
                    raise NetworkError(f"{host} sent no complete answer within {deadline:g} s")
    except httpx.HTTPError as exc:
        raise NetworkError(describe_transport_error(exc, str(response.request.url))) from None
    response._content = b"".join(chunks)
    return response._content


def _is_gzip(response: httpx.Response) -> bool:
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")]
    return [e for e in encodings if e and e != "identity"] in (["gzip"], ["x-gzip"])


def _pieces_sync(response: httpx.Response, *, gzip: bool) -> Generator[bytes, None, None]:
    """`_pieces` of a blocking client's answer."""
    if not gzip:
        yield from response.iter_bytes()
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for raw in response.iter_raw():
            data = raw
            while data and not inflater.eof:
                yield inflater.decompress(data, INFLATE_PIECE)
                data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise ProtocolError(
            f"the answer from {response.request.url.host} is not valid gzip ({exc})",
            status_code=response.status_code,
        ) from None


async def read_excerpt(response: httpx.Response, *, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """The first `limit` bytes (decoded) of a streamed error answer, enough for `body_excerpt`;
    the rest is never read (the caller closes the answer, and its connection with it)."""
    chunks: list[bytes] = []
    size = 0
    pieces = _pieces(response, gzip=_is_gzip(response))
    try:
        async with contextlib.aclosing(pieces):
            async for chunk in pieces:
                chunks.append(chunk[: limit - size])
                size += len(chunks[-1])
                if size >= limit:
                    break
    except (httpx.HTTPError, ProtocolError):
        pass  # an error page cut short, or not valid gzip: what came is the excerpt
    response._content = b"".join(chunks)
    return response._content


def read_excerpt_sync(response: httpx.Response, *, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """`read_excerpt` for a blocking client's answer."""
    chunks: list[bytes] = []
    size = 0
    pieces = _pieces_sync(response, gzip=_is_gzip(response))
    try:
        with contextlib.closing(pieces):
            for chunk in pieces:
                chunks.append(chunk[: limit - size])
                size += len(chunks[-1])
                if size >= limit:
                    break
    except (httpx.HTTPError, ProtocolError):
        pass
    response._content = b"".join(chunks)
    return response._content


def _too_large(host: str, limit: int) -> str:
    return (
        f"the answer from {host} is larger than {limit // (1024 * 1024)} MiB, "
        "more than any job status should be; not read"
    )


def send_error(exc: httpx.HTTPError | httpx.InvalidURL, url: str) -> JobdockError:
    """The error for a failed `send`. httpx parses every redirect's `Location` (even when not
    following it) and fails on one it cannot parse (`data:text/plain,x`, `http://[::1/`): that
    is the server's bad redirect, not the network."""
    message = str(exc)
    if isinstance(exc, httpx.InvalidURL) or "location header" in message.lower():
        return ProtocolError(
            f"{urlsplit(url).netloc} redirected to a URL that Jobdock does not follow: "
            f"not an http(s) URL it can request ({_short(message, 100)})"
        )
    return NetworkError(describe_transport_error(exc, url))


def credentialed(
    url: str,
    credentials: QueryCredentials,
    *,
    on_origin: bool,
    redactor: Redactor | None = None,
) -> str:
    """The URL to send: on the account's origin, `url` with the query credentials merged into
    its own query (every other parameter kept byte for byte, one of the same name replaced, so
    none is sent twice); elsewhere `url` without any parameter that carries a credential: the
    query credentials, and any secret `redactor` knows (a bearer or OAuth access token a server
    echoes into a redirect or a `paging.next` must not reach another host)."""
    if not on_origin:
        url = without_credentials(url, [value for _, value in credentials])
        return redactor.strip(url) if redactor is not None else url
    if not credentials:
        return url
    names = {name for name, _ in credentials}
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and _param_name(p) not in names]
    return urlunsplit(parts._replace(query="&".join([*kept, urlencode(credentials)])))


def without_credentials(url: str, values: list[str]) -> str:
    """`url` without the query parameters whose value is one of `values` (the rest kept byte
    for byte)."""
    parts = urlsplit(url)
    if not parts.query or not values:
        return url
    kept = [p for p in parts.query.split("&") if _param_value(p) not in values]
    return urlunsplit(parts._replace(query="&".join(kept)))


def _param_name(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0])


def _param_value(pair: str) -> str:
    return unquote_plus(pair.partition("=")[2])


def _with_params(url: str, params: Mapping[str, str] | list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs += list(params.items()) if isinstance(params, Mapping) else list(params)
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def describe_transport_error(exc: httpx.HTTPError, url: str) -> str:
    host = urlsplit(url).netloc or url
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out connecting to {host}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {host}: {_short(str(exc)) or 'connection refused'}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"connection to {host} broke: {_short(str(exc)) or type(exc).__name__}"
    return f"network error talking to {host}: {_short(str(exc)) or type(exc).__name__}"


def safe_url(url: str) -> str:
    """The URL with credential-looking query values replaced by `REDACTED`, for human output."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a broken IPv6 literal: nothing to redact can be told apart
        return url
    if not parts.query:
        return url
    pairs = [
        (k, "REDACTED" if _SECRET_PARAMS.search(k) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(query=urlencode(pairs), netloc=netloc))


def server_date(headers: httpx.Headers) -> datetime | None:
    """The answer's `Date` header (RFC 9110 §6.6.1), or None when absent or unreadable."""
    raw = headers.get("date")
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_retry_after(
    headers: Mapping[str, str], *, now: float | None = None, date_slack: float = 0.0
) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `Retry-After` in seconds or as an HTTP-date;
    None when neither is there or says anything usable. The one reader of these headers.

    An HTTP-date is on the server's clock: it is measured from the same answer's `Date`
    (RFC 9110 §10.2.3), so a local clock hours off does not turn it into hours of waiting.
    Garbage is ignored, not obeyed: NaN, infinities and negative numbers, unparseable dates.
    A wait longer than `MAX_RETRY_AFTER` (`1e12`, a date next year) is cut to it, a date in the
    past is 0. `date_slack` is added to an HTTP-date's wait (its whole-second resolution)."""
    if now is None:
        sent = server_date(httpx.Headers(headers))
        now = sent.timestamp() if sent is not None else time.time()
    milliseconds = _number(_header(headers, "retry-after-ms"))
    if milliseconds is not None:
        return min(milliseconds / 1000.0, MAX_RETRY_AFTER)
    raw = (_header(headers, "retry-after") or "").strip()
    if not raw:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return min(seconds, MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now + date_slack), MAX_RETRY_AFTER)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """`name`'s value in any spelling (httpx's `Headers` are case-insensitive, dicts not)."""
    if isinstance(headers, httpx.Headers):
        value: str | None = headers.get(name)
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _number(raw: str | None) -> float | None:
    """A finite, non-negative number, or None (absent, garbage, NaN, infinite, negative)."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _short(text: str, limit: int = BODY_EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_excerpt(response: httpx.Response) -> str:
    """A one-line, human-sized summary of an error body: a JSON message, an HTML title, or text."""
    text = response.text if response.content else ""
    if not text.strip():
        return ""
    try:
        data = load_json(text)
    except ValueError:
        data = None
    if data is not None:
        message = _json_message(data)
        return _short(message if message else text)
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return _short(f"HTML page: {title.group(1)}")
    if re.search(r"<\s*html", text, re.IGNORECASE):
        return "an HTML page"
    xml_message = re.search(r"<Message>(.*?)</Message>", text, re.DOTALL)
    if xml_message:
        return _short(xml_message.group(1))
    return _short(text)


def _json_message(data: Any) -> str | None:
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = first.get("errorCode") or first.get("code")
            msg = first.get("message") or first.get("detail")
            if msg:
                return f"{msg} ({code})" if code else str(msg)
        for key in ("message", "error_description", "detail", "error", "title"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                inner = _json_message(value)
                if inner:
                    return inner
    return None


def raise_for_status(response: httpx.Response, *, what: str) -> None:
    """Raise the matching `ProviderError` for a 4xx/5xx answer; do nothing otherwise."""
    code = response.status_code
    if code < 400:
        return
    excerpt = body_excerpt(response)
    detail = f": {excerpt}" if excerpt else ""
    body = _short(response.text, 4000) if response.content else None
    if code in (401, 403):
        raise AuthError(
            f"{what}: access denied (HTTP {code}){detail}; check the account's credentials",
            status_code=code,
            body=body,
        )
    if code in (404, 410):
        raise NotFoundError(f"{what}: not found (HTTP {code}){detail}", status_code=code, body=body)
    if code == 429:
        retry = parse_retry_after(response.headers)
        raise RateLimitedError(
            f"{what}: rate limited (HTTP 429){detail}", retry_after=retry, body=body
        )
    if code >= 500:
        raise ServerError(
            f"{what}: server error (HTTP {code}){detail}",
            status_code=code,
            retry_after=parse_retry_after(response.headers),
            body=body,
        )
    raise ProviderError(f"{what}: rejected (HTTP {code}){detail}", status_code=code, body=body)


def parse_json(response: httpx.Response, *, what: str) -> Any:
    """The JSON body, or a `ProtocolError` that says what came instead (also for JSON nested
    too deeply to be a job's answer)."""
    try:
        return load_json(response.content)
    except NestingError as exc:
        raise ProtocolError(
            f"{what}: {exc} (HTTP {response.status_code})", status_code=response.status_code
        ) from None
    except ValueError:
        excerpt = body_excerpt(response) or "an empty body"
        raise ProtocolError(
            f"{what}: expected JSON but got {excerpt} (HTTP {response.status_code})",
            status_code=response.status_code,
            body=_short(response.text, 4000) if response.content else None,
        ) from None


def expect_object(data: Any, *, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data
