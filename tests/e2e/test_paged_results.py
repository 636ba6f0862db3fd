"""Paged results through the real CLI (`[results.pages]`, docs/profiles.md): a Salesforce-like
query job whose results come in pages chained by the `Sforce-Locator` header, and a
Databricks-like statement whose chunks name the next by `next_chunk_internal_link`, one of them on
another host. Every page is saved as its own numbered file with the bytes served, and the
account's token reaches no host but the account's."""

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

TOKEN = "00Dpaged!token-4c1e"
POLL = "[poll]\nfirst_delay = 0.05\nmin = 0.05\nmax = 0.2\n"
SALESFORCE = f"""\
id = "bulk-query"
name = "Bulk API 2.0 query"
base_url = "http://127.0.0.1:9"

[auth]
kind = "bearer"

[submit]
method = "POST"
path = "services/data/v62.0/jobs/query"
body = {{ operation = "query", query = "SELECT Id, Name FROM Account" }}

[fields]
id = "id"
status_url_template = "services/data/v62.0/jobs/query/{{id}}"
state = "state"

[states]
UploadComplete = "queued"
InProgress = "running"
JobComplete = "succeeded"
Failed = "failed"
Aborted = "cancelled"
{POLL}
[[results]]
url_template = "services/data/v62.0/jobs/query/{{id}}/results?maxRecords=2"
needs_auth = true
filename = "accounts.csv"

[results.pages]
next = "header:Sforce-Locator"
next_query = "locator"
end_value = "null"
"""
DATABRICKS = f"""\
id = "statements"
name = "Statement execution"
base_url = "http://127.0.0.1:9"

[auth]
kind = "bearer"

[submit]
method = "POST"
path = "api/2.0/sql/statements"
body = {{ statement = "SELECT 1", warehouse_id = "w1" }}

[fields]
id = "statement_id"
status_url_template = "api/2.0/sql/statements/{{id}}"
state = "status.state"

[states]
PENDING = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
{POLL}
[[results]]
url_template = "api/2.0/sql/statements/{{id}}/result/chunks/0"
needs_auth = true
filename = "chunk-{{page}}.json"

[results.pages]
next = "next_chunk_internal_link"
"""
ISSUED = "access-token-from-the-test-endpoint"  # by the token endpoint of the last test
PAGES = [b'"Id","Name"\n"001A","Acme"\n"001B","Globex"\n', b'"Id","Name"\n"001C","Initech"\n',
         b'"Id","Name"\n"001D","Umbrella \xc3\xa9"\n']  # fmt: skip
LOCATORS = [None, "MTAwMDA", "MjAwMDA"]


@dataclass
class Seen:
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    served: dict[str, list[bytes]] = field(default_factory=dict)  # path?query: each body sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            auth = handler.headers.get("Authorization")
            self.requests.append((handler.command, handler.path, auth))


class _Server(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: Seen
    other = ""  # the other host's URL

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, code: int, body: bytes, **headers: str) -> None:
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with self.seen.lock:
            self.seen.served.setdefault(self.path, []).append(body)
        self.wfile.write(body)

    def send_json(self, value: object, code: int = 200) -> None:
        self.send(code, json.dumps(value).encode(), Content_Type="application/json")

    def authorised(self) -> bool:
        if self.headers.get("Authorization") in (f"Bearer {TOKEN}", f"Bearer {ISSUED}"):
            return True
        self.send_json([{"errorCode": "INVALID_SESSION_ID"}], 401)
        return False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.add(self)
        if not self.authorised():
            return
        if self.path.endswith("/jobs/query"):
            return self.send_json({"id": "750R0000000zxr8IAA", "state": "UploadComplete"})
        self.send_json({"statement_id": "01ef-aa", "status": {"state": "PENDING"}})

    def do_GET(self) -> None:
        self.seen.add(self)
        parts = urlsplit(self.path)
        if parts.path.startswith("/cdn/"):  # the other host: no credentials wanted or given
            return self.send_json({"chunk_index": 2, "data_array": [["2", "elsewhere"]]})
        if not self.authorised():
            return
        if parts.path == "/services/data/v62.0/jobs/query/750R0000000zxr8IAA":
            return self.send_json({"id": "750R0000000zxr8IAA", "state": "JobComplete"})
        if parts.path == "/services/data/v62.0/jobs/query/750R0000000zxr8IAA/results":
            query = parse_qs(parts.query)
            if query.get("maxRecords") != ["2"]:
                return self.send(400, b"maxRecords lost")
            n = LOCATORS.index(query.get("locator", [None])[0])
            following = LOCATORS[n + 1] if n + 1 < len(LOCATORS) else "null"
            return self.send(200, PAGES[n], Content_Type="text/csv", Sforce_Locator=following,
                             Sforce_NumberOfRecords=str(PAGES[n].count(b"\n") - 1))  # fmt: skip
        if parts.path == "/api/2.0/sql/statements/01ef-aa":
            return self.send_json({"statement_id": "01ef-aa", "status": {"state": "SUCCEEDED"}})
        if parts.path == "/api/2.0/sql/statements/01ef-aa/result/chunks/0":
            return self.send_json({"chunk_index": 0, "data_array": [["0"]],
                                   "next_chunk_internal_link": "/api/2.0/sql/statements/01ef-aa"
                                   "/result/chunks/1"})  # fmt: skip
        if parts.path == "/api/2.0/sql/statements/01ef-aa/result/chunks/1":
            return self.send_json({"chunk_index": 1, "data_array": [["1"]],
                                   "next_chunk_internal_link": f"{self.other}/cdn/2"})  # fmt: skip
        self.send(404, b"no such page")


