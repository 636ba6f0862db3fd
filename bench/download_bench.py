"""Download throughput: Jobdock's downloader next to curl on the same 1 GiB file (reports only).

    .venv/bin/python bench/download_bench.py [--size-mib 1024] [--runs 5] [--dir DIR] [--tls]
                                             [--on-loop]

Serves a file of `--size-mib` MiB from 127.0.0.1 — nginx (sendfile, a temporary config) when it
is installed, else a small Python `sendfile` server; over HTTPS with a self-signed certificate
(trusted by both clients) with `--tls` — and fetches it in `--runs` rounds, into a temporary
directory on disk (under `--dir`, deleted afterwards), dropping the previous copy and syncing
between runs. Each round runs:

- curl into /dev/null (what the link and the server can give, no disk), curl into a file
  (`curl -s -o FILE URL`, HTTP/1.1), and curl followed by an fsync of its file (the same
  durability Jobdock guarantees before it names a file);
- Jobdock, in a fresh process per run: `downloader.download` exactly as the engine calls it
  (worker thread, `BulkTransport`), through `.part`, SHA-256, fsync and rename. Its peak RSS
  growth is the process's VmHWM minus its VmRSS just before the download (imports done).
  `--on-loop` measures the event-loop path instead (async client, `aiter_raw`, hash after),
  which is what the app used before.

Prints medians in MB/s (10^6 bytes a second), CPU seconds per GiB, the ratio of Jobdock to curl
(of the medians, and within each round: this machine's speed drifts from minute to minute), and
the RSS growth. Targets (reported, not asserted): ratio >= 0.9, RSS growth < 30 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "gui"))
sys.path.insert(0, str(REPO))

from tests.support.tls import make_certificate  # noqa: E402


# -- the server -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
            return
        time.sleep(0.025)
    raise RuntimeError(f"server on port {port} did not start")


@contextlib.contextmanager
def nginx(root: Path, work: Path, binary: str, *, tls: tuple[Path, Path] | None) -> Iterator[str]:
    port = _free_port()
    listen = f"listen 127.0.0.1:{port};"
    if tls is not None:
        listen = (
            f"listen 127.0.0.1:{port} ssl; ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};"
        )
    temp = {k: work / k for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    conf = work / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http { access_log off; sendfile on; tcp_nopush on;"
        " default_type application/octet-stream;\n"
        + "".join(f" {k}_temp_path {v};" for k, v in temp.items())
        + f"\n server {{ {listen} root {root}; }} }}\n"
    )
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(work)])
    try:
        _wait_listening(port)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


class _SendfileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = Path()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/").split("?", 1)[0]
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.flush()
        with open(path, "rb") as fh:
            self.connection.sendfile(fh)


@contextlib.contextmanager
def python_server(root: Path) -> Iterator[str]:
    handler = type("Handler", (_SendfileHandler,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- the clients ------------------------------------------------------------------------------
def drop(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".part")):
        p.unlink(missing_ok=True)
    os.sync()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_curl(url: str, out: Path, *, fsync: bool, ca: Path | None) -> tuple[float, float]:
    """(seconds, CPU seconds of curl)."""
    trust = ["--cacert", str(ca)] if ca is not None else []
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(["curl", "-sf", "--http1.1", *trust, "-o", str(out), url], check=True)
    if fsync:
        fd = os.open(out, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return time.perf_counter() - started, _children_cpu() - cpu


def run_jobdock(
    url: str, folder: Path, *, on_loop: bool, ca: Path | None
) -> tuple[float, float, int]:
    """(seconds, CPU seconds of the download, peak RSS growth)."""
    command = [sys.executable, __file__, "--child", url, str(folder)]
    if on_loop:
        command.append("--on-loop")
    env = dict(os.environ, SSL_CERT_FILE=str(ca)) if ca is not None else None
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"jobdock run failed:\n{done.stderr}")
    figures = json.loads(done.stdout)
    if (folder / "big.bin").stat().st_size != figures["bytes"]:
        raise RuntimeError("jobdock saved a file of the wrong size")
    return float(figures["seconds"]), float(figures["cpu"]), int(figures["rss_growth"])


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child(url: str, folder: Path, *, on_loop: bool) -> None:
    """One download through Jobdock's downloader, as the engine runs it; prints JSON figures."""
    import httpx

    from jobdock.core.download import downloader
    from jobdock.core.model.job import Account, Result
    from jobdock.core.net.bulk_http import SyncRoute
    from jobdock.core.net.http import ApiSession, make_bare_client

    async def main() -> dict[str, float]:
        bare = make_bare_client()
        session = ApiSession(
            account=Account(name="bench", provider="generic-202", base_url="https://api.example"),
            api=bare,
            bare=bare,
        )
        try:
            # Warm up what a running app has warm already (TLS context, thread start).
            SyncRoute(session).client_for(url).close()
            before = _status_kib("VmRSS")
            cpu = time.process_time()
            started = time.perf_counter()
            done = await downloader.download(
                session,
                Result(url=url),
                folder=folder,
                on_started=lambda _started: None,
                on_progress=lambda _done, _total: None,
                threaded=not on_loop,
            )
            seconds = time.perf_counter() - started
            return {
                "seconds": seconds,
                "cpu": time.process_time() - cpu,
                "rss_growth": _status_kib("VmHWM") - before,
                "bytes": done.bytes or 0,
            }
        finally:
            await bare.aclose()

    assert httpx  # imported before the baseline is taken, like in the app
    print(json.dumps(asyncio.run(main())))


