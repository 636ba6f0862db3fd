"""Provider profiles: loading (bundled, the user's directory, `--profile`), every check of
`profiles check` with its line number, runtime state mapping, XML answers, the auth kinds (query
credentials only ever on the account's origin), and a new API described only by a profile written
here, followed end to end through the CLI against a small local HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import keyring.core
import pytest

from jobdock.cli.main import main
from jobdock.cli.profiles import check
from jobdock.core.model.errors import ConfigError, ProtocolError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.providers import builtin_ids, builtin_providers, with_profiles
from jobdock.core.providers.profiles.load import (
    bundled_files,
    bundled_profiles,
    key_lines,
    load_profiles,
    parse_profile,
)
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.schema import ProfileError
from tests.conftest import REPO_ROOT
from tests.support import file_keyring

SECRET = "s3cr3t-profile-token"
MINIMAL = """\
id = "mini"
name = "Mini API"
base_url = "https://mini.test/api"

[auth]
kind = "bearer"

[fields]
id = "job.id"
status_url_template = "jobs/{id}"
state = "job.state"

[states]
waiting = "queued"
done = "succeeded"
broken = "failed"
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_provider(
    provider: ProfileProvider,
    handler: Callable[[httpx.Request], httpx.Response],
    fn: Callable[[ApiSession], Awaitable[Any]],
    *,
    account: Account,
    sent: list[httpx.Request] | None = None,
) -> Any:
    """`fn(session)` on clients built the way the engine builds them (auth params included)."""

    def record(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        return handler(request)

    async def go() -> Any:
        transport = httpx.MockTransport(record)
        api = make_api_client(headers=provider.auth_headers(account, SECRET), transport=transport)
        bare = make_bare_client(transport=transport)
        query = tuple(provider.auth_params(account, SECRET).items())
        try:
            return await fn(ApiSession(account, api, bare, auth_params=query))
        finally:
            await api.aclose()
            await bare.aclose()

    return asyncio.run(go())


# loading ------------------------------------------------------------------------------------
def test_bundled_profiles_are_the_vainu_and_testo_providers_and_the_vendor_profiles():
    bundled = ["amazon-sp-reports", "databricks-sql", "google-lro", "hubspot-exports",
               "mailchimp-batches", "meta-insights", "salesforce-bulk-query", "shopify-bulk",
               "stripe-reports", "testo", "uniprot-idmapping", "vainu"]  # fmt: skip
    assert sorted(p.id for p in bundled_profiles()) == bundled
    registry = builtin_providers()
    assert all(isinstance(registry[profile_id], ProfileProvider) for profile_id in bundled)


def test_user_dir_and_command_line_profiles(tmp_path: Path):
    user = tmp_path / "profiles"
    user.mkdir()
    write(user, MINIMAL, "a.toml")
    write(user, "id = 'broken'\n", "b.toml")  # invalid: skipped, not fatal
    assert [p.id for p in load_profiles(reserved=builtin_ids(), user_dir=user)] == ["mini"]
    renamed = write(tmp_path, MINIMAL.replace('name = "Mini API"', 'name = "Mine"'))
    (profile,) = load_profiles([renamed], reserved=builtin_ids(), user_dir=user)
    assert profile.name == "Mine"  # the command line wins
    with pytest.raises(ProfileError, match=r"bad\.toml:1: name: missing"):
        load_profiles(
            [write(tmp_path, "id = 'x'\n", "bad.toml")], reserved=builtin_ids(), user_dir=user
        )
    registry = with_profiles([profile])
    assert registry["mini"].display_name == "Mine" and "vainu" in registry


def test_a_profile_may_not_take_a_builtin_id(tmp_path: Path):
    taken = write(tmp_path, MINIMAL.replace('"mini"', '"vainu"'))
    with pytest.raises(ProfileError, match=r"p\.toml:1: id: 'vainu' is a built-in"):
        load_profiles([taken], reserved=builtin_ids(), include_user=False)


def test_key_lines_scans_tables_arrays_and_quoted_keys():
    text = 'a = 1\n[t]\n"x y" = 2\nb.c = 3\n[[r]]\nu = """\nk = 9\n"""\n[[r]]\nu = 1\n'
    lines = key_lines(text)
    assert lines == {"a": 1, "t": 2, "t.x y": 3, "t.b.c": 4, "r[0]": 5, "r[0].u": 6, "r[1]": 9,
                     "r[1].u": 10}  # fmt: skip


# checks -------------------------------------------------------------------------------------
CHECKS = [
    # (replace this, with that, expected "line: key: message" start)
    ('base_url = "https://mini.test/api"', 'base_url = "https://mini.test/api"\ncolour = 1',
     "4: colour: unknown key"),
    ('state = "job.state"', 'state = "job.state"\nstat = "x"', "12: fields.stat: unknown key"),
    ('name = "Mini API"\n', "", "1: name: missing"),
    ('state = "job.state"\n', "", "8: fields.state: missing"),
    ('state = "job.state"', 'state = "job..state"', "11: fields.state: path 'job..state': bad"),
    ('id = "job.id"', 'id = "job.items[x]"', "9: fields.id: path 'job.items[x]': bad step"),
    ('done = "succeeded"\n', "", "13: states: no raw state maps to 'succeeded'"),
    ('broken = "failed"', 'broken = "kaputt"', "16: states.broken: expected one of queued"),
    ('kind = "bearer"', 'kind = "header"', "5: auth.name: missing: kind = 'header' needs"),
    ('kind = "bearer"', 'kind = "oauth"', "6: auth.kind: expected one of header, bearer"),
    ('status_url_template = "jobs/{id}"', 'status_url_template = "jobs/{uuid}"',
     "10: fields.status_url_template: unknown placeholder {uuid}"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl = "a"\nttl = 5\nexpiry = "soon"',
     "20: results[0].expiry: expected one of presigned-url"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\nmin = 10\nmax = 5', "18: poll.min: min (10)"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl = "a"\nchecksum = "s"',
     "17: results[0]: give checksum and checksum_algorithm together"),
    ('broken = "failed"',
     'broken = "failed"\n[[results]]\nurl = "a"\nchecksum = "s"\nchecksum_algorithm = "sha3"',
     "20: results[0].checksum_algorithm: expected one of sha256"),
    ('id = "mini"', 'id = "mini', "1: (syntax): not valid TOML"),
    ('name = "Mini API"', 'name = "Mini API"\ninitial_state = "waiting"',
     "3: initial_state: expected one of queued"),
    ('name = "Mini API"', 'name = "Mini API"\nabsent_state = 1', "3: absent_state: expected one"),
    ('state = "job.state"', 'state = []', "11: fields.state: expected a path or a non-empty list"),
    ('state = "job.state"', 'state = ["job.state", "job..s"]', "11: fields.state: path 'job..s'"),
    ('state = "job.state"', 'state = "present:header:X"', "11: fields.state: path 'present:"),
    ('state = "job.state"', 'state = "http:code"', "11: fields.state: path 'http:code': the only"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl = "a"\nurl_template = "{id}/r"',
     "17: results[0]: give one of url (a path) and url_template"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl_template = "{job}/r"',
     "18: results[0].url_template: unknown placeholder {job}"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl = "u"\nfetch = "d/{answer.a..b}"',
     "19: results[0].fetch: path 'a..b': bad step"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl_template = "x"\nfetch = "d"',
     "17: results[0]: fetch needs url"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\nmethod = "FETCH"',
     "18: poll.method: expected one of GET"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\nfollow_redirects = "no"',
     "18: poll.follow_redirects: expected true or false"),
    ('kind = "bearer"', 'kind = "none"\nname = "x"', "7: auth.name: not used with kind = 'none'"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "password"',
     "7: auth.grant: expected one of client_credentials, refresh_token"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"',
     "5: auth.token_url: missing: kind = 'oauth2' needs it"),
    ('kind = "bearer"', 'kind = "bearer"\ntoken_url = "https://t.test/token"',
     "7: auth.token_url: not used with kind = 'bearer'"),
    ('kind = "bearer"', 'kind = "bearer"\nscheme = "Token"',
     "7: auth.scheme: not used with kind = 'bearer' (only with oauth2)"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "https://t.test/token"\nrenew_on = [200]',
     "9: auth.renew_on: expected a non-empty array of 4xx statuses ([401, 403])"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "https://t.test/token"\nrenew_on = 403',
     "9: auth.renew_on: expected a non-empty array of 4xx statuses"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "{origin}services/oauth2/token"',
     "8: auth.token_url: expected {origin} then a path (/services/oauth2/token)"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "https://{instance}.my.salesforce.com/services/oauth2/token"',
     "8: auth.token_url: expected an http:// or https:// URL, or one starting {origin}"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "{origin}/t/{id}"', "8: auth.token_url: expected {origin} then a path"),
    ('state = "job.state"', 'state = "job.state"\nprogress_done = "done"',
     "8: fields: give progress_done and progress_total together"),
    ('state = "job.state"', 'state = "job.state"\nprogress = "p"\nprogress_done = "d"\n'
     'progress_total = "t"', "8: fields: give progress (a percent) or progress_done and"),
    ('state = "job.state"', 'state = "job.state"\nprogress_done = "d"\nprogress_total = "t..x"',
     "13: fields.progress_total: path 't..x': bad"),
    ('kind = "bearer"', 'kind = "bearer"\nrenew_on = [403]',
     "7: auth.renew_on: not used with kind = 'bearer' (only with oauth2)"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "https://t.test/token"\nname = "Content-Type"',
     "9: auth.name: 'Content-Type' cannot carry the token"),
    ('kind = "bearer"', 'kind = "oauth2"\ngrant = "client_credentials"\n'
     'token_url = "https://t.test/token"\nscheme = "Bearer token"',
     "9: auth.scheme: expected a header or parameter name without spaces"),
    ('name = "Mini API"', 'name = "Mini API"\nresult_hosts = ["https://f.test/x"]',
     "3: result_hosts: expected a host name (files.example.com) or an origin"),
    # TOML's nan and inf are floats: no time, factor or JSON body may be one
    ('broken = "failed"', 'broken = "failed"\n[poll]\nmin = nan', "18: poll.min: expected a posi"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\nmax = inf', "18: poll.max: expected a posi"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\ndeadline = inf',
     "18: poll.deadline: expected a positive number of seconds"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\ndeadline = 1e300',
     "18: poll.deadline: expected a positive number of seconds (at most"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\nfactor = nan',
     "18: poll.factor: expected a number from 1 to"),
    ('broken = "failed"', 'broken = "failed"\n[poll]\nfactor = 1e10',
     "18: poll.factor: expected a number from 1 to"),
    ('broken = "failed"', 'broken = "failed"\n[[results]]\nurl = "a"\nttl = nan',
     "19: results[0].ttl: expected a positive number of seconds"),
    ('broken = "failed"', 'broken = "failed"\n[submit]\nmethod = "POST"\nbody = { n = nan }',
     "19: submit.body: expected JSON values (nan and inf"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), CHECKS, ids=[c[2] for c in CHECKS])
def test_profiles_check_names_file_line_and_key(tmp_path, capsys, old, new, expected):
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new))
    assert main(["profiles", "check", str(path)], stdout=io.StringIO()) == 2
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"{path}:{expected}") for line in lines), lines


