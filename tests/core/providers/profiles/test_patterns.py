"""The export-API patterns profiles describe (docs/profiles.md), each against a small fake of the
API on 127.0.0.1 and followed through the real CLI where it matters: a submit answer without a
state (`initial_state`), AIP-151 operations (a state from a boolean and from which key is present),
a list of paths per field, polling with a templated POST body (GraphQL), ids that are URIs, auth
kind `none`, `{now:epoch}` times, result URLs from a template and from a second request (made again
when a link expires), and 303 See Other as the end of a job with `header:Location` as its result."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import keyring.core
import pytest

from jobdock.cli.main import main
from jobdock.core.model.errors import ConfigError, ProtocolError
from jobdock.core.model.job import Account, Job, JobState
from jobdock.core.model.paths import AppPaths
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.providers.profiles.load import parse_profile
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.templates import expand_now
from jobdock.core.store.jobs import JobStore
from tests.conftest import REPO_ROOT
from tests.support import file_keyring

SECRET = "s3cr3t-pattern-token"
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Fake:
    """A fake API: `route(seen)` answers each request; every request is kept in `seen`."""

    route: Callable[[Seen], Answer]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def paths(self, method: str | None = None) -> list[str]:
        return [s.path for s in self.seen if method is None or s.method == method]


def _handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            fake.seen.append(seen)
            code, headers, body = fake.route(seen)
            self.send_response(code)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Seen], Answer]], Fake]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(route: Callable[[Seen], Answer]) -> Fake:
        fake = Fake(route)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((server, thread))
        fake.url = f"http://127.0.0.1:{server.server_address[1]}"
        return fake

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def js(value: object, code: int = 200, **headers: str) -> Answer:
    return code, headers, json.dumps(value).encode()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(file_keyring.FILE_VARIABLE, str(tmp_path / "keyring.json"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", file_keyring.FileKeyring())
    data = ["--data-dir", str(tmp_path / "data")]

    def run(*args: str, stdin: str = "", code: int = 0, profile: str = "") -> str:
        out = io.StringIO()
        written = tmp_path / "profile.toml"
        if profile:
            written.write_text(profile)
        extra = ["--profile", str(written)] if written.exists() else []
        got = main([*data, *extra, *args], stdin=io.StringIO(stdin), stdout=out)
        assert got == code, (args, out.getvalue())
        assert SECRET not in out.getvalue()
        return out.getvalue()

    return run


def run(text: str, fake: Fake, fn: Callable[[ProfileProvider, ApiSession], Any]) -> Any:
    """`fn(provider, session)` with the profile in `text`, on real clients to `fake`."""
    provider = ProfileProvider(parse_profile(text, source="test.toml"))
    account = Account(name="a", provider=provider.id, base_url=fake.url)

    async def go() -> Any:
        api = make_api_client(headers=provider.auth_headers(account, SECRET))
        bare = make_bare_client()
        try:
            return await fn(provider, ApiSession(account, api, bare))
        finally:
            await api.aclose()
            await bare.aclose()

    return asyncio.run(go())


def saved(listed: dict[str, Any]) -> dict[str, bytes]:
    return {Path(r["path"]).name: Path(r["path"]).read_bytes() for r in listed["results"]}


POLL = "[poll]\nfirst_delay = 0.05\nmin = 0.05\nmax = 0.1\n"


# SP-API reports: an answer with only an id, then a second request for the document ------------
# https://developer-docs.amazon.com/sp-api/docs/reports-api-v2021-06-30-reference: createReport
# answers `{"reportId"}`; getReport gives `processingStatus` and, when DONE, `reportDocumentId`;
# getReportDocument gives a pre-signed `url` valid for five minutes.
REPORTS = f"""
id = "sp-like"
name = "Reports with documents"
base_url = "http://127.0.0.1:9"
[auth]
kind = "header"
name = "x-amz-access-token"
[submit]
method = "POST"
path = "reports/2021-06-30/reports"
body = {{ reportType = "GET_FLAT_FILE_OPEN_LISTINGS_DATA", dataStartTime = "{{now-1d}}" }}
[fields]
id = ["reportId", "payload.reportId"]
status_url_template = "reports/2021-06-30/reports/{{id}}"
state = "processingStatus"
[states]
IN_QUEUE = "queued"
IN_PROGRESS = "running"
DONE = "succeeded"
FATAL = "failed"
CANCELLED = "cancelled"
{POLL}
[[results]]
fetch = "reports/2021-06-30/documents/{{answer.reportDocumentId}}"
url = "url"
filename = "report-{{id}}.tsv"
filename_from_url = false
expiry = "presigned-url"
"""


def test_an_id_only_submit_and_a_document_from_a_second_request(serve, cli):
    documents: list[str] = []

    def store(seen: Seen) -> Answer:
        if seen.path.endswith("doc-2"):
            return 200, {"Content-Type": "text/plain"}, b"sku\tqty\nA-1\t3\n"
        return 403, {}, b"<Error><Code>AccessDenied</Code>Request has expired</Error>"

    storage = serve(store)

    def api(seen: Seen) -> Answer:
        if seen.headers.get("x-amz-access-token") != SECRET:
            return js({"errors": [{"code": "Unauthorized"}]}, 403)
        if seen.method == "POST":
            return js({"reportId": "R1"}, 202)
        if "/documents/" in seen.path:
            documents.append(seen.path)  # the first link is refused: a refresh asks again
            return js({"reportDocumentId": "D1", "url": f"{storage.url}/s3/doc-{len(documents)}"})
        polls = len(api_fake.paths("GET")) - len(documents)
        status = "IN_PROGRESS" if polls < 2 else "DONE"
        return js({"reportId": "R1", "processingStatus": status, "reportDocumentId": "D1"})

    api_fake = serve(api)
    cli("accounts", "add", "sp", "--provider", "sp-like", "--base-url", api_fake.url,
        "--secret-stdin", stdin=SECRET + "\n", profile=REPORTS)  # fmt: skip
    job = json.loads(cli("submit", "sp", "--json"))
    assert (job["remote_id"], job["state"], job["remote_state"]) == ("R1", "queued", "queued")
    cli("watch", "--until-done", "--timeout", "20")
    (listed,) = json.loads(cli("jobs", "--json"))
    assert listed["state"] == "succeeded"
    assert saved(listed) == {"report-R1.tsv": b"sku\tqty\nA-1\t3\n"}
    assert len(documents) >= 2, "an expired link is refreshed by asking for the document again"
    assert all(p == "/reports/2021-06-30/documents/D1" for p in documents)
    assert all("x-amz-access-token" not in s.headers for s in storage.seen)
    body = json.loads(api_fake.seen[0].body)
    assert body["reportType"] == "GET_FLAT_FILE_OPEN_LISTINGS_DATA"
    assert body["dataStartTime"].endswith("Z")


def test_a_poll_answer_without_a_state_is_still_an_error(serve):
    fake = serve(lambda s: js({"reportId": "R1"}, 202))  # every answer lacks the state

    async def flow(provider: ProfileProvider, session: ApiSession) -> None:
        status = await provider.submit(session, provider.default_request())
        assert (status.state, status.remote_id) == (JobState.QUEUED, "R1")
        assert status.status_url == f"{fake.url}/reports/2021-06-30/reports/R1"
        job = Job(id="1", account="a", provider=provider.id, remote_id="R1")
        with pytest.raises(ProtocolError, match="has no `processingStatus`"):
            await provider.poll(session, job)

    run(REPORTS, fake, flow)
    running = REPORTS.replace('base_url = "http', 'initial_state = "running"\nbase_url = "http')

    async def submit(provider: ProfileProvider, session: ApiSession) -> JobState:
        return (await provider.submit(session, provider.default_request())).state

    assert run(running, fake, submit) is JobState.RUNNING


# Google AIP-151 long-running operations: `done` (left out while false), then `error` or
# `response` (https://google.aip.dev/151); names are paths (`operations/op-1`) ------------------
LRO = f"""
id = "lro-like"
name = "Operations"
base_url = "http://127.0.0.1:9"
absent_state = "running"           # proto3 JSON leaves out `done: false`
[auth]
kind = "bearer"
[submit]
method = "POST"
path = "v1/exports"
body = {{ since = "{{now-1d:epoch}}", note = "asked at {{now:epoch_ms}}" }}
[fields]
id = "name"
status_url_template = "v1/{{id}}"
state = ["present:error", "present:response", "done"]
progress = "metadata.progressPercent"
error = ["error.message", "error.status"]
[states]
false = "running"
error = "failed"
response = "succeeded"
{POLL}
[[results]]
url = ["response.outputUris", "response.outputUri"]
"""


def test_aip151_operations_from_booleans_and_present_keys(serve, cli):
    storage = serve(lambda s: (200, {"Content-Type": "text/csv"}, f"rows of {s.path}\n".encode()))
    polls: dict[str, int] = {}

    def api(seen: Seen) -> Answer:
        assert seen.headers.get("Authorization") == f"Bearer {SECRET}"
        if seen.method == "POST":
            return js({"name": "operations/op-1", "metadata": {"progressPercent": 0}})
        name = seen.path.removeprefix("/v1/")
        polls[name] = polls.get(name, 0) + 1
        if name == "operations/op-2":
            return js({"name": name, "done": True, "error": {"code": 9, "message": "no rows"}})
        if polls[name] < 2:
            return js({"name": name, "done": False, "metadata": {"progressPercent": 40}})
        uris = [f"{storage.url}/bucket/a.csv", f"{storage.url}/bucket/b.csv"]
        return js({"name": name, "done": True, "response": {"outputUris": uris}})

    fake = serve(api)
    cli("accounts", "add", "g", "--provider", "lro-like", "--base-url", fake.url,
        "--secret-stdin", stdin=SECRET + "\n", profile=LRO)  # fmt: skip
    job = json.loads(cli("submit", "g", "--json"))
    assert (job["remote_id"], job["state"]) == ("operations/op-1", "queued")  # no `done` yet
    assert job["status_url"] == f"{fake.url}/v1/operations/op-1"
    tracked = json.loads(cli("track", "g", "operations/op-2", "--json"))  # an id with a slash
    assert tracked["remote_id"] == "operations/op-2"
    assert tracked["state"] == "failed"  # its first read says done, with an error
    # `--until-done` speaks of the jobs unsettled when it started (docs/cli.md): op-1 only.
    cli("watch", "--until-done", "--timeout", "20", code=0)
    jobs = {j["remote_id"]: j for j in json.loads(cli("jobs", "--json"))}
    done, failed = jobs["operations/op-1"], jobs["operations/op-2"]
    assert (done["state"], done["remote_state"]) == ("succeeded", "response")
    assert saved(done) == {"a.csv": b"rows of /bucket/a.csv\n", "b.csv": b"rows of /bucket/b.csv\n"}
    assert (failed["state"], failed["remote_state"], failed["error"]) == ("failed", "error",
                                                                          "no rows")  # fmt: skip
    assert "/v1/operations/op-1" in fake.paths("GET")
    assert all("Authorization" not in s.headers for s in storage.seen)
    body = json.loads(fake.seen[0].body)
    now = datetime.now(UTC).timestamp()
    assert isinstance(body["since"], int) and abs(now - 86400 - body["since"]) < 3600
    stamp = int(body["note"].removeprefix("asked at "))
    assert abs(now * 1000 - stamp) < 3_600_000


def test_now_templates_in_epoch_seconds_and_milliseconds():
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    body = {"a": "{now:epoch}", "b": "t={now-1h:epoch_ms}", "c": ["{now-2d}"], "d": "{nowhere}"}
    assert expand_now(body, now=now) == {
        "a": 1767323045, "b": f"t={(1767323045 - 3600) * 1000 + 678}",
        "c": ["2025-12-31T03:04:05Z"], "d": "{nowhere}",
    }  # fmt: skip


# Shopify bulk operations: a GraphQL POST polls the operation by its URI id; the state and the
# URL sit at different paths in the submit and the poll answer
# (https://shopify.dev/docs/api/usage/bulk-operations/queries) -------------------------------
SHOPIFY = r"""
id = "bulk-like"
name = "Bulk operations"
base_url = "http://127.0.0.1:9"
[auth]
kind = "header"
name = "X-Shopify-Access-Token"
[submit]
method = "POST"
path = "admin/api/2025-01/graphql.json"
[submit.body]
query = '''mutation {
  bulkOperationRunQuery(query: "{ products { edges { node { id } } } }") {
    bulkOperation { id status } userErrors { message } } }'''
