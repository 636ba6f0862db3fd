"""Bulk result downloads in a worker thread: a blocking HTTP/1.1 client whose response bodies are
read straight into the downloader's buffers, routed exactly like `http.ApiSession` (credentials
only to the account's origin, chosen again on every redirect hop).

Why not httpx's own transport for the body: httpcore reads the socket 64 KiB at a time, and h11
copies every byte three more times (into its receive buffer, out of it, into a new `bytes` per
piece), each piece a fresh allocation; on a fast link that per-byte Python work, not the
network, capped a download at about 0.6x curl (httpx `Client.iter_raw(1 MiB)` measured at
322 MB/s against curl's 475-553 on this project's 2-core VM). `BulkTransport` is
an `httpx.BaseTransport` on the standard library's `http.client`: requests are still built by an
`httpx.Client` (headers, cookies; query-parameter credentials and redirects decided by `SyncRoute`),
and the body is read with `BodyReader.readinto` into a buffer the caller reuses: one call per MiB,
no copy in Python (TLS included: the C loop of `BufferedReader` gathers the 16 KiB records).
HTTP/2 is slower for one big body, so it is not used.

When the environment names a proxy (`HTTPS_PROXY`, ...), the route uses httpx's standard
transports instead, which honour it like the API clients do; only the speed differs.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping

import httpx

from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import origin_of
from jobdock.core.net.http import (
    MAX_REDIRECTS,
    TIMEOUT,
    ApiSession,
    credentialed,
    next_hop,
    safe_url,
    send_error,
    with_link_headers,
)

BODY = "jobdock.body"  # response extension: the `BodyReader` of a `BulkTransport` answer
PIECE = 64 * 1024  # what iterating a body yields at most (error pages: see read_excerpt_sync)
FILL_SLICE = 0.25  # a body read returns what it has after this long, even short of a full buffer
_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    """One verifying context for every download client (building one reads the CA bundle)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


_Key = tuple[str, str, int]


class _Connection(http.client.HTTPConnection):
    """Connect with the connect timeout, then read and write with the read timeout."""

    read_timeout: float | None = TIMEOUT.read

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _TLSConnection(_Connection, http.client.HTTPSConnection):
    """The same over TLS (the read timeout lands on the socket `HTTPSConnection` wrapped)."""


class BulkTransport(httpx.BaseTransport):
    """HTTP/1.1 on `http.client`, TLS verified; keeps one idle connection per origin.

    `close()` closes every connection it made, the idle ones and any whose answer was never
    closed (a download cancelled just as its answer arrived); a body closed after that closes its
    connection instead of keeping it."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        read_timeout: float | None = TIMEOUT.read,
    ) -> None:
        self._ssl_context = ssl_context
        self._read_timeout = read_timeout
        self._idle: dict[_Key, http.client.HTTPConnection] = {}
        # In use, with the answer whose body holds a reference to the socket once it has one.
        self._busy: dict[http.client.HTTPConnection, http.client.HTTPResponse | None] = {}
        self._closed = False
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        with self._lock:
            connection = self._idle.pop(key, None)
            if connection is not None:
                self._busy[connection] = None
        if connection is not None:
            # A kept-alive connection the server has closed meanwhile fails before any answer:
            # that request was not seen, so it goes again on a new connection (as browsers do).
            try:
                return self._exchange(connection, key, request)
            except (ConnectionError, http.client.RemoteDisconnected):
                self._discard(connection)
            except (OSError, http.client.HTTPException) as exc:
                self._discard(connection)
                raise _mapped(exc, request, connecting=False) from None
        connection = self._connect(key)
        with self._lock:
            self._busy[connection] = None
        try:
            connection.connect()
        except OSError as exc:
            self._discard(connection)
            raise _mapped(exc, request, connecting=True) from None
        try:
            return self._exchange(connection, key, request)
        except (OSError, http.client.HTTPException) as exc:
            self._discard(connection)
            raise _mapped(exc, request, connecting=False) from None

    def _connect(self, key: _Key) -> http.client.HTTPConnection:
        scheme, host, port = key
        connection: _Connection
        if scheme == "https":
            context = self._ssl_context or _shared_ssl_context()
            connection = _TLSConnection(host, port, timeout=TIMEOUT.connect, context=context)
        else:
            connection = _Connection(host, port, timeout=TIMEOUT.connect)
        connection.read_timeout = self._read_timeout
        return connection

    def _exchange(
        self, connection: http.client.HTTPConnection, key: _Key, request: httpx.Request
    ) -> httpx.Response:
        """Send the request, read the answer's head; the body is left to the `BodyReader`."""
        target = request.url.raw_path.decode("ascii")
        connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        connection.endheaders(request.read() or None)
        answer = connection.getresponse()
        with self._lock:
            if connection in self._busy:
                self._busy[connection] = answer
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.getheaders()
        ]
        body = BodyReader(self, key, connection, answer, request)
        return httpx.Response(
            answer.status,
            headers=headers,
            stream=body,
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": answer.reason.encode("latin-1", "replace"),
                BODY: body,
            },
        )

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._busy.pop(connection, None)
        connection.close()

    def _release(self, key: _Key, connection: http.client.HTTPConnection, reusable: bool) -> None:
        old: http.client.HTTPConnection | None = connection
        with self._lock:
            self._busy.pop(connection, None)
            if reusable and not self._closed:
                old, self._idle[key] = self._idle.get(key), connection
        if old is not None:
            old.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle.values()), list(self._busy.items())
            self._idle, self._busy = {}, {}
        for connection, answer in busy:
            if answer is not None:
                answer.close()  # its file holds the socket open past the connection's close
            connection.close()
        for connection in idle:
            connection.close()