def test_profiles_check_and_list(tmp_path, capsys, monkeypatch):
    good = write(tmp_path, MINIMAL)
    out = io.StringIO()
    assert main(["profiles", "check", str(good)], stdout=out) == 0
    assert "ok (profile mini: Mini API)" in out.getvalue()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    out = io.StringIO()
    assert main(["--profile", str(good), "profiles", "list", "--json"], stdout=out) == 0
    rows = {r["id"]: r for r in json.loads(out.getvalue())}
    assert rows["vainu"]["kind"] == "bundled profile" and rows["shoptet"]["kind"] == "built-in"
    assert rows["mini"]["kind"] == "command line profile" and rows["mini"]["valid"]


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_the_loader_refuses_a_poll_timing_that_is_not_finite(tmp_path: Path, value: str):
    path = write(tmp_path, MINIMAL + f"\n[poll]\nmin = 2\nmax = {value}\n")
    with pytest.raises(ProfileError, match=r"p\.toml:20: poll\.max: expected a positive number"):
        load_profiles([path], reserved=builtin_ids(), include_user=False)


def test_a_bad_profile_option_is_a_usage_error(tmp_path, capsys):
    bad = write(tmp_path, "id = 'x'\n")
    assert main(["--profile", str(bad), "jobs"], stdout=io.StringIO()) == 2
    assert f"{bad}:1: name: missing" in capsys.readouterr().err