# -- the report -------------------------------------------------------------------------------
def make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as fh:
        for offset in range(0, size, len(block)):
            fh.write(block[: min(len(block), size - offset)])
    os.sync()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where the temp dir goes")
    parser.add_argument("--on-loop", action="store_true", help="the event-loop path (before)")
    parser.add_argument("--tls", action="store_true", help="HTTPS (nginx, self-signed cert)")
    parser.add_argument("--child", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), on_loop=args.on_loop)
        return
    if not shutil.which("curl"):
        sys.exit("curl is needed")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up (nginx, files) on TERM
    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="jobdock-bench-", dir=args.dir))
    work.chmod(0o755)  # nginx's workers may run as another user
    try:
        root, out, jd = work / "root", work / "out", work / "jobdock"
        for folder in (root, out, jd):
            folder.mkdir()
        make_file(root / "big.bin", size)
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if args.tls and not binary:
            sys.exit("--tls needs nginx")
        ca, tls = None, None
        if args.tls:
            tls = make_certificate(work)
            ca = tls[0]
        server = nginx(root, work, binary, tls=tls) if binary else python_server(root)
        with server as origin:
            url = f"{origin}/big.bin"
            times: dict[str, list[float]] = {
                "curl": [], "curl+fsync": [], "jobdock": [], "curl→null": []
            }  # fmt: skip
            cpu: dict[str, list[float]] = {"curl": [], "jobdock": []}
            growth: list[int] = []
            for _ in range(args.runs):
                drop(out / "big.bin")
                times["curl→null"].append(run_curl(url, Path(os.devnull), fsync=False, ca=ca)[0])
                seconds, used = run_curl(url, out / "big.bin", fsync=False, ca=ca)
                times["curl"].append(seconds)
                cpu["curl"].append(used)
                drop(out / "big.bin")
                seconds, used, rss = run_jobdock(url, jd, on_loop=args.on_loop, ca=ca)
                times["jobdock"].append(seconds)
                cpu["jobdock"].append(used)
                growth.append(rss)
                drop(jd / "big.bin")
                times["curl+fsync"].append(run_curl(url, out / "big.bin", fsync=True, ca=ca)[0])
            drop(out / "big.bin")
        speed = {k: size / statistics.median(v) / 1e6 for k, v in times.items()}
        # Each Jobdock run against the curl run just before it: this machine's speed drifts
        # from minute to minute, so ratios within a round say more than a ratio of medians.
        paired_plain = [c / j for c, j in zip(times["curl"], times["jobdock"], strict=True)]
        print(
            f"file: {args.size_mib} MiB from {'nginx' if binary else 'Python sendfile server'}"
            f" on 127.0.0.1 over {'HTTPS' if args.tls else 'HTTP'}, {args.runs} rounds"
            " (curl→null, curl, jobdock, curl+fsync), medians;"
            f" written under {work.parent}"
        )
        for name, values in times.items():
            runs = ", ".join(f"{size / t / 1e6:.0f}" for t in values)
            print(f"  {name:11s} {speed[name]:7.0f} MB/s   (runs: {runs})")
        gib = size / 2**30
        for name, values in cpu.items():
            print(
                f"  CPU {name:7s} {statistics.median(values) / gib:6.2f} s per GiB (user + system)"
            )
        path = "event loop (--on-loop)" if args.on_loop else "worker thread"
        print(f"jobdock path: {path}")
        print(
            f"ratio jobdock / curl:        {speed['jobdock'] / speed['curl']:.2f}  (target >= 0.9)"
            f"   paired per round: {statistics.median(paired_plain):.2f}"
            f" ({', '.join(f'{r:.2f}' for r in paired_plain)})"
        )
        print(f"ratio jobdock / curl+fsync:  {speed['jobdock'] / speed['curl+fsync']:.2f}")
        print(f"jobdock peak RSS growth:     {max(growth) / 1e6:.1f} MB (max of runs; target < 30)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
