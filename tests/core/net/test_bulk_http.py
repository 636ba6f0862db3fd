"""`BulkTransport` (the download path's HTTP/1.1 client on `http.client`) against real sockets
on 127.0.0.1: bodies read into the caller's buffer, keep-alive and stale connections, short and
broken bodies, TLS verification, abort from another thread, and proxies from the environment."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jobdock.core.download.digests import HashedBuffers
from jobdock.core.model.job import Account
from jobdock.core.net.bulk_http import BODY, BodyReader, BulkTransport, SyncRoute
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from tests.support.tls import make_certificate

Handler = Callable[[socket.socket, int], None]  # (connection, its number from 0)


class RawServer:
    """A TCP server on 127.0.0.1 that runs `handler` for each connection, in its own thread,
    and records every request head it reads with `read_head`."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.heads: list[bytes] = []
        self.connections = 0
        self._handler = handler
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            number, self.connections = self.connections, self.connections + 1
            threading.Thread(target=self._run, args=(conn, number), daemon=True).start()

    def _run(self, conn: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError), contextlib.ExitStack() as stack:
            stack.callback(conn.close)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
                stack.callback(conn.close)
            self._handler(conn, number)

    def read_head(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                raise ConnectionError("client went away")
            data += piece
        self.heads.append(data)
        return data

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler, **kwargs: ssl.SSLContext) -> RawServer:
        servers.append(RawServer(handler, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


_transports: list[BulkTransport] = []


@pytest.fixture(autouse=True)
def _close_transports() -> Iterator[None]:
    yield
    while _transports:
        _transports.pop().close()


def _get(transport: BulkTransport, url: str, **headers: str) -> httpx.Response:
    _transports.append(transport)
    client = httpx.Client(transport=transport)
    return client.send(client.build_request("GET", url, headers=headers), stream=True)


def _answer(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(line + b"\r\n" for line in extra) + b"\r\n" + body


BODY_2M = os.urandom(2 * 1024 * 1024 + 123)


def test_body_is_read_into_the_callers_buffer_and_the_connection_kept(serve) -> None:
    def handler(conn: socket.socket, _n: int) -> None:
        for _ in range(2):
            server.read_head(conn)
            conn.sendall(_answer(BODY_2M, b'ETag: "v1"'))

    server = serve(handler)
    transport = BulkTransport()
    url = f"http://127.0.0.1:{server.port}/f.bin?x=1"
    for _ in range(2):
        response = _get(transport, url, Range="bytes=0-")
        reader = response.extensions[BODY]
        assert isinstance(reader, BodyReader)
        buffer, got = bytearray(1024 * 1024), bytearray()
        while count := reader.readinto(buffer):
            got += buffer[:count]
        response.close()
        assert bytes(got) == BODY_2M
        assert response.headers["etag"] == '"v1"'
    transport.close()
    assert server.connections == 1, "the second request reused the kept-alive connection"
    head = server.heads[0].decode("latin-1")
    assert head.startswith("GET /f.bin?x=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}" in head.lower()
    assert "range: bytes=0-" in head.lower()


def test_a_stale_kept_alive_connection_is_replaced_without_an_error(serve) -> None:
    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(_answer(b"hello"))  # keep-alive promised, then closed: a server timeout

    server = serve(handler)
    transport = BulkTransport()
    url = f"http://127.0.0.1:{server.port}/a"
    for _ in range(2):
        response = _get(transport, url)
        assert response.read() == b"hello"
        response.close()
    assert server.connections == 2


def test_a_short_body_is_an_error_not_an_end(serve) -> None:
    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 400)

    server = serve(handler)
    response = _get(BulkTransport(), f"http://127.0.0.1:{server.port}/short")
    buffer = bytearray(4096)
    assert response.extensions[BODY].readinto(buffer) == 400
    with pytest.raises(httpx.RemoteProtocolError, match="600 bytes missing"):
        response.extensions[BODY].readinto(buffer)
    response.close()


def test_a_reset_in_the_middle_is_a_read_error(serve) -> None:
    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"y" * 1000)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = serve(handler)
    response = _get(BulkTransport(), f"http://127.0.0.1:{server.port}/reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        response.read()
    response.close()


def test_chunked_bodies_and_raw_header_bytes(serve) -> None:
    disposition = 'attachment; filename="r\u00e9sum\u00e9.csv"'.encode()

    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Disposition: " + disposition + b"\r\n"
            b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )

    server = serve(handler)
    response = _get(BulkTransport(), f"http://127.0.0.1:{server.port}/c")
    assert response.read() == b"hello world"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert dict(response.headers.raw)[b"Content-Disposition"] == disposition


def test_an_unreadable_answer_and_a_refused_connection_are_httpx_errors(serve) -> None:
    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(b"<html>not http</html>\r\n\r\n")

    server = serve(handler)
    with pytest.raises(httpx.RemoteProtocolError, match="malformed answer"):
        _get(BulkTransport(), f"http://127.0.0.1:{server.port}/x")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        _get(BulkTransport(), f"http://127.0.0.1:{port}/x")


def test_abort_from_another_thread_ends_a_blocked_read(serve) -> None:
    release = threading.Event()

    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"z" * 10)
        release.wait(30)  # then stall: the client blocks in its read

    server = serve(handler)
    response = _get(BulkTransport(), f"http://127.0.0.1:{server.port}/slow")
    reader = response.extensions[BODY]
    threading.Timer(0.2, reader.abort).start()
    buffer = bytearray(65536)
    with pytest.raises(httpx.HTTPError):
        while reader.readinto(buffer):
            pass
    release.set()
    response.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_tls_is_verified_and_big_bodies_arrive_whole(serve, certificate) -> None:
    cert, key = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)

    def handler(conn: socket.socket, _n: int) -> None:
        while True:
            server.read_head(conn)
            conn.sendall(_answer(BODY_2M))

    server = serve(handler, tls=server_side)
    url = f"https://127.0.0.1:{server.port}/f.bin"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(BulkTransport(), url)  # the system's CAs do not know this certificate

    trusting = ssl.create_default_context(cafile=str(cert))
    response = _get(BulkTransport(ssl_context=trusting), url)
    buffer, sha = bytearray(1024 * 1024), hashlib.sha256()
    while count := response.extensions[BODY].readinto(buffer):
        sha.update(buffer[:count])
    response.close()
    assert sha.hexdigest() == hashlib.sha256(BODY_2M).hexdigest()