# runtime ------------------------------------------------------------------------------------
ACCOUNT = Account(name="m", provider="mini", base_url="https://mini.test/api")


def poll_answer(
    provider: ProfileProvider, response: httpx.Response, account: Account = ACCOUNT, **job: Any
):
    job = Job(id="1", account="m", provider=provider.id, remote_id="7", **job)
    return run_provider(
        provider, lambda r: response, lambda s: provider.poll(s, job), account=account
    )


XML_JOB = {"status_url": "https://xml.test/jobs/j-9"}


def test_unmapped_state_is_a_protocol_error_naming_it():
    provider = ProfileProvider(parse_profile(MINIMAL, source="mini.toml"))
    answer = httpx.Response(200, json={"job": {"id": "7", "state": "Hibernating"}})
    with pytest.raises(ProtocolError, match="unknown job state 'Hibernating'") as info:
        poll_answer(provider, answer)
    assert "mini: polling job 7" in str(info.value)
    done = poll_answer(provider, httpx.Response(200, json={"job": {"id": "7", "state": "DONE"}}))
    assert (done.state, done.status_url) == (JobState.SUCCEEDED, "https://mini.test/api/jobs/7")


XML_PROFILE = """\
id = "xml-api"
name = "XML API"
base_url = "https://xml.test"
answers = "xml"
[auth]
kind = "basic"
[fields]
id = "job.@id"
status_url = "job.link"
state = "job.status"
progress = "job.percent"
finished = "job.finished"
error = "job.errors.error[0]"
[states]
Running = "running"
Completed = "succeeded"
Failed = "failed"
[[results]]
url = "job.output.file"
ttl = 600
needs_auth = true
"""