class BodyReader(httpx.SyncByteStream):
    """One answer's body on its connection. `readinto` fills the caller's buffer as far as the
    body goes (the downloader's path); iterating yields `bytes` pieces (error pages, `read()`).
    A body that ends short of its `Content-Length` raises `httpx.RemoteProtocolError`.

    Nothing received is lost to a failure: `readinto` fills the buffer one socket read at a time
    (`readinto1`, still into the caller's buffer, no copy), returns what it holds when a read
    fails and raises that failure on the next call. It also returns after `FILL_SLICE` seconds
    with what came, so the caller sees a trickle as it trickles (the minimum-speed rule)."""

    def __init__(
        self,
        transport: BulkTransport,
        key: _Key,
        connection: http.client.HTTPConnection,
        answer: http.client.HTTPResponse,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._key = key
        self._connection: http.client.HTTPConnection | None = connection
        self._answer = answer
        self._request = request
        self._failed = False
        self._error: httpx.HTTPError | None = None  # raised on the call after the bytes it cut

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        filled = 0
        until = time.monotonic() + FILL_SLICE
        try:
            while filled < len(view):
                count = self._read_some(view[filled:])
                if not count:
                    break
                filled += count
                if time.monotonic() >= until:
                    break
        except (OSError, http.client.HTTPException) as exc:
            self._failed = True
            self._error = _mapped(exc, self._request, connecting=False)
            if not filled:
                raise self._error from None
            return filled  # keep what arrived; the failure comes with the next call
        if filled == 0 and len(view):
            self._check_complete()
        return filled

    def _read_some(self, view: memoryview) -> int:
        """One socket read's worth of the body into `view` (0 at its end)."""
        answer = self._answer
        fp = answer.fp
        if fp is None:
            return 0
        length = answer.length
        if answer.chunked or length is None:  # rare for result files: http.client's framing
            data = answer.read1(len(view))
            view[: len(data)] = data
            return len(data)
        count = fp.readinto1(view[:length])
        if count:
            answer.length = length - count
            if not answer.length:
                answer.readinto(bytearray())  # at the end: http.client releases the connection
        return count

    def __iter__(self) -> Iterator[bytes]:
        buffer = bytearray(PIECE)
        while count := self.readinto(buffer):
            yield bytes(buffer[:count])

    def _check_complete(self) -> None:
        missing = self._answer.length
        if missing:
            self._failed = True
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body"
                f" ({missing:,} bytes missing)",
                request=self._request,
            )

    def abort(self) -> None:
        """(Any thread) make a read blocked on this body return now."""
        connection = self._connection
        shut_down(connection.sock if connection is not None else None)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        answer = self._answer
        reusable = answer.isclosed() and not answer.will_close and not self._failed
        if not reusable:
            answer.close()
        self._transport._release(self._key, connection, reusable)


