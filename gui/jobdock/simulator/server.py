"""One fake origin: a `ThreadingHTTPServer` on 127.0.0.1 (random port) in a daemon thread.

The request handler parses the request, records it, applies planted status/reset faults, and
hands the rest to the origin's `Api`. It keeps connections alive (HTTP/1.1, Nagle off), can break
them on purpose (`reset` sends a TCP RST after the bytes already written have left), and never
logs per request. `Site.stop` closes the listening socket and every open connection and joins
the handler threads, so tests that treat ResourceWarning as an error stay clean.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from jobdock.simulator.faults import FaultQueue, ResetFault, StallFault
from jobdock.simulator.wire import (
    RecordedRequest,
    Recorder,
    Reply,
    Request,
    Responder,
    echoing,
)

try:  # POSIX only: lets `reset` wait until written bytes have left before sending the RST.
    import fcntl
    import termios

    _TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None)
except ImportError:  # pragma: no cover - Windows
    _TIOCOUTQ = None

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
MAX_DELAY = 30.0


class Api:
    """The behaviour behind one origin. Subclasses implement `route` (or `handle` to stream)."""

    name = ""

    def __init__(self) -> None:
        self.origin = ""
        self.stopping = threading.Event()

    def handle(self, req: Request, out: Responder) -> None:
        self.delay(req)
        out.send(self.echo(req, self.route(req)))

    def route(self, req: Request) -> Reply:
        raise NotImplementedError

    def presented_key(self, req: Request) -> str | None:
        """The credential `req` presented, when this fake echoes it (`SimConfig.echo_secrets`)."""
        return None

    def echo(self, req: Request, reply: Reply) -> Reply:
        """An error answer naming the presented key, when this fake echoes it."""
        key = self.presented_key(req)
        return echoing(reply, key) if key else reply

    def delay(self, req: Request) -> None:
        """`sim_delay=SECONDS` on any request holds the answer back (to make requests overlap)."""
        try:
            seconds = float(req.params.get("sim_delay", "0"))
        except ValueError:
            return
        if seconds > 0:
            self.stopping.wait(min(seconds, MAX_DELAY))

    def start(self) -> None:
        """Called once the origin is listening (`origin` is set)."""

    def stop(self) -> None:
        """Called before the origin closes; background work ends here."""
        self.stopping.set()


class SimHandler(BaseHTTPRequestHandler):
    """Parses, records and dispatches one request; implements `Responder` for the Api."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "jobdock-sim/1"
    sys_version = ""
    timeout = 120
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record of requests is `Simulator.requests`."""

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        site = self.server.site
        self._status = 0
        self._began = False
        self._req: Request | None = None
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self.send(Reply(status=400, body=b"bad request body", content_type="text/plain"))
            return
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=site.clock(),
        )
        self._req = req
        try:
            self._answer(site, req)
        finally:
            self._record()

    def _record(self) -> None:
        """Record the request once, before its answer leaves (so a client never outruns it)."""
        req, self._req = self._req, None
        if req is None:
            return
        self.server.site.recorder.add(
            RecordedRequest(
                server=self.server.site.name,
                method=req.method,
                path=req.path,
                query=req.query,
                headers=req.headers,
                status=self._status,
                at=req.at,
                body=req.body,
            )
        )

    def _answer(self, site: Site, req: Request) -> None:
        fault = site.faults.take_http(req.path)
        try:
            if isinstance(fault, ResetFault):
                self.reset()
            elif isinstance(fault, StallFault):
                self._stall(fault, site.api.stopping)
            elif fault is not None:
                headers = tuple(fault.headers.items())
                reply = Reply(
                    status=fault.status,
                    body=fault.body,
                    content_type=fault.content_type,
                    headers=headers,
                )
                self.send(site.api.echo(req, reply))
            else:
                site.api.handle(req, self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("simulator %s failed on %s %s", site.name, req.method, req.path)
            if self._began:
                self.close_connection = True
            else:
                self.send(Reply(status=500, body=b"simulator error", content_type="text/plain"))

    def _stall(self, fault: StallFault, stop: threading.Event) -> None:
        """Headers and the first bytes of an answer, then nothing (or a trickle)."""
        headers = [("Content-Type", fault.content_type), ("Content-Length", str(len(fault.body)))]
        self.begin(fault.status, headers)
        self.write(fault.body[: fault.after])
        if fault.rate is None:
            self.idle(stop)
            return
        for offset in range(fault.after, len(fault.body)):
            if stop.wait(1.0 / fault.rate):
                return
            self.write(fault.body[offset : offset + 1])

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)
            if sum(map(len, parts)) > MAX_BODY:
                raise ValueError("body too large")

    # Responder
    def send(self, reply: Reply) -> None:
        headers = list(reply.headers)
        if reply.content_type is not None:
            headers.append(("Content-Type", reply.content_type))
        if reply.status not in (204, 304) and reply.status >= 200:
            headers.append(("Content-Length", str(len(reply.body))))
        self.begin(reply.status, headers)
        if reply.body and self.command != "HEAD" and reply.status not in (204, 304):
            self.wfile.write(reply.body)

    def begin(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        self._status = status
        self._began = True
        self._record()
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        for name, value in headers:
            # Hostile test values may hold non-Latin-1 text: send their UTF-8 bytes as they are.
            self.send_header(name, _latin1(value))
        self.end_headers()

    def write(self, data: bytes | memoryview) -> None:
        self.wfile.write(data)

    def reset(self) -> None:
        """Break the connection with a TCP RST once the bytes already written have left."""
        self.close_connection = True
        sock = self.connection
        _wait_sent(sock)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drops makefile()'s reference so close() really closes now
        sock.close()

    def idle(self, stop: threading.Event) -> None:
        """Send nothing more; return once the client hangs up (or `stop` is set). The
        connection is not reused: its answer never completed."""
        self.close_connection = True
        sock = self.connection
        while not stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                continue
            try:
                if not sock.recv(65536):
                    return
            except OSError:
                return

    def hangup(self) -> None:
        """Close the connection (FIN) after this answer, whatever it declared."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)