def test_xml_answers_with_element_paths():
    provider = ProfileProvider(parse_profile(XML_PROFILE, source="xml.toml"))
    account = Account(name="x", provider="xml-api", base_url="https://xml.test", user="me")
    body = """<?xml version="1.0"?>
<r:result xmlns:r="urn:r"><r:job id="j-9"><r:link>/jobs/j-9</r:link><r:status>Completed</r:status>
<r:percent>100</r:percent><r:finished>2026-01-02T03:04:05Z</r:finished>
<r:output><r:file>/out/a.csv</r:file><r:file>https://cdn.test/b.csv</r:file></r:output>
</r:job></r:result>"""
    status = poll_answer(provider, httpx.Response(200, text=body), account, **XML_JOB)
    assert (status.state, status.remote_id, status.progress) == (JobState.SUCCEEDED, "j-9", 100)
    assert status.status_url == "https://xml.test/jobs/j-9"
    assert status.finished_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [r.url for r in status.results] == [
        "https://xml.test/out/a.csv",
        "https://cdn.test/b.csv",
    ]
    assert [r.filename_hint for r in status.results] == ["a.csv", "b.csv"]
    assert all(r.needs_auth for r in status.results)
    soon = datetime.now(UTC) + timedelta(seconds=600)
    assert all(r.expires_at and abs((r.expires_at - soon).total_seconds()) < 60
               for r in status.results)  # fmt: skip
    failed = '<job id="j-9"><status>Failed</status><errors><error>disk full</error></errors></job>'
    wrapped = f"<result>{failed}</result>"
    status = poll_answer(provider, httpx.Response(200, text=wrapped), account, **XML_JOB)
    assert (status.state, status.error) == (JobState.FAILED, "disk full")
    with pytest.raises(ProtocolError, match="expected XML"):
        poll_answer(provider, httpx.Response(200, json={"job": 1}), account, **XML_JOB)


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        ('kind = "header"\nname = "X-Key"', {"X-Key": SECRET}),
        ('kind = "bearer"', {"Authorization": f"Bearer {SECRET}"}),
        ('kind = "basic"', {"Authorization": "Basic bWU6czNjcjN0LXByb2ZpbGUtdG9rZW4="}),
        ('kind = "query"\nname = "api_key"', {}),
    ],
)
def test_auth_kinds(auth, headers):
    provider = ProfileProvider(parse_profile(MINIMAL.replace('kind = "bearer"', auth), source="a"))
    account = Account(name="m", provider="mini", base_url="https://mini.test/api", user="me")
    assert provider.auth_headers(account, SECRET) == headers
    query = {"api_key": SECRET} if "query" in auth else {}
    assert provider.auth_params(account, SECRET) == query