def shut_down(sock: object) -> None:
    """Shut a socket down for reading and writing (a blocked read returns); anything else, or a
    socket already closed, is left alone."""
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _mapped(
    exc: OSError | http.client.HTTPException, request: httpx.Request, *, connecting: bool
) -> httpx.HTTPError:
    """The httpx exception for an `http.client` / socket failure (what `describe_transport_error`
    and the downloader understand)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        if connecting:
            return httpx.ConnectTimeout(message, request=request)
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, http.client.RemoteDisconnected):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, http.client.IncompleteRead):
        return httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body"
            f" ({exc.expected:,} bytes missing)"
            if exc.expected
            else "peer closed connection without sending complete message body",
            request=request,
        )
    if isinstance(exc, http.client.HTTPException):
        return httpx.RemoteProtocolError(f"malformed answer: {message}", request=request)
    if connecting:
        return httpx.ConnectError(message, request=request)
    return httpx.ReadError(message, request=request)


def proxies_configured() -> bool:
    """Whether the environment names a proxy for HTTP(S) (httpx's clients would use it)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class SyncRoute:
    """`ApiSession`'s routing for a download worker thread, with blocking clients.

    Built from a session: the account origin gets a client with the session's API headers, every
    other origin one with the bare client's headers (no credentials), chosen again on every
    redirect hop exactly as `ApiSession.stream` does. Clients are made on first use and closed by
    `close()`; one route serves one download, in one thread at a time.
    """

    def __init__(
        self,
        session: ApiSession,
        transport: httpx.BaseTransport | None = None,
        *,
        read_timeout: float | None = TIMEOUT.read,
    ) -> None:
        self._origin = session.account.origin
        self._result_origins = session.result_origins  # credentials on the first hop only
        self._read_timeout = read_timeout
        # The blocking clients mirror the async ones they stand in for: headers and cookies;
        # query-parameter credentials (profiles with `query` auth) go into each hop's URL on
        # the account's origin, as `ApiSession.stream` puts them.
        self._sources = {"bare": session.bare}
        if session.api is not session.bare:
            self._sources["api"] = session.api
        self._credentials = session.auth_params
        self._redactor = session.redactor  # what else a URL elsewhere must not carry
        self._transport = transport
        self._clients: dict[str, httpx.Client] = {}

    def _on_origin(self, url: str, *, first_hop: bool = False) -> bool:
        origin = origin_of(url)
        named = first_hop and origin in self._result_origins
        return "api" in self._sources and (origin == self._origin or named)

    def client_for(self, url: str, *, first_hop: bool = False) -> httpx.Client:
        key = "api" if self._on_origin(url, first_hop=first_hop) else "bare"
        client = self._clients.get(key)
        if client is None:
            source = self._sources[key]
            transport = self._transport
            if transport is None and not proxies_configured():
                transport = BulkTransport(read_timeout=self._read_timeout)
            client = self._clients[key] = httpx.Client(
                headers=source.headers,
                cookies=source.cookies,
                auth=source.auth,  # a token exchange's (it has a blocking flow too)
                timeout=httpx.Timeout(
                    TIMEOUT.connect, read=self._read_timeout, write=TIMEOUT.write, pool=TIMEOUT.pool
                ),
                follow_redirects=False,
                transport=transport,  # None: httpx's own, with the environment's proxies
            )
        return client

    def open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        link_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """GET `url`, following redirects hop by hop; the final answer, its body not read yet
        (close it, or `close()` the route). `link_headers` (the link's own: a decryption key)
        go to the link's origin only, on every hop there, never across a redirect elsewhere."""
        method, content = "GET", None
        home = origin_of(url)
        for hop_number in range(MAX_REDIRECTS + 1):
            first = hop_number == 0
            client = self.client_for(url, first_hop=first)
            on_origin = self._on_origin(url, first_hop=first)
            target = credentialed(
                url, self._credentials, on_origin=on_origin, redactor=self._redactor
            )
            sent = with_link_headers(headers, link_headers, home=home, url=url)
            request = client.build_request(method, target, content=content, headers=sent)
            try:
                response = client.send(request, stream=True)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise send_error(exc, url) from None
            try:
                hop = next_hop(response, url, method, content)
            except ProtocolError:  # a Location that cannot be followed
                response.close()
                raise
            if hop is None:
                return response
            response.close()
            url, method, content = hop
        raise ProtocolError(f"too many redirects (more than {MAX_REDIRECTS}) from {safe_url(url)}")

    def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