@pytest.fixture
def servers() -> Iterator[tuple[str, Seen, str, Seen]]:
    api_seen, other_seen = Seen(), Seen()
    other = ThreadingHTTPServer(("127.0.0.1", 0), type("Other", (_Server,), {"seen": other_seen}))
    other_url = f"http://127.0.0.1:{other.server_address[1]}"
    handler = type("Api", (_Server,), {"seen": api_seen, "other": other_url})
    api = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    running = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05})
               for s in (api, other)]  # fmt: skip
    for thread in running:
        thread.start()
    try:
        yield f"http://127.0.0.1:{api.server_address[1]}", api_seen, other_url, other_seen
    finally:
        for server in (api, other):
            server.shutdown()
            server.server_close()
        for thread in running:
            thread.join()


def _run(tmp_path: Path, env: dict[str, str], text: str, provider: str, base_url: str) -> Any:
    profile = tmp_path / f"{provider}.toml"
    profile.write_text(text)
    cli = Cli(env={**env, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    p = ["--profile", str(profile)]
    cli(*p, "profiles", "check", str(profile))
    cli(*p, "accounts", "add", "acct", "--provider", provider, "--base-url", base_url,
        "--secret-stdin", stdin=TOKEN + "\n")  # fmt: skip
    cli(*p, "submit", "acct")
    watched = cli(*p, "watch", "--until-done", "--timeout", "60")
    listed = cli(*p, "jobs", "--json")
    for output in (watched.stdout, watched.stderr, listed.stdout):
        assert TOKEN not in output
    (job,) = json.loads(listed.stdout)
    return job


def test_pages_chained_by_a_locator_header_are_saved_one_file_each(
    tmp_path: Path, file_keyring_env: dict[str, str], servers: tuple[str, Seen, str, Seen]
) -> None:
    base_url, api_seen, _, other_seen = servers
    job = _run(tmp_path, file_keyring_env, SALESFORCE, "bulk-query", base_url)
    assert job["state"] == "succeeded"
    results = job["results"]
    assert [r["download_state"] for r in results] == ["done"] * 3, results
    assert [Path(r["path"]).name for r in results] == [
        "accounts-001.csv", "accounts-002.csv", "accounts-003.csv"]  # fmt: skip
    assert [Path(r["path"]).read_bytes() for r in results] == PAGES
    for result, page in zip(results, PAGES, strict=True):
        parts = urlsplit(result["url"])
        assert page in api_seen.served[f"{parts.path}?{parts.query}"]
    assert [r["bytes"] for r in results] == [len(p) for p in PAGES]
    assert ["locator=" in r["url"] for r in results] == [False, True, True]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in api_seen.requests)
    assert other_seen.requests == []


def test_chunks_chained_by_a_body_field_and_a_chunk_on_another_host_gets_no_token(
    tmp_path: Path, file_keyring_env: dict[str, str], servers: tuple[str, Seen, str, Seen]
) -> None:
    base_url, api_seen, other_url, other_seen = servers
    job = _run(tmp_path, file_keyring_env, DATABRICKS, "statements", base_url)
    results = job["results"]
    assert [r["download_state"] for r in results] == ["done"] * 3, results
    assert [r["url"] for r in results] == [
        f"{base_url}/api/2.0/sql/statements/01ef-aa/result/chunks/0",
        f"{base_url}/api/2.0/sql/statements/01ef-aa/result/chunks/1",
        f"{other_url}/cdn/2",
    ]
    assert [Path(r["path"]).name for r in results] == [
        "chunk-001.json", "chunk-002.json", "chunk-003.json"]  # fmt: skip
    for result, seen in zip(results, (api_seen, api_seen, other_seen), strict=True):
        served = seen.served[urlsplit(result["url"]).path]
        assert len(set(served)) == 1  # the same bytes to the chain's walk and to the download
        assert Path(result["path"]).read_bytes() == served[0]
    assert json.loads(Path(results[2]["path"]).read_bytes())["data_array"] == [["2", "elsewhere"]]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in api_seen.requests)
    assert other_seen.requests and all(auth is None for _, _, auth in other_seen.requests)