[fields]
id = ["data.bulkOperationRunQuery.bulkOperation.id", "data.node.id"]
status_url_template = "admin/api/2025-01/graphql.json"
state = ["data.bulkOperationRunQuery.bulkOperation.status", "data.node.status"]
progress = "data.node.percent"
error = "data.node.errorCode"
[states]
CREATED = "queued"
RUNNING = "running"
COMPLETED = "succeeded"
FAILED = "failed"
CANCELED = "cancelled"
[poll]
method = "POST"
first_delay = 0.05
min = 0.05
max = 0.1
[poll.body]
query = "query($id: ID!) { node(id: $id) { ... on BulkOperation { id status url percent } } }"
variables = { id = "{id}" }
[[results]]
url = "data.node.url"
filename = "bulk-{n}.jsonl"
filename_from_url = false
"""


def test_graphql_polling_by_a_uri_id_with_paths_that_move(serve, cli):
    storage = serve(lambda s: (200, {"Content-Type": "application/jsonl"}, b'{"id":1}\n'))
    polls: dict[str, int] = {}

    def api(seen: Seen) -> Answer:
        assert seen.headers.get("X-Shopify-Access-Token") == SECRET
        sent = json.loads(seen.body)
        if "mutation" in sent["query"]:
            op = {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"}
            return js({"data": {"bulkOperationRunQuery": {"bulkOperation": op, "userErrors": []}}})
        gid = sent["variables"]["id"]
        polls[gid] = polls.get(gid, 0) + 1
        node: dict[str, Any] = {"id": gid, "status": "RUNNING", "percent": 50}
        if polls[gid] > 1:
            node |= {"status": "COMPLETED", "percent": 100, "url": f"{storage.url}/b/{gid[-1]}"}
        return js({"data": {"node": node}})

    fake = serve(api)
    cli("accounts", "add", "shop", "--provider", "bulk-like", "--base-url", fake.url,
        "--secret-stdin", stdin=SECRET + "\n", profile=SHOPIFY)  # fmt: skip
    job = json.loads(cli("submit", "shop", "--json"))
    assert (job["remote_id"], job["remote_state"]) == ("gid://shopify/BulkOperation/1", "CREATED")
    tracked = json.loads(cli("track", "shop", "gid://shopify/BulkOperation/2", "--json"))
    assert tracked["remote_id"] == "gid://shopify/BulkOperation/2"
    cli("watch", "--until-done", "--timeout", "20")
    jobs = {j["remote_id"]: j for j in json.loads(cli("jobs", "--json"))}
    assert {j["state"] for j in jobs.values()} == {"succeeded"}
    assert all(saved(j) == {"bulk-1.jsonl": b'{"id":1}\n'} for j in jobs.values())
    assert jobs["gid://shopify/BulkOperation/2"]["progress"] == 100
    assert set(polls) == {"gid://shopify/BulkOperation/1", "gid://shopify/BulkOperation/2"}
    polled = [json.loads(s.body) for s in fake.seen[1:]]
    assert all("node(id: $id) { ... on BulkOperation" in p["query"] for p in polled)
    assert all(s.method == "POST" and s.path == "/admin/api/2025-01/graphql.json"
               for s in fake.seen)  # fmt: skip


# UniProt ID mapping: no auth; the status answers 303 See Other when the job is done, and the
# results are at its Location (https://www.uniprot.org/help/id_mapping_prog) -------------------
UNIPROT = f"""
id = "idmapping-like"
name = "ID mapping"
base_url = "http://127.0.0.1:9"
[auth]
kind = "none"
[submit]
method = "POST"
path = "idmapping/run"
body = "from=UniProtKB_AC-ID&to=UniRef90&ids=P05067"
content_type = "application/x-www-form-urlencoded"
[fields]
id = "jobId"
status_url_template = "idmapping/status/{{id}}"
state = ["jobStatus", "http:status"]
[states]
NEW = "queued"
RUNNING = "running"
FINISHED = "succeeded"
303 = "succeeded"
ERROR = "failed"
{POLL}follow_redirects = false
[[results]]
url = "header:Location"
filename = "idmapping-{{id}}.json"
filename_from_url = false
"""


def test_no_auth_and_303_see_other_as_the_end_of_a_job(serve, cli):
    polls: list[str] = []

    def api(seen: Seen) -> Answer:
        if seen.method == "POST":
            assert seen.body == b"from=UniProtKB_AC-ID&to=UniRef90&ids=P05067"
            return js({"jobId": "27a020f6"})
        if seen.path.startswith("/idmapping/results/"):
            return js({"results": [{"from": "P05067", "to": "UniRef90_P05067"}]})
        polls.append(seen.path)
        if len(polls) < 2:
            return js({"jobStatus": "RUNNING"})
        return 303, {"Location": "/idmapping/results/27a020f6"}, b""

    fake = serve(api)
    cli("accounts", "add", "up", "--provider", "idmapping-like", "--base-url", fake.url,
        profile=UNIPROT)  # no secret: auth kind none  # fmt: skip
    cli("submit", "up")
    cli("watch", "--until-done", "--timeout", "20")
    (listed,) = json.loads(cli("jobs", "--json"))
    assert (listed["state"], listed["remote_state"]) == ("succeeded", "303")
    expected = json.dumps({"results": [{"from": "P05067", "to": "UniRef90_P05067"}]}).encode()
    assert saved(listed) == {"idmapping-27a020f6.json": expected}
    assert fake.paths("GET").count("/idmapping/results/27a020f6") == 1  # not followed by polls
    assert all("Authorization" not in s.headers for s in fake.seen)


# Meta async insights: the report run answers its id; the results are at `{id}/insights`, on
# the API's own origin with the token (https://developers.facebook.com/docs/marketing-api/
# insights/best-practices/#asynchronous) --------------------------------------------------------
INSIGHTS = f"""
id = "insights-like"
name = "Insights"
base_url = "http://127.0.0.1:9/v21.0"
[auth]
kind = "bearer"
[submit]
method = "POST"
path = "act_1/insights"
[fields]
id = "report_run_id"
status_url_template = "{{id}}"
state = "async_status"
progress = "async_percent_completion"
[states]
"Job Not Started" = "queued"
"Job Running" = "running"
"Job Completed" = "succeeded"
"Job Failed" = "failed"
{POLL}
[[results]]
url_template = "{{status_url}}/insights"
needs_auth = true
filename = "insights-{{id}}.json"
"""


def test_a_result_url_from_a_template_fetched_with_the_token(serve, cli):
    def api(seen: Seen) -> Answer:
        if seen.headers.get("Authorization") != f"Bearer {SECRET}":
            return js({"error": {"message": "no token"}}, 401)
        if seen.method == "POST":
            return js({"report_run_id": "6023"})
        if seen.path == "/v21.0/6023/insights":
            return js({"data": [{"impressions": "12"}]})
        return js({"id": "6023", "async_status": "Job Completed", "async_percent_completion": 100})

    fake = serve(api)
    cli("accounts", "add", "meta", "--provider", "insights-like", "--base-url", f"{fake.url}/v21.0",
        "--secret-stdin", stdin=SECRET + "\n", profile=INSIGHTS)  # fmt: skip
    cli("submit", "meta")
    cli("watch", "--until-done", "--timeout", "20")
    (listed,) = json.loads(cli("jobs", "--json"))
    assert listed["state"] == "succeeded" and listed["progress"] == 100
    assert saved(listed) == {"insights-6023.json": b'{"data": [{"impressions": "12"}]}'}


def test_a_vocabulary_without_a_failure_state_is_valid(tmp_path):
    # Mailchimp batches report pending, preprocessing, started, finalizing, finished: no failure
    # (https://mailchimp.com/developer/marketing/api/batch-operations/).
    text = LRO.replace('error = "failed"\n', "")
    profile = parse_profile(text, source="t.toml")
    assert JobState.FAILED not in profile.states.values()


PROFILE_DOCS = [REPO_ROOT / "docs/profiles.md", *sorted((REPO_ROOT / "docs/profiles").glob("*.md"))]
_FENCED = re.compile(r"^```([a-z]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_TOML_LINE = re.compile(r"^(\[\[?[a-z_.]+\]\]?|[a-z_]+ = .+)$")


def toml_examples(path: Path) -> list[str]:
    """The TOML code blocks of a page; a block that reads as TOML must be marked `toml`."""
    examples = []
    for language, body in _FENCED.findall(path.read_text(encoding="utf-8")):
        if language == "toml":
            examples.append(body)
            continue
        lines = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
        assert not (lines and all(_TOML_LINE.match(ln) for ln in lines)), (
            f"{path.name}: a TOML example not marked ```toml (not checked): {lines[0]}"
        )
    return examples


def test_every_example_in_docs_profiles_md_is_a_valid_profile():
    blocks = {path: toml_examples(path) for path in PROFILE_DOCS}
    assert len(blocks[PROFILE_DOCS[0]]) >= 17  # docs/profiles.md's, each checked below
    for path, examples in blocks.items():
        for text in examples:
            _check_example(text, source=str(path.relative_to(REPO_ROOT)))


def _check_example(text: str, *, source: str) -> None:
    """A whole profile, or a fragment (a table of one) completed into one, is valid."""
    if not text.startswith(("id =", "#")):  # a fragment: a table of a profile
        head = 'id = "x"\nname = "X"\nbase_url = "https://x.test"\n'
        if "[auth]" not in text:  # a `[[results]]` fragment
            head += '[auth]\nkind = "bearer"\n'
        tail = '[fields]\nid = "id"\nstatus_url_template = "{id}"\nstate = "s"\n'
        text = head + text + tail + '[states]\ndone = "succeeded"\n'
    profile = parse_profile(text, source=source)
    assert profile.fields["state"]


def test_a_pasted_status_url_gives_back_an_id_with_slashes_or_a_uri():
    provider = ProfileProvider(parse_profile(LRO, source="lro.toml"))
    account = Account(name="g", provider="lro-like", base_url="https://ops.test")
    ref = provider.parse_ref(account, "https://ops.test/v1/operations/op-1")
    assert (ref.remote_id, ref.status_url) == (
        "operations/op-1",
        "https://ops.test/v1/operations/op-1",
    )
    encoded = provider.parse_ref(account, "https://ops.test/v1/gid%3A//x/Op/1")
    assert encoded.remote_id == "gid://x/Op/1"
    assert provider.parse_ref(account, "gid://x/Op/1").remote_id == "gid://x/Op/1"


# Stripe report runs: the file is on files.stripe.com and needs the same key
# (https://docs.stripe.com/reports/api#report-runs); other hosts never get it -----------------
STRIPE = f"""
id = "runs-like"
name = "Report runs"
base_url = "http://127.0.0.1:9"
result_hosts = ["files.stripe.com"]
[auth]
kind = "bearer"
[submit]
method = "POST"
path = "v1/reporting/report_runs"
body = "report_type=balance.summary.1&parameters[interval_start]={{now-1d:epoch}}"
content_type = "application/x-www-form-urlencoded"
[fields]
id = "id"
status_url_template = "v1/reporting/report_runs/{{id}}"
state = "status"
error = "error"
[states]
pending = "running"
succeeded = "succeeded"
failed = "failed"
{POLL}
[[results]]
url = ["result.url", "result.links"]
needs_auth = true
"""


def test_credentials_go_to_declared_result_hosts_only_never_by_redirect(serve, cli):
    other = serve(lambda s: (200, {"Content-Type": "text/csv"}, b"moved\n"))

    def files(seen: Seen) -> Answer:
        if seen.path == "/moved.csv":
            return 302, {"Location": f"{other.url}/moved.csv"}, b""
        if seen.headers.get("Authorization") != f"Bearer {SECRET}":
            return 401, {}, b"no key"
        return 200, {"Content-Type": "text/csv"}, b"category,net\nfee,-1\n"

    host = serve(files)

    def api(seen: Seen) -> Answer:
        assert seen.headers.get("Authorization") == f"Bearer {SECRET}"
        if seen.method == "POST":
            return js({"id": "frr_1", "status": "pending"})
        links = [f"{host.url}/files/file_1", f"{host.url}/moved.csv", f"{other.url}/else.csv"]
        return js({"id": "frr_1", "status": "succeeded", "result": {"links": links}})

    fake = serve(api)
    add = ["accounts", "add", "stripe", "--provider", "runs-like", "--base-url", fake.url]
    cli(*add, "--option", f"result_hosts={host.url}", "--secret-stdin", stdin=SECRET + "\n",
        profile=STRIPE)  # fmt: skip
    cli("submit", "stripe")
    cli("watch", "--until-done", "--timeout", "20")
    (listed,) = json.loads(cli("jobs", "--json"))
    assert saved(listed) == {"file_1": b"category,net\nfee,-1\n", "moved.csv": b"moved\n",
                             "else.csv": b"moved\n"}  # fmt: skip
    assert [s.headers.get("Authorization") for s in host.seen] == [f"Bearer {SECRET}"] * 2
    assert other.seen and all("Authorization" not in s.headers for s in other.seen)
    assert b"interval_start]=" in fake.seen[0].body


def test_result_hosts_are_checked_in_the_profile_and_the_account():
    profile = parse_profile(STRIPE, source="s.toml")
    assert profile.result_hosts == ("https://files.stripe.com",)
    provider = ProfileProvider(profile)
    account = Account(name="s", provider="runs-like", base_url="https://api.stripe.com",
                      options={"result_hosts": "http://127.0.0.1:8080, files.eu.test"})  # fmt: skip
    assert provider.result_origins(account) == ("http://127.0.0.1:8080", "https://files.eu.test")
    bad = Account(name="s", provider="runs-like", base_url="https://api.stripe.com",
                  options={"result_hosts": "https://files.test/path"})  # fmt: skip
    with pytest.raises(ConfigError, match="result_hosts: expected a host name"):
        provider.result_origins(bad)


def test_a_redirect_to_a_result_host_carries_no_credentials():
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/go":
            return httpx.Response(302, headers={"Location": "https://files.test/f"})
        return httpx.Response(200, text="ok")

    async def go() -> None:
        transport = httpx.MockTransport(answer)
        api = make_api_client(headers={"Authorization": f"Bearer {SECRET}"}, transport=transport)
        bare = make_bare_client(transport=transport)
        account = Account(name="a", provider="p", base_url="https://api.test")
        session = ApiSession(account, api, bare, result_origins=("https://files.test",))
        try:
            await session.request("GET", "https://files.test/direct")
            await session.request("GET", "https://api.test/go")
            await session.request("GET", "https://elsewhere.test/x")
        finally:
            await api.aclose()
            await bare.aclose()

    asyncio.run(go())
    auth = [(str(r.url), r.headers.get("Authorization")) for r in sent]
    bearer = f"Bearer {SECRET}"
    assert auth == [("https://files.test/direct", bearer), ("https://api.test/go", bearer),
                    ("https://files.test/f", None), ("https://elsewhere.test/x", None)]  # fmt: skip


def test_a_submit_answer_that_cannot_be_read_still_records_the_job(serve, cli, tmp_path):
    answers = iter([js({"reportId": "R9", "processingStatus": "ACCEPTED_MAYBE"}, 202),
                    (200, {"Content-Type": "text/html"}, b"<html>busy</html>")])  # fmt: skip
    fake = serve(lambda s: next(answers) if s.method == "POST" else js({"processingStatus": "X"}))
    cli("accounts", "add", "sp", "--provider", "sp-like", "--base-url", fake.url,
        "--secret-stdin", stdin=SECRET + "\n", profile=REPORTS)  # fmt: skip
    job = json.loads(cli("submit", "sp", "--json"))
    assert (job["remote_id"], job["state"]) == ("R9", "queued")  # the vendor's job is followed
    store = JobStore.open(
        AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path).store_file
    )
    try:
        (kept,) = store.list_jobs()
    finally:
        store.close()
    assert "ACCEPTED_MAYBE" in (kept.last_response or "")
    assert "could not be read" in (kept.log or "") and "ACCEPTED_MAYBE" in (kept.log or "")
    cli("submit", "sp", code=1)  # nothing names a job: an error, and nothing recorded
    assert [j["remote_id"] for j in json.loads(cli("jobs", "--json"))] == ["R9"]


def test_an_ended_job_whose_answer_never_reads_fails_after_a_few_identical_tries(serve, cli):
    def api(seen: Seen) -> Answer:
        if seen.method == "POST":
            return js({"reportId": "R1"}, 202)
        return js({"reportId": "R1", "processingStatus": "DONE"})  # no reportDocumentId, ever

    fake = serve(api)
    cli("accounts", "add", "sp", "--provider", "sp-like", "--base-url", fake.url,
        "--secret-stdin", stdin=SECRET + "\n", profile=REPORTS)  # fmt: skip
    cli("submit", "sp")
    cli("watch", "--until-done", "--timeout", "60", code=1)
    (listed,) = json.loads(cli("jobs", "--json"))
    assert (listed["state"], listed["remote_state"]) == ("failed", "DONE")
    assert "no value for {answer.reportDocumentId}" in listed["error"]
    assert "the same answer 3 times" in listed["error"]
    assert len(fake.paths("GET")) == 3


# OAuth2 token exchange (RFC 6749 §4.4, §6; Amazon LWA: https://developer-docs.amazon.com/
# sp-api/docs/connecting-to-the-selling-partner-api) ---------------------------------------------
OAUTH = REPORTS.replace(
    'kind = "header"\nname = "x-amz-access-token"',
    'kind = "oauth2"\ngrant = "refresh_token"\ntoken_url = "https://api.amazon.com/auth/o2/token"',
)
CLIENT_SECRET = "client-secret-value-1"
REFRESH = "Atzr|refresh-token-value-1"


def test_oauth2_tokens_from_named_secrets_renewed_once_on_a_401(serve, cli, tmp_path):
    issued: list[str] = []

    def token(seen: Seen) -> Answer:
        form = dict(p.split("=", 1) for p in seen.body.decode().split("&"))
        if form.get("client_secret") != CLIENT_SECRET or form.get("grant_type") != "refresh_token":
            return js({"error": "invalid_client"}, 401)
        issued.append(f"Atza-token-{len(issued) + 1}")
        return js({"access_token": issued[-1], "token_type": "bearer", "expires_in": 3600})

    tokens = serve(token)
    storage = serve(lambda s: (200, {"Content-Type": "text/plain"}, b"report\n"))

    def api(seen: Seen) -> Answer:
        if seen.headers.get("Authorization") in (None, "Bearer Atza-token-1") and issued[1:] == []:
            return js({"errors": [{"code": "Unauthorized"}]}, 401)  # the first token is revoked
        if seen.headers.get("Authorization") != f"Bearer {issued[-1]}":
            return js({"errors": [{"code": "Unauthorized"}]}, 401)
        if seen.method == "POST":
            return js({"reportId": "R1"}, 202)
        if "/documents/" in seen.path:
            return js({"url": f"{storage.url}/doc"})
        return js({"reportId": "R1", "processingStatus": "DONE", "reportDocumentId": "D1"})

    fake = serve(api)
    secrets = f"client_id=amzn1.application-oa2-client.1\nclient_secret={CLIENT_SECRET}\n"
    add = ["accounts", "add", "sp", "--provider", "sp-like", "--base-url", fake.url,
           "--option", f"token_url={tokens.url}/auth/o2/token", "--secret-stdin"]  # fmt: skip
    cli(*add, stdin=secrets, code=2, profile=OAUTH)  # the refresh token is missing
    cli(*add, stdin=secrets + f"refresh_token={REFRESH}\n")
    stored = (tmp_path / "keyring.json").read_text()
    assert CLIENT_SECRET in stored and "Atzr|refresh" in stored  # all three, in the keyring
    cli("submit", "sp")
    cli("watch", "--until-done", "--timeout", "20")
    (listed,) = json.loads(cli("jobs", "--json"))
    assert listed["state"] == "succeeded" and saved(listed) == {"report-R1.tsv": b"report\n"}
    # `submit`: the first token is refused once and renewed; `watch` (another process: tokens
    # live in memory only) gets its own and uses it for every request.
    assert issued == ["Atza-token-1", "Atza-token-2", "Atza-token-3"] and len(tokens.seen) == 3
    used = [s.headers.get("Authorization") for s in fake.seen]
    assert used[:2] == ["Bearer Atza-token-1", "Bearer Atza-token-2"]
    assert len(used) >= 4 and set(used[2:]) == {"Bearer Atza-token-3"}
    for seen in [*fake.seen, *storage.seen]:
        assert CLIENT_SECRET not in str(seen) and "refresh-token" not in str(seen)
    assert all("Authorization" not in s.headers for s in storage.seen)
    assert all(t not in stored for t in issued), "access tokens live in memory only"


def test_a_token_is_renewed_before_it_expires_and_a_401_renews_it_only_once():
    from jobdock.core.net.redaction import Redactor
    from jobdock.core.providers.profiles.oauth import TokenAuth

    now = [0.0]
    issued: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "token.test":
            issued.append(f"tok-{len(issued) + 1}")
            return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 600})
        return httpx.Response(401 if request.url.path == "/denied" else 200)

    transport = httpx.MockTransport(answer)
    auth = TokenAuth(grant="client_credentials", token_url="https://token.test/t", scope="r",
                     secrets={"client_id": "id", "client_secret": "sec"}, redactor=Redactor(),
                     clock=lambda: now[0], transport=transport)  # fmt: skip

    async def go() -> list[str | None]:
        seen: list[str | None] = []
        async with httpx.AsyncClient(auth=auth, transport=transport) as client:
            for at, path in ((0, "/a"), (500, "/a"), (541, "/a"), (542, "/denied")):
                now[0] = at
                response = await client.get(f"https://api.test{path}")
                seen.append(response.request.headers.get("Authorization"))
        return seen

    seen = asyncio.run(go())
    # 600 s tokens are renewed 60 s early; a 401 renews once and is then the answer.
    assert seen == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-3"]
    assert issued == ["tok-1", "tok-2", "tok-3"]
    # The blocking download clients share the token (and renew it the same way).
    with httpx.Client(auth=auth, transport=transport) as client:
        sent = client.get("https://api.test/file").request.headers["Authorization"]
    assert sent == "Bearer tok-3" and len(issued) == 3


# Compressed results: SP-API's getReportDocument says `compressionAlgorithm: GZIP`; other APIs
# serve `.gz` files. Saved decompressed, named without `.gz`; the bytes as served are verified.
GZIPPED = f"""
id = "gz-like"
name = "Compressed exports"
base_url = "http://127.0.0.1:9"
[auth]
kind = "none"
[submit]
method = "POST"
path = "exports"
[fields]
id = "id"
status_url_template = "exports/{{id}}"
state = "state"
[states]
running = "running"
done = "succeeded"
{POLL}
[[results]]
url = "file.url"
checksum = "file.sha256"
checksum_algorithm = "sha256"
decompress = true
[[results]]
url = "doc.url"
compression = "doc.compressionAlgorithm"
filename = "report-{{id}}.tsv"
filename_from_url = false
[[results]]
url = "plain.url"
compression = "plain.compressionAlgorithm"
[[results]]
url = "broken.url"
decompress = true
"""


def test_results_saved_decompressed_after_the_raw_bytes_are_verified(serve, cli):
    import gzip
    import hashlib

    rows = b"id,name\n" + b"1,alpha\n" * 5000
    packed = gzip.compress(rows)
    served = {"/f/export.csv.gz": packed, "/f/doc": gzip.compress(b"sku\tqty\n"),
              "/f/plain.txt": b"not compressed\n", "/f/bad.csv.gz": b"not gzip at all"}  # fmt: skip
    storage = serve(lambda s: (200, {"Content-Type": "application/octet-stream"}, served[s.path]))

    def api(seen: Seen) -> Answer:
        if seen.method == "POST":
            return js({"id": "e1", "state": "running"})
        base = f"{storage.url}/f"
        return js({"id": "e1", "state": "done",
                   "file": {"url": f"{base}/export.csv.gz",
                            "sha256": hashlib.sha256(packed).hexdigest()},
                   "doc": {"url": f"{base}/doc", "compressionAlgorithm": "GZIP"},
                   "plain": {"url": f"{base}/plain.txt", "compressionAlgorithm": "NONE"},
                   "broken": {"url": f"{base}/bad.csv.gz"}})  # fmt: skip

    fake = serve(api)
    cli("accounts", "add", "gz", "--provider", "gz-like", "--base-url", fake.url, profile=GZIPPED)
    cli("submit", "gz")
    cli("watch", "--until-done", "--timeout", "20", code=1)  # bad.csv.gz fails
    (listed,) = json.loads(cli("jobs", "--json"))
    by_state: dict[str, list[dict[str, Any]]] = {}
    for result in listed["results"]:
        by_state.setdefault(result["download_state"], []).append(result)
    files = {Path(r["path"]).name: Path(r["path"]).read_bytes() for r in by_state["done"]}
    assert files == {"export.csv": rows, "report-e1.tsv": b"sku\tqty\n",
                     "plain.txt": b"not compressed\n"}  # fmt: skip
    verified = {Path(r["path"]).name: (r["verified"], r["sha256"]) for r in by_state["done"]}
    assert verified["export.csv"] == ("sha256", hashlib.sha256(packed).hexdigest())
    (failed,) = by_state["failed"]
    assert "cannot be decompressed" in failed["error"]
    folder = Path(by_state["done"][0]["path"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["bad.csv.gz", "export.csv", "plain.txt",
                                                         "report-e1.tsv"]  # fmt: skip