def test_a_proxy_from_the_environment_is_used(serve, monkeypatch) -> None:
    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(_answer(b"via proxy"))

    server = serve(handler)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.port}")
    session = ApiSession(
        account=Account(name="a", provider="generic-202", base_url="https://api.example"),
        api=make_api_client(headers={"API-Key": "secret-1"}),
        bare=make_bare_client(),
    )
    route = SyncRoute(session)
    try:
        response = route.open("http://storage.example/f.bin?X-Amz-Signature=s")
        assert response.read() == b"via proxy"
    finally:
        route.close()
    head = server.heads[0].decode("latin-1")
    assert head.startswith("GET http://storage.example/f.bin?X-Amz-Signature=s HTTP/1.1")
    assert "secret-1" not in head


def test_hashed_buffers_give_the_digests_of_everything_fed_in_order() -> None:
    pieces = [os.urandom(n) for n in (1, 1000, 65536, 300_000, 5)] * 5
    with HashedBuffers(algorithms=("md5",), count=3, size=300_000) as buffers:
        for piece in pieces:
            buffer = buffers.take()
            buffer[: len(piece)] = piece
            buffers.feed(buffer, len(piece))
        digests = buffers.finish()
    joined = b"".join(pieces)
    assert digests["sha256"] == hashlib.sha256(joined).digest()
    assert digests["md5"] == hashlib.md5(joined).digest()


def test_hashed_buffers_hold_no_more_than_their_count() -> None:
    with HashedBuffers(count=2, size=16) as buffers:
        first, second = buffers.take(), buffers.take()
        third: list[bytearray] = []
        waiter = threading.Thread(target=lambda: third.append(buffers.take()))
        waiter.start()
        waiter.join(0.2)
        assert not third, "a third buffer was handed out while two were taken"
        buffers.give_back(first)
        waiter.join(10)
        assert third == [first]
        buffers.give_back(second)
        assert set(buffers.finish()) == {"sha256"}  # no other digest unless asked


def _closed_by_client(conn: socket.socket, closed: threading.Event) -> None:
    """(Server side) wait until the client closes the connection, then set `closed`."""
    conn.settimeout(30)
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass
        closed.set()


def test_closing_the_transport_closes_a_connection_whose_answer_was_never_closed(serve) -> None:
    # A download cancelled just as its answer arrived leaves that answer unclosed: the transport
    # (closed with the download's route) must not leave its socket to the garbage collector.
    closed = threading.Event()

    def handler(conn: socket.socket, _n: int) -> None:
        server.read_head(conn)
        conn.sendall(_answer(b"x" * 4096)[:-1000])  # a head and part of the body
        _closed_by_client(conn, closed)

    server = serve(handler)
    transport = BulkTransport()
    response = _get(transport, f"http://127.0.0.1:{server.port}/f.bin")
    assert response.status_code == 200
    transport.close()
    assert closed.wait(30), "the socket stayed open"
    response.close()  # closing it afterwards is harmless


def test_a_connection_released_after_its_transport_closed_is_closed_not_kept() -> None:
    """A body finished in its thread just after the route closed the transport must close its
    connection: nobody would ever take it from the pool, or close it."""

    class Connection:
        closed = False

        def close(self) -> None:
            self.closed = True

    transport = BulkTransport()
    kept, late = Connection(), Connection()
    transport._release(("http", "h", 80), kept, True)  # type: ignore[arg-type]
    transport.close()
    transport._release(("http", "h", 80), late, True)  # type: ignore[arg-type]
    assert kept.closed and late.closed