# The URLs a profile names besides its base URL, set per account (docs/cli.md): the token
# endpoint (`token_url`) and the hosts that get the credentials (`result_hosts`).
CLIENT_SECRET = "client-secret-9b2f"
OAUTH = DATABRICKS.replace(
    'kind = "bearer"',
    'kind = "oauth2"\ngrant = "client_credentials"\n'
    'token_url = "https://login.example.invalid/oauth2/token"',
)


class _Tokens(_Server):
    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        self.seen.add(self)
        if form.get("client_secret") != [CLIENT_SECRET]:
            return self.send_json({"error": "invalid_client"}, 401)
        self.send_json({"access_token": ISSUED, "token_type": "Bearer", "expires_in": 3600})


def test_the_token_endpoint_and_the_result_hosts_set_per_account(
    tmp_path: Path, file_keyring_env: dict[str, str], servers: tuple[str, Seen, str, Seen]
) -> None:
    base_url, api_seen, other_url, other_seen = servers
    token_seen = Seen()
    tokens = ThreadingHTTPServer(("127.0.0.1", 0), type("T", (_Tokens,), {"seen": token_seen}))
    thread = threading.Thread(target=tokens.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    token_url = f"http://127.0.0.1:{tokens.server_address[1]}/oauth2/token"
    profile = tmp_path / "statements.toml"
    profile.write_text(OAUTH)
    cli = Cli(env={**file_keyring_env, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    p = ["--profile", str(profile)]
    add = [*p, "accounts", "add", "acct", "--provider", "statements", "--base-url", base_url]
    secrets = f"client_id=c1\nclient_secret={CLIENT_SECRET}\n"
    try:
        for bad, said in [
            (["--option", "token_url=ftp://127.0.0.1/token"], "token_url='ftp://127.0.0.1/token'"),
            (["--option", f"result_hosts={other_url}/cdn"], "result_hosts: expected a host"),
        ]:
            refused = cli(*add, *bad, "--secret-stdin", stdin=secrets, expect=2)
            assert said in refused.stderr and len(refused.stderr.splitlines()) == 1
        assert cli(*p, "accounts", "list").stdout == ""  # nothing stored
        cli(*add, "--option", f"token_url={token_url}", "--option",
            f"result_hosts= {other_url} ,", "--secret-stdin", stdin=secrets)  # fmt: skip
        cli(*p, "submit", "acct")
        watched = cli(*p, "watch", "--until-done", "--timeout", "60")
        (job,) = json.loads(cli(*p, "jobs", "--json").stdout)
    finally:
        tokens.shutdown()
        tokens.server_close()
        thread.join()
    assert [r["download_state"] for r in job["results"]] == ["done"] * 3, job
    assert Path(job["results"][2]["path"]).read_bytes() == other_seen.served["/cdn/2"][0]
    # the account's token endpoint got the client secret; the API and its result host the token
    assert token_seen.requests and all(m == "POST" for m, _, _ in token_seen.requests)
    assert all(auth == f"Bearer {ISSUED}" for _, _, auth in api_seen.requests)
    assert other_seen.requests and all(a == f"Bearer {ISSUED}" for _, _, a in other_seen.requests)
    for output in (watched.stdout, watched.stderr, json.dumps(job)):
        assert ISSUED not in output and CLIENT_SECRET not in output