def test_query_credentials_only_go_to_the_account_origin():
    text = MINIMAL.replace('kind = "bearer"', 'kind = "query"\nname = "api_key"')
    text = text.replace('state = "job.state"', 'state = "job.state"\nstatus_url = "job.link"')
    text += '[[results]]\nurl = "job.files"\n'
    provider = ProfileProvider(parse_profile(text, source="q.toml"))
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mini.test" and request.method == "POST":
            return httpx.Response(307, headers={"Location": "https://other.test/submit"})
        if request.url.host == "other.test":
            job = {"id": "7", "state": "waiting", "link": "https://other.test/jobs/7"}
            return httpx.Response(200, json={"job": job})
        files = ["#part", "?x=1", "https://cdn.test/f.csv"]  # relative ones resolve on the origin
        return httpx.Response(200, json={"job": {"id": "7", "state": "done", "files": files}})

    async def flow(session: ApiSession) -> Any:
        submitted = await provider.submit(session, SubmitRequest(method="POST", path="jobs"))
        assert submitted.status_url == "https://other.test/jobs/7"
        job = Job(id="1", account="m", provider="mini", status_url="https://mini.test/api/jobs/7")
        return await provider.poll(session, job)

    done = run_provider(provider, handler, flow, account=ACCOUNT, sent=sent)
    assert [r.url for r in done.results] == [
        "https://mini.test/api/jobs/7#part",
        "https://mini.test/api/jobs/7?x=1",
        "https://cdn.test/f.csv",
    ]
    on_origin = [r for r in sent if r.url.host == "mini.test"]
    assert on_origin and all(r.url.params.get("api_key") == SECRET for r in on_origin)
    elsewhere = [r for r in sent if r.url.host != "mini.test"]
    assert elsewhere and all(SECRET not in str(r.url) for r in elsewhere)


def test_query_auth_refuses_an_engine_that_does_not_pass_auth_params():
    text = MINIMAL.replace('kind = "bearer"', 'kind = "query"\nname = "api_key"')
    provider = ProfileProvider(parse_profile(text, source="q.toml"))

    async def go() -> None:
        async with make_api_client(headers={}) as api, make_bare_client() as bare:
            with pytest.raises(ConfigError, match="auth_params"):
                await provider.poll(ApiSession(ACCOUNT, api, bare), Job(id="1", account="m",
                                    provider="mini", remote_id="7"))  # fmt: skip

    asyncio.run(go())


def test_engine_carries_query_credentials_to_the_account_origin_only(tmp_path: Path) -> None:
    from jobdock.core.engine.engine import Engine
    from jobdock.core.model.paths import AppPaths
    from jobdock.core.store.credentials import MemoryCredentialStore
    from jobdock.core.store.jobs import JobStore

    text = MINIMAL.replace('kind = "bearer"', 'kind = "query"\nname = "api_key"')
    text += '[[results]]\nurl = "job.file"\n'
    provider = ProfileProvider(parse_profile(text, source="q.toml"))
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.host == "cdn.test":  # a stream: a `content=` answer counts as read
            return httpx.Response(200, stream=httpx.ByteStream(b"data"))
        if request.method == "POST":
            return httpx.Response(200, json={"job": {"id": "7", "state": "waiting"}})
        job = {"id": "7", "state": "done", "file": "https://cdn.test/f.csv"}
        return httpx.Response(200, json={"job": job})

    async def go() -> None:
        paths = AppPaths(data_dir=tmp_path / "d", default_download_dir=tmp_path / "dl").ensure()
        store = JobStore.open(paths.store_file)
        engine = Engine(
            store=store, credentials=MemoryCredentialStore(), paths=paths,
            providers={"mini": provider}, transport=httpx.MockTransport(handler),
        )  # fmt: skip
        try:
            account = Account(name="m", provider="mini", base_url="https://mini.test/api")
            await engine.add_account(account, SECRET)
            job = await engine.submit("m", SubmitRequest(method="POST", path="jobs"))
            await engine.refresh(job.id)
            saved = await engine.transfers.download(job.id)
            assert saved.results[0].download_state.value == "done", saved.results[0].error
        finally:
            await engine.aclose()
            store.close()

    asyncio.run(go())
    on_origin = [r for r in sent if r.url.host == "mini.test"]
    assert len(on_origin) == 2 and all(r.url.params["api_key"] == SECRET for r in on_origin)
    assert [str(r.url) for r in sent if r.url.host == "cdn.test"] == ["https://cdn.test/f.csv"]


