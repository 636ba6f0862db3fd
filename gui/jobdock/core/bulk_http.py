"""Bulk result downloads in a worker thread: a blocking HTTP/1.1 client that reads 1 MiB at a
time, routed exactly like `http.ApiSession` (credentials only to the account's origin, chosen again
on every redirect hop).

httpcore reads the socket 64 KiB at a time and runs h11 on every read: on a fast link that per-read
Python work, not the network, caps a client at about 0.6x curl (see ../shared/BASELINES.md).
Result bodies therefore go through `BulkTransport`, whose socket reads ask for 1 MiB; HTTP/2 is
slower for one big body, so it is not used. TLS still hands over one record (16 KiB) per read.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import httpcore
import httpx

from jobdock.core.errors import NetworkError, ProtocolError
from jobdock.core.http import (
    MAX_REDIRECTS,
    TIMEOUT,
    ApiSession,
    describe_transport_error,
    next_hop,
    safe_url,
)
from jobdock.core.job import origin_of

BULK_READ = 1024 * 1024
_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    """One verifying context for every download client (building one reads the CA bundle)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


class _BulkStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max(max_bytes, BULK_READ), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _BulkStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BulkBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _BulkStream(
            self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _BulkStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class BulkTransport(httpx.HTTPTransport):
    """HTTP/1.1, TLS verified, socket reads of `BULK_READ` bytes; for one download at a time."""

    def __init__(self) -> None:
        context = _shared_ssl_context()
        super().__init__(verify=context, http1=True, http2=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=2,
            http1=True,
            http2=False,
            network_backend=_BulkBackend(),
        )


class SyncRoute:
    """`ApiSession`'s routing for a download worker thread, with blocking clients.

    Built from a session: the account origin gets a client with the session's API headers, every
    other origin one with the bare client's headers (no credentials), chosen again on every
    redirect hop exactly as `ApiSession.stream` does. Clients are made on first use and closed by
    `close()`; one route serves one download, in one thread at a time.
    """

    def __init__(self, session: ApiSession, transport: httpx.BaseTransport | None = None) -> None:
        self._origin = session.account.origin
        # The blocking clients mirror the async ones they stand in for: headers, query-parameter
        # credentials (profiles with `query` auth) and cookies.
        self._sources = {"bare": session.bare}
        if session.api is not session.bare:
            self._sources["api"] = session.api
        self._transport = transport
        self._clients: dict[str, httpx.Client] = {}

    def client_for(self, url: str) -> httpx.Client:
        key = "api" if "api" in self._sources and origin_of(url) == self._origin else "bare"
        client = self._clients.get(key)
        if client is None:
            source = self._sources[key]
            client = self._clients[key] = httpx.Client(
                headers=source.headers,
                params=source.params,
                cookies=source.cookies,
                timeout=TIMEOUT,
                follow_redirects=False,
                transport=self._transport or BulkTransport(),
            )
        return client

    def open(self, url: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET `url`, following redirects hop by hop; the final answer, its body not read yet
        (close it, or `close()` the route)."""
        method, content = "GET", None
        for _hop in range(MAX_REDIRECTS + 1):
            client = self.client_for(url)
            request = client.build_request(method, url, content=content, headers=headers)
            try:
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise NetworkError(describe_transport_error(exc, url)) from None
            hop = next_hop(response, url, method, content)
            if hop is None:
                return response
            response.close()
            url, method, content = hop
        raise ProtocolError(f"too many redirects (more than {MAX_REDIRECTS}) from {safe_url(url)}")

    def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
