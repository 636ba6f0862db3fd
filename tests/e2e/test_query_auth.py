"""Query-parameter auth through the real CLI: the credential is merged into every request's own
query on the account's origin — `--param`s, the profile's `[submit] query`, the status link's
and the result links' queries all arrive — never twice, never on another host (not even after a
redirect that carries it), and the right resource is saved. Two small servers on 127.0.0.1
record the query of every request they get."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import Cli

KEY = "ledger-key-6d1f0c9a"
PROFILE = """\
id = "ledger"
name = "Ledger API"
base_url = "http://127.0.0.1:9/"

[auth]
kind = "query"
name = "api_key"

[submit]
method = "POST"
path = "v1/exports"
query = { format = "csv" }
body = { kind = "ledger" }

[fields]
id = "export.id"
status_url = "export.status"
state = "export.state"

[states]
waiting = "queued"
done = "succeeded"
broken = "failed"

[poll]
first_delay = 0.05
min = 0.05
max = 0.2

[[results]]
url = "export.files"
filename = "part-{n}.csv"
needs_auth = true
"""


@dataclass
class Seen:
    """What one server was asked: (method, path, query) in arrival order."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, target: str) -> dict[str, list[str]]:
        parts = urlsplit(target)
        with self.lock:
            self.requests.append((method, parts.path, parts.query))
        return parse_qs(parts.query, keep_blank_values=True)


def _server(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: Seen

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, code: int, body: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Blobs(_Quiet):
    """Another origin: a pre-signed blob the API redirects to."""

    def do_GET(self) -> None:
        query = self.seen.add("GET", self.path)
        ok = query.get("sig") == ["b2"] and "api_key" not in query
        self.send(200 if ok else 403, b"part 2 from the blob store\n" if ok else b"denied")


class _Ledger(_Quiet):
    """The API. Its links echo the query they were asked with (the key included), as APIs that
    build self links from the request URL do; any request without exactly one right key is 401."""

    blobs = ""
    polls = 0

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        if query.get("api_key") == [KEY]:
            return True
        self.send(401, json.dumps({"message": "bad key"}).encode())
        return False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = self.seen.add("POST", self.path)
        if self._authorised(query):
            export = {"id": "e-1", "state": "waiting", "status": f"/v1/exports/e-1?view=full"
                      f"&api_key={KEY}"}  # fmt: skip
            self.send(201, json.dumps({"export": export}).encode())

    def do_GET(self) -> None:
        query = self.seen.add("GET", self.path)
        if not self._authorised(query):
            return
        path = urlsplit(self.path).path
        if path == "/v1/exports/e-1":
            if query.get("view") != ["full"]:
                return self.send(404, b'{"message": "no such view"}')
            type(self).polls += 1
            export: dict[str, Any] = {"id": "e-1", "state": "waiting"}
            if self.polls > 1:
                files = ["/v1/exports/e-1/file?part=1", "/v1/exports/e-1/file?part=2"]
                export = {"id": "e-1", "state": "done", "files": files}
            return self.send(200, json.dumps({"export": export}).encode())
        part = query.get("part", ["all"])[0]
        if path == "/v1/exports/e-1/file" and part == "1":
            # the same origin: the credential goes along, merged into this query too
            return self.send(307, b"", ("Location", "/v1/blobs/1?token=t1"))
        if path == "/v1/exports/e-1/file" and part == "2":
            # another origin, and a Location that echoes the key: it must not travel there
            location = f"{self.blobs}/blob/2?sig=b2&api_key={KEY}"
            return self.send(302, b"", ("Location", location))
        if path == "/v1/blobs/1" and query.get("token") == ["t1"]:
            return self.send(200, b"part 1 from the ledger\n")
        self.send(200, f"the wrong resource ({part})\n".encode())


@pytest.fixture
def ledger() -> Iterator[tuple[str, Seen, Seen]]:
    api_seen, blob_seen = Seen(), Seen()
    blobs, blobs_url = _server(type("Blobs", (_Blobs,), {"seen": blob_seen}))
    api, api_url = _server(type("Ledger", (_Ledger,), {"seen": api_seen, "blobs": blobs_url}))
    try:
        yield api_url, api_seen, blob_seen
    finally:
        for server in (api, blobs):
            server.shutdown()
            server.server_close()


def test_query_credentials_merge_into_every_query_on_the_origin_only(
    tmp_path: Path, file_keyring_env: dict[str, str], ledger: tuple[str, Seen, Seen]
) -> None:
    base_url, api_seen, blob_seen = ledger
    profile = tmp_path / "ledger.toml"
    profile.write_text(PROFILE)
    cli = Cli(env={**file_keyring_env, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    with_profile = ["--profile", str(profile)]
    add = ["accounts", "add", "books", "--provider", "ledger", "--base-url", base_url]
    cli(*with_profile, *add, "--secret-stdin", stdin=KEY + "\n")
    submitted = cli(*with_profile, "submit", "books", "--param", "region=eu", "--json")
    assert json.loads(submitted.stdout)["remote_id"] == "e-1"
    watched = cli(*with_profile, "watch", "--until-done", "--timeout", "30")
    listed = cli(*with_profile, "jobs", "--json")
    (job,) = json.loads(listed.stdout)

    on_origin = [(m, p, parse_qs(q, keep_blank_values=True)) for m, p, q in api_seen.requests]
    submit = on_origin[0]
    assert submit[:2] == ("POST", "/v1/exports")
    assert submit[2] == {"region": ["eu"], "format": ["csv"], "api_key": [KEY]}
    polls = [q for m, p, q in on_origin if p == "/v1/exports/e-1"]
    assert len(polls) >= 2 and all(q == {"view": ["full"], "api_key": [KEY]} for q in polls)
    files = sorted(q["part"][0] for m, p, q in on_origin if p == "/v1/exports/e-1/file")
    assert files == ["1", "2"]
    assert all(q["api_key"] == [KEY] for _, _, q in on_origin)  # exactly once, every time
    assert [(p, q) for _, p, q in on_origin if p == "/v1/blobs/1"] == [
        ("/v1/blobs/1", {"token": ["t1"], "api_key": [KEY]})
    ]
    assert blob_seen.requests == [("GET", "/blob/2", "sig=b2")]

    assert [r["download_state"] for r in job["results"]] == ["done", "done"], job
    saved = [Path(r["path"]).read_text() for r in job["results"]]
    assert saved == ["part 1 from the ledger\n", "part 2 from the blob store\n"]
    # The key the server echoed into the status link is not kept: the session adds it again.
    assert job["status_url"] == f"{base_url}/v1/exports/e-1?view=full"
    for output in (submitted, watched, listed):
        assert KEY not in output.stdout and KEY not in output.stderr