# a new API, end to end through the CLI --------------------------------------------------------
NEW_API = """\
# The "reports" API: POST a report request, poll its ticket, fetch its files with the token.
id = "reports"
name = "Reports API"
base_url = "http://127.0.0.1:9/"
secret_label = "Token"
job_noun = "report"
id_noun = "ticket"

[auth]
kind = "header"
name = "X-Token"

[submit]
method = "POST"
path = "v1/reports"
body = { kind = "sales", since = "{now-7d}" }

[fields]
id = "report.ticket"
status_url = "report.links.self"
state = "report.phase"
progress = "report.progress"
error = "report.problem"
log = "report.notes"

[states]
WAITING = "queued"
crunching = "running"
DONE = "succeeded"
BROKEN = "failed"

[poll]
first_delay = 0.05
min = 0.05
max = 0.2

[[results]]
url = "report.files"
expires_at = "report.expires"
needs_auth = true
checksum = "sha256"  # in each link object that has one
checksum_algorithm = "sha256"
"""


class _ReportsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    polls: dict[str, int] = {}  # noqa: RUF012 (replaced per server)
    bodies: list[bytes] = []  # noqa: RUF012
    stated_of: Callable[[bytes], bytes] = staticmethod(lambda body: body)  # what x.json's is of

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _report(self, ticket: str) -> dict[str, Any]:
        count = self.polls.get(ticket, 0)
        phase = ["WAITING", "crunching", "DONE"][min(count, 2)]
        report: dict[str, Any] = {"ticket": ticket, "phase": phase, "progress": 50 * min(count, 2),
                                  "links": {"self": f"/v1/reports/{ticket}"}}  # fmt: skip
        if phase == "DONE":
            expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            digest = hashlib.sha256(self.stated_of(b"content of x.json\n")).hexdigest()
            files = [f"/files/{ticket}/sales.csv", {"url": f"/files/{ticket}/x.json",
                                                    "sha256": digest}]  # fmt: skip
            report |= {"files": files, "expires": expires, "notes": ["counted 3 rows"]}
        return {"report": report}

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("X-Token") != SECRET:
            return self._send(401, b'{"message": "bad token"}')
        self.polls["r-1"] = 0
        self._send(201, json.dumps(self._report("r-1")).encode())

    def do_GET(self) -> None:
        if self.headers.get("X-Token") != SECRET:
            return self._send(401, b'{"message": "bad token"}')
        if self.path.startswith("/files/"):
            name = self.path.rsplit("/", 1)[-1]
            return self._send(200, f"content of {name}\n".encode(), "text/plain")
        ticket = self.path.rstrip("/").rsplit("/", 1)[-1]
        self.polls[ticket] = self.polls.get(ticket, 0) + 1
        self._send(200, json.dumps(self._report(ticket)).encode())