def _latin1(value: str) -> str:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


def _wait_sent(sock: socket.socket, limit: float = 0.5) -> None:
    """Wait (briefly) until the kernel has no unacknowledged bytes queued on `sock`."""
    if _TIOCOUTQ is None:
        time.sleep(0.05)
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            raw = fcntl.ioctl(sock.fileno(), _TIOCOUTQ, struct.pack("i", 0))
        except OSError:
            return
        if struct.unpack("i", raw)[0] == 0:
            return
        time.sleep(0.002)


class SimHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its open connections, so it can close them on stop."""

    daemon_threads = True

    def __init__(self, site: Site, port: int = 0) -> None:
        self.site = site
        self._conn_lock = threading.Lock()
        self._conns: dict[threading.Thread, socket.socket] = {}
        super().__init__(("127.0.0.1", port), SimHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve,
            args=(request, client_address),
            daemon=True,
            name=f"sim-{self.site.name}",
        )
        with self._conn_lock:
            self._conns[thread] = request
        thread.start()

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)):
            return  # the client went away or we broke the connection on purpose
        log.exception("simulator %s: unexpected error", self.site.name)

    def close_connections(self, timeout: float = 2.0) -> None:
        with self._conn_lock:
            conns = list(self._conns.items())
        for _thread, sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread, _sock in conns:
            thread.join(max(0.0, deadline - time.monotonic()))


class Site:
    """One origin's server, its Api, its faults and where its requests are recorded."""

    def __init__(
        self,
        name: str,
        api: Api,
        *,
        recorder: Recorder,
        clock: Callable[[], float],
        faults: FaultQueue | None = None,
    ) -> None:
        self.name = name
        self.api = api
        self.recorder = recorder
        self._clock = clock
        self.faults = faults if faults is not None else FaultQueue()
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def clock(self) -> float:
        return self._clock()

    @property
    def origin(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"simulator origin {self.name!r} is not running")
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def start(self, port: int = 0) -> None:
        """Listen on `port` (the demo's port of its last run) when it is free, else on any."""
        try:
            self._httpd = SimHTTPServer(self, port)
        except OSError:
            if not port:
                raise
            log.warning("simulator %s: port %d is taken; using another", self.name, port)
            self._httpd = SimHTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name=f"sim-{self.name}-accept",
        )
        self._thread.start()
        self.api.origin = self.origin
        self.api.stopping.clear()
        self.api.start()

    def stop(self) -> None:
        self.api.stop()
        if self._httpd is None:
            return
        self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._httpd = None
        self._thread = None