@pytest.fixture
def reports_api() -> Iterator[tuple[str, type[_ReportsHandler]]]:
    handler = type("Handler", (_ReportsHandler,), {"polls": {}, "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_new_api_from_a_profile_alone(tmp_path, monkeypatch, reports_api):
    base_url, handler = reports_api
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(file_keyring.FILE_VARIABLE, str(tmp_path / "keyring.json"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", file_keyring.FileKeyring())
    profile = write(tmp_path, NEW_API, "reports.toml")
    data = ["--data-dir", str(tmp_path / "data")]

    def cli(*args: str, stdin: str = "") -> str:
        out = io.StringIO()
        code = main([*data, *args], stdin=io.StringIO(stdin), stdout=out)
        assert code == 0, (args, out.getvalue())
        assert SECRET not in out.getvalue()
        return out.getvalue()

    add = ["accounts", "add", "rep", "--provider", "reports", "--base-url", base_url]
    cli("--profile", str(profile), *add, "--secret-stdin", stdin=SECRET + "\n")
    job = json.loads(cli("--profile", str(profile), "submit", "rep", "--json"))
    assert (job["provider"], job["remote_id"], job["state"]) == ("reports", "r-1", "queued")
    assert job["status_url"] == f"{base_url}/v1/reports/r-1"
    # From here the profile comes from the user's profile directory.
    (tmp_path / "config/jobdock/profiles").mkdir(parents=True)
    profile.rename(tmp_path / "config/jobdock/profiles/reports.toml")
    cli("watch", "--until-done", "--timeout", "20")
    (listed,) = json.loads(cli("jobs", "--json"))
    assert (listed["state"], listed["remote_state"], listed["progress"]) == ("succeeded", "DONE",
                                                                             100)  # fmt: skip
    files = {Path(r["path"]).name: Path(r["path"]).read_text() for r in listed["results"]}
    assert files == {"sales.csv": "content of sales.csv\n", "x.json": "content of x.json\n"}
    assert all(r["download_state"] == "done" and r["expires_at"] for r in listed["results"])
    # x.json's link object gives its sha256; sales.csv's bare link gives none.
    verified = {Path(r["path"]).name: r["verified"] for r in listed["results"]}
    assert verified == {"sales.csv": "size", "x.json": "sha256"}
    sent = json.loads(handler.bodies[0])
    since = datetime.fromisoformat(sent["since"].replace("Z", "+00:00"))
    assert sent["kind"] == "sales" and abs(datetime.now(UTC) - since - timedelta(days=7)).days == 0


def test_a_file_that_differs_from_the_job_answers_checksum_is_refused(
    tmp_path, monkeypatch, reports_api
):
    base_url, handler = reports_api
    handler.stated_of = staticmethod(lambda body: body + b"!")  # the answer names other bytes
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(file_keyring.FILE_VARIABLE, str(tmp_path / "keyring.json"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", file_keyring.FileKeyring())
    profile = ["--profile", str(write(tmp_path, NEW_API, "reports.toml"))]
    data = ["--data-dir", str(tmp_path / "data")]

    def cli(*args: str, stdin: str = "", code: int = 0) -> str:
        out = io.StringIO()
        assert main([*data, *profile, *args], stdin=io.StringIO(stdin), stdout=out) == code
        return out.getvalue()

    add = ["accounts", "add", "rep", "--provider", "reports", "--base-url", base_url]
    cli(*add, "--secret-stdin", stdin=SECRET + "\n")
    cli("submit", "rep")
    cli("watch", "--until-done", "--timeout", "20", code=1)
    (listed,) = json.loads(cli("jobs", "--json"))
    by_state = {r["download_state"]: r for r in listed["results"]}
    assert set(by_state) == {"done", "failed"}
    assert Path(by_state["done"]["path"]).name == "sales.csv"
    refused = by_state["failed"]
    assert "checksum mismatch" in refused["error"] and "job answer" in refused["error"]
    assert refused["path"] is None and refused["verified"] is None
    folder = Path(by_state["done"]["path"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["sales.csv"], "no x.json, no .part"


def test_every_bundled_profile_passes_profiles_check_and_has_its_page():
    folder = REPO_ROOT / "gui/jobdock/core/providers/profiles/bundled"
    files = sorted(folder.glob("*.toml"))
    assert [f.name for f in files] == sorted(bundled_files())
    out, err = io.StringIO(), io.StringIO()
    assert check([str(f) for f in files], out=out, err=err) == 0, err.getvalue()
    assert out.getvalue().count(": ok (profile ") == len(files)
    listed = (REPO_ROOT / "docs/profiles.md").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    for profile in bundled_profiles():
        if profile.id in ("vainu", "testo"):  # documented in docs/profiles.md itself
            continue
        assert (REPO_ROOT / f"docs/profiles/{profile.id}.md").is_file(), profile.id
        assert f"[`{profile.id}`](profiles/{profile.id}.md)" in listed, profile.id
        assert f"[`{profile.id}`](docs/profiles/{profile.id}.md)" in readme, profile.id


def test_profiles_check_still_refuses_a_bundled_id_in_another_file(tmp_path: Path):
    text = (REPO_ROOT / "gui/jobdock/core/providers/profiles/bundled/vainu.toml").read_text()
    copy = tmp_path / "vainu.toml"
    copy.write_text(text.replace('name = "Vainu"', 'name = "Mine"'))
    err = io.StringIO()
    assert check([str(copy)], out=io.StringIO(), err=err) == 2
    assert "'vainu' is a built-in provider's id" in err.getvalue()
