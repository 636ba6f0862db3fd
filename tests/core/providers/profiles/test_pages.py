"""Paged results (`[results.pages]`): the next page named by a response header (Salesforce Bulk
API 2.0's `Sforce-Locator`, the literal `null` at the end), by an RFC 8288 `Link` header's
`rel="next"` (GitHub, UniProt) or by a field of the page's body (Meta's `paging.next`, a full
URL; Databricks' `next_chunk_internal_link`, a path on the host), one result a page with
numbered names; the chain walked on httpx.MockTransport, credentials only on the account's
origin and its declared result hosts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from jobdock.core.model.errors import NotFoundError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.providers.base import RemoteStatus
from jobdock.core.providers.profiles.load import parse_profile
from jobdock.core.providers.profiles.oauth import TokenAuth
from jobdock.core.providers.profiles.paths import link_target
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.schema import ProfileError

TOKEN = "00D-page-token"
HEAD = """
id = "{id}"
name = "Paged"
base_url = "https://api.test"
[auth]
kind = "{auth}"
{auth_name}
[submit]
method = "POST"
path = "{path}"
[fields]
id = "id"
status_url_template = "{path}/{{id}}"
state = "state"
[states]
UploadComplete = "queued"
JobComplete = "succeeded"
"""


def profile(results: str, *, auth: str = "bearer", path: str = "jobs", **kw: str) -> str:
    name = 'name = "access_token"' if auth == "query" else ""
    head = HEAD.format(id=kw.get("id", "paged"), auth=auth, auth_name=name, path=path)
    return head + results


# https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_job_results.htm
SALESFORCE = profile(
    """
[[results]]
url_template = "services/data/v62.0/jobs/query/{id}/results?maxRecords=2"
needs_auth = true
filename = "results.csv"
[results.pages]
next = "header:Sforce-Locator"
next_query = "locator"
end_value = "null"
""",
    path="services/data/v62.0/jobs/query",
)


Route = Callable[[httpx.Request], httpx.Response]


def submit(text: str, route: Route, *, result_origins: tuple[str, ...] = (), auth: str = "bearer",
           oauth: bool = False) -> tuple[RemoteStatus, list[httpx.Request]]:  # fmt: skip
    """The submit answer's status (its job already done), and every request sent. `oauth`: the
    API client's token comes from an OAuth2 token endpoint (`OAUTH_TOKEN` from login.test),
    as an `oauth2` profile's does, instead of the account's secret."""
    provider = ProfileProvider(parse_profile(text, source="pages.toml"))
    account = Account(name="a", provider=provider.id, base_url="https://api.test")
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return route(request)

    async def go() -> RemoteStatus:
        transport = httpx.MockTransport(answer)
        headers = {} if oauth else provider.auth_headers(account, TOKEN)
        api = make_api_client(headers=headers, transport=transport)
        bare = make_bare_client(transport=transport)
        params = tuple(provider.auth_params(account, TOKEN).items())
        session = ApiSession(account, api, bare, auth_params=params,
                             result_origins=result_origins)  # fmt: skip
        if oauth:
            api.auth = TokenAuth(grant="client_credentials", token_url="https://login.test/token",
                                 scope=None, secrets={"client_id": "c", "client_secret": TOKEN},
                                 redactor=session.redactor, transport=transport)  # fmt: skip
        try:
            return await provider.submit(session, provider.default_request())
        finally:
            await api.aclose()
            await bare.aclose()

    return asyncio.run(go()), sent


def done(job_id: str = "750R0000000zxr8IAA") -> httpx.Response:
    return httpx.Response(200, json={"id": job_id, "state": "JobComplete"})


def test_a_locator_header_chain_gives_one_numbered_result_a_page():
    locators = {None: "MTAwMDA", "MTAwMDA": "MjAwMDA", "MjAwMDA": "null"}

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done()
        query = parse_qs(request.url.query.decode())
        locator = query.get("locator", [None])[0]
        assert query["maxRecords"] == ["2"]  # kept on every page
        return httpx.Response(200, text=f"page {locator}\n",
                              headers={"Sforce-Locator": locators[locator]})  # fmt: skip

    status, sent = submit(SALESFORCE, route)
    base = "https://api.test/services/data/v62.0/jobs/query/750R0000000zxr8IAA/results"
    assert [(r.url, r.filename_hint, r.needs_auth) for r in status.results] == [
        (f"{base}?maxRecords=2", "results-001.csv", True),
        (f"{base}?maxRecords=2&locator=MTAwMDA", "results-002.csv", True),
        (f"{base}?maxRecords=2&locator=MjAwMDA", "results-003.csv", True),
    ]
    assert [r.headers["Authorization"] for r in sent] == [f"Bearer {TOKEN}"] * 4


def test_a_header_chain_reads_no_page_body():
    bodies_read: list[str] = []

    class Body(httpx.AsyncByteStream):
        def __init__(self, name: str) -> None:
            self.name = name

        async def __aiter__(self):  # type: ignore[override]
            bodies_read.append(self.name)
            yield b"x" * 1024

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done()
        last = "locator" in request.url.query.decode()
        headers = {"Sforce-Locator": "null" if last else "L2"}
        return httpx.Response(200, headers=headers, stream=Body(str(request.url)))

    status, _ = submit(SALESFORCE, route)
    assert len(status.results) == 2
    assert bodies_read == []


# https://developers.facebook.com/docs/graph-api/results: `paging.next` is the next page's URL,
# absent on the last page.
META_RESULTS = """
[[results]]
url_template = "{id}/insights?limit=2"
needs_auth = true
filename = "insights-{id}-{page}.json"
[results.pages]
next = "paging.next"
"""
META = profile(META_RESULTS, auth="query")
OAUTH_TOKEN = "oauth-access-token-1"


def test_a_next_url_in_the_body_and_the_echoed_query_credential_is_dropped():
    def route(request: httpx.Request) -> httpx.Response:
        assert parse_qs(request.url.query.decode())["access_token"] == [TOKEN]  # once, on origin
        if request.method == "POST":
            return done("6023")
        after = parse_qs(request.url.query.decode()).get("after", ["0"])[0]
        paging: dict[str, Any] = {"cursors": {"after": str(int(after) + 1)}}
        if after != "2":  # Meta echoes the token it was asked with into `next`
            paging["next"] = (f"https://api.test/6023/insights?access_token={TOKEN}&limit=2"
                              f"&after={int(after) + 1}")  # fmt: skip
        return httpx.Response(200, json={"data": [{"n": after}], "paging": paging})

    status, sent = submit(META, route, auth="query")
    assert [(r.url, r.filename_hint) for r in status.results] == [
        ("https://api.test/6023/insights?limit=2", "insights-6023-001.json"),
        ("https://api.test/6023/insights?limit=2&after=1", "insights-6023-002.json"),
        ("https://api.test/6023/insights?limit=2&after=2", "insights-6023-003.json"),
    ]
    assert all(TOKEN not in r.url for r in status.results)
    assert len(sent) == 4


def presented(request: httpx.Request) -> str | None:
    """The token a request presented, in its query or as `Authorization: Bearer`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return request.url.params.get("access_token") or (token if scheme == "Bearer" else None)


def insights(last: int, *, elsewhere: int | None = None) -> Route:
    """Meta's insights pages 0..`last`, each `paging.next` echoing the token the request
    presented, however it came (page `elsewhere` on cdn.test); OAuth2 tokens from login.test."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "login.test":
            return httpx.Response(200, json={"access_token": OAUTH_TOKEN, "expires_in": 3600})
        if request.method == "POST":
            return done("6023")
        after = int(request.url.params.get("after", "0"))
        paging: dict[str, Any] = {"cursors": {"after": str(after + 1)}}
        if after < last:
            host = "cdn.test" if after + 1 == elsewhere else "api.test"
            echoed = f"access_token={presented(request)}&" if presented(request) else ""
            paging["next"] = f"https://{host}/6023/insights?{echoed}limit=2&after={after + 1}"
        return httpx.Response(200, json={"data": [{"n": after}], "paging": paging})

    return route


@pytest.mark.parametrize("oauth", [False, True], ids=["bearer", "oauth2"])
def test_a_header_token_echoed_into_next_is_dropped_and_never_sent_elsewhere(oauth: bool):
    token = OAUTH_TOKEN if oauth else TOKEN
    status, sent = submit(profile(META_RESULTS), insights(3, elsewhere=3), oauth=oauth)
    assert [r.url for r in status.results] == [
        "https://api.test/6023/insights?limit=2",
        "https://api.test/6023/insights?limit=2&after=1",
        "https://api.test/6023/insights?limit=2&after=2",
        "https://cdn.test/6023/insights?limit=2&after=3",
    ]  # as Jobdock stores, shows and downloads them: no token
    home = [r for r in sent if r.url.host == "api.test"]
    assert len(home) == 4 and all(r.headers["Authorization"] == f"Bearer {token}" for r in home)
    assert all("access_token" not in r.url.params for r in home)  # the header authenticates
    (elsewhere,) = [r for r in sent if r.url.host == "cdn.test"]
    assert "authorization" not in elsewhere.headers and token not in str(elsewhere.url)
    logins = [r for r in sent if r.url.host == "login.test"]
    assert len(logins) == oauth and all(TOKEN.encode() in r.content for r in logins)


# https://docs.databricks.com/api/statement-execution/v1/get-result-data: each chunk names the
# next by `next_chunk_internal_link`, a path to join with the workspace's host.
DATABRICKS = profile(
    """
[[results]]
url_template = "api/2.0/sql/statements/{id}/result/chunks/0"
needs_auth = true
filename = "chunk.json"
[results.pages]
next = ["next_chunk_internal_link", "result.next_chunk_internal_link"]
max_pages = 5
""",
    path="api/2.0/sql/statements",
)


def chunks(last: int, *, elsewhere: int | None = None) -> Route:
    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done("01ef")
        index = int(request.url.path.rsplit("/", 1)[1])
        chunk: dict[str, Any] = {"chunk_index": index, "data_array": [[str(index)]]}
        if index < last:
            host = "https://cdn.test" if index + 1 == elsewhere else ""
            chunk["next_chunk_internal_link"] = (
                f"{host}/api/2.0/sql/statements/01ef/result/chunks/{index + 1}"
            )
        return httpx.Response(200, json=chunk)

    return route


def test_a_next_path_relative_to_the_host_and_a_page_elsewhere_gets_no_credentials():
    status, sent = submit(DATABRICKS, chunks(3, elsewhere=2))
    assert [(r.url, r.filename_hint) for r in status.results] == [
        ("https://api.test/api/2.0/sql/statements/01ef/result/chunks/0", "chunk-001.json"),
        ("https://api.test/api/2.0/sql/statements/01ef/result/chunks/1", "chunk-002.json"),
        ("https://cdn.test/api/2.0/sql/statements/01ef/result/chunks/2", "chunk-003.json"),
        ("https://cdn.test/api/2.0/sql/statements/01ef/result/chunks/3", "chunk-004.json"),
    ]  # a path is relative to the page that named it
    auth = [(r.url.host, r.headers.get("Authorization")) for r in sent]
    assert auth == [("api.test", f"Bearer {TOKEN}")] * 3 + [("cdn.test", None)] * 2
    # A host the account names as a result host gets them
    _, sent = submit(DATABRICKS, chunks(3, elsewhere=2), result_origins=("https://cdn.test",))
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in sent)


def test_a_chain_that_loops_or_runs_past_max_pages_is_an_error_on_the_job():
    def loop(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done("01ef")
        return httpx.Response(200, json={"next_chunk_internal_link": request.url.path})

    status, _ = submit(DATABRICKS, loop)  # a submit that cannot be read still records the job
    assert "names page 1 as the next" in (status.log or "")
    status, sent = submit(DATABRICKS, chunks(10))
    assert "more than 5 pages (max_pages)" in (status.log or "")
    assert len(sent) == 1 + 5


def test_a_page_that_fails_fails_the_listing_as_its_status_says():
    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done()
        if "locator" in request.url.query.decode():
            return httpx.Response(404, json=[{"errorCode": "NOT_FOUND", "message": "gone"}])
        return httpx.Response(200, text="a\n", headers={"Sforce-Locator": "L2"})

    with pytest.raises(NotFoundError, match=r"locator=L2: not found \(HTTP 404\): .*gone"):
        submit(SALESFORCE, route)  # as a poll: the job fails, naming the page


def test_a_thousand_pages_and_more_are_numbered_wider():
    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done()
        n = int(parse_qs(request.url.query.decode()).get("locator", ["1"])[0])
        return httpx.Response(200, headers={"Sforce-Locator": str(n + 1) if n < 1000 else "null"})

    text = SALESFORCE.replace('end_value = "null"', 'end_value = "null"\nmax_pages = 1000')
    status, _ = submit(text.replace("max_pages = 1000", "max_pages = 1001"), route)
    names = [r.filename_hint for r in status.results]
    assert (len(names), names[0], names[-1]) == (1000, "results-0001.csv", "results-1000.csv")


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        ('nxt = "a"', "results[0].pages.nxt: unknown key"),
        ('next_query = "locator"', "results[0].pages.next: missing: this key is required"),
        ('next = "http:status"', "expected a `header:Name` or a body path"),
        ('next = "header:"', "`header:` must be followed by a header name"),
        ("next = 1", "results[0].pages.next: expected a string"),
        ("next = []", "results[0].pages.next: expected a path or a non-empty list"),
        ('next = "a"\nnext_query = "a b"', "results[0].pages.next_query: expected a header"),
        ('next = "a"\nmax_pages = 0', "expected a whole number from 1 to 10000"),
        ('next = "a"\nend_value = ""', "results[0].pages.end_value: expected a non-empty"),
    ],
)
def test_a_pages_table_is_checked(pages: str, message: str):
    text = profile(f'[[results]]\nurl = "link"\n[results.pages]\n{pages}\n')
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, source="p.toml")
    found = [f"{p.key}: {p.message}" for p in caught.value.problems]
    assert any(message in f for f in found), found
    lines = text.splitlines()
    assert all(p.line and p.line > lines.index("[results.pages]") for p in caught.value.problems)


def test_pages_need_no_checksum_and_page_numbers_need_pages():
    text = profile('[[results]]\nurl = "l"\nchecksum = "c"\nchecksum_algorithm = "md5"\n'
                   '[results.pages]\nnext = "n"\n')  # fmt: skip
    with pytest.raises(ProfileError, match="not with checksum"):
        parse_profile(text, source="p.toml")
    with pytest.raises(ProfileError, match=r"\{page\} needs a \[results.pages\] table"):
        parse_profile(profile('[[results]]\nurl = "l"\nfilename = "r-{page}"\n'), source="p")


def test_without_a_filename_the_url_name_is_numbered():
    text = SALESFORCE.replace('filename = "results.csv"\n', "")

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done()
        last = "locator" in request.url.query.decode()
        return httpx.Response(200, headers={"Sforce-Locator": "null" if last else "L"})

    status, _ = submit(text, route)
    assert [r.filename_hint for r in status.results] == ["results-001", "results-002"]
    assert json.dumps([r.url for r in status.results])  # plain strings


def test_the_url_options_of_an_account_are_checked_when_it_is_added():
    from jobdock.core.model.errors import UsageError

    oauth = SALESFORCE.replace(
        'kind = "bearer"',
        'kind = "oauth2"\ngrant = "client_credentials"\ntoken_url = "https://login.test/token"',
    )
    provider = ProfileProvider(parse_profile(oauth, source="p.toml"))

    def account(**options: str) -> Account:
        return Account(name="a", provider="paged", base_url="https://api.test", options=options)

    provider.check_account(account(token_url="https://test.salesforce.test/services/oauth2/token",
                                   result_hosts="files.test, http://127.0.0.1:8080"))  # fmt: skip
    for options, said in [
        ({"token_url": "login.test/token"}, "is not an absolute URL"),
        ({"token_url": "http://h:99999/t"}, "a bad port"),
        ({"token_url": "https://user:pw@login.test/t"}, "with credentials in it"),
        ({"result_hosts": "files.test/x"}, "--option result_hosts: expected a host name"),
    ]:
        with pytest.raises(UsageError, match=said):
            provider.check_account(account(**options))
    bearer = ProfileProvider(parse_profile(SALESFORCE, source="p.toml"))
    with pytest.raises(UsageError, match=r"has no token endpoint .*'bearer'"):
        bearer.check_account(account(token_url="https://login.test/token"))


# Pages that list the result's links (Databricks EXTERNAL_LINKS,
# https://docs.databricks.com/api/statement-execution/v1/get-statement-result and
# https://docs.databricks.com/api/statement-execution/v1/get-result-data): the statement's answer
# holds the first chunk's `result.external_links`, each chunk answer `external_links`; each link
# names its pre-signed `external_link`, its `expiration` and the next chunk's internal link.
EXTERNAL = profile(
    """
[[results]]
url_template = "{status_url}"
filename = "statement-{id}-{page}.{answer.manifest.format}"
[results.pages]
next = ["result.external_links[-1].next_chunk_internal_link",
        "external_links[-1].next_chunk_internal_link"]
links = ["result.external_links", "external_links"]
link_url = "external_link"
link_expires_at = "expiration"
""",
    path="api/2.0/sql/statements",
)


def external(chunks: int, *, expiration: str = "2026-11-23T10:15:00Z") -> Route:
    def link(index: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "chunk_index": index,
            "external_link": f"https://bucket.s3.test/r/chunk_{index}?X-Amz-Signature=s{index}",
            "expiration": expiration,
        }
        if index + 1 < chunks:
            item["next_chunk_index"] = index + 1
            item["next_chunk_internal_link"] = (
                f"/api/2.0/sql/statements/01ef/result/chunks/{index + 1}"
            )
        return item

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"id": "01ef", "state": "JobComplete",
                                             "manifest": {"format": "CSV"},
                                             "result": {"external_links": [link(0)]}})  # fmt: skip
        if request.url.path == "/api/2.0/sql/statements/01ef":  # the first page: the statement
            return route(httpx.Request("POST", request.url))
        index = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={"external_links": [link(index)]})

    return route


def test_pages_that_list_links_give_one_result_a_link_with_its_own_expiry():
    status, sent = submit(EXTERNAL, external(3))
    assert [(r.url, r.filename_hint, r.needs_auth) for r in status.results] == [
        (f"https://bucket.s3.test/r/chunk_{i}?X-Amz-Signature=s{i}",
         f"statement-01ef-00{i + 1}.csv", False)
        for i in range(3)
    ]  # fmt: skip
    assert {r.expires_at.isoformat() for r in status.results if r.expires_at} == {
        "2026-11-23T10:15:00+00:00"
    }
    assert len(status.results) == 3
    # the statement, then chunks 1 and 2 on the account's host, with the token; the links
    # themselves (on the storage) are not asked for while the list is built
    assert [(r.url.path, r.headers["Authorization"]) for r in sent[1:]] == [
        ("/api/2.0/sql/statements/01ef", f"Bearer {TOKEN}"),
        ("/api/2.0/sql/statements/01ef/result/chunks/1", f"Bearer {TOKEN}"),
        ("/api/2.0/sql/statements/01ef/result/chunks/2", f"Bearer {TOKEN}"),
    ]


def test_a_page_that_lists_no_links_gives_no_result_and_links_may_be_plain_urls():
    def empty(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "01ef", "state": "JobComplete",
                                         "manifest": {"format": "CSV"}, "result": {}})  # fmt: skip

    status, _ = submit(EXTERNAL, empty)
    assert status.results == () and status.log is None
    plain = profile('[[results]]\nurl_template = "{id}/files"\n'
                    '[results.pages]\nnext = "next"\nlinks = "files"\n')  # fmt: skip

    def files(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done("j1")
        if request.url.path == "/j1/files":
            return httpx.Response(200, json={"files": ["a.csv", "https://cdn.test/b.csv"],
                                             "next": "/j1/files/2"})  # fmt: skip
        return httpx.Response(200, json={"files": [{"url": "c.csv"}]})

    status, _ = submit(plain, files)
    assert [(r.url, r.filename_hint) for r in status.results] == [
        ("https://api.test/j1/a.csv", "a-001.csv"),  # relative to the page that listed it
        ("https://cdn.test/b.csv", "b-002.csv"),
        ("https://api.test/j1/files/c.csv", "c-003.csv"),
    ]  # without a filename, each link is named from its own URL, numbered


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('link_url = "external_link"', "results[0].pages.link_url: needs links"),
        ('link_expires_at = "expiration"', "results[0].pages.link_expires_at: needs links"),
        ('links = "header:Link"', "results[0].pages.links: expected a path into the body"),
        ('links = "l"\nlink_url = "present:u"', "pages.link_url: expected a path into the body"),
    ],
)
def test_link_keys_of_a_pages_table_are_checked(extra: str, message: str):
    text = profile(f'[[results]]\nurl = "link"\n[results.pages]\nnext = "n"\n{extra}\n')
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, source="p.toml")
    found = [f"{p.key}: {p.message}" for p in caught.value.problems]
    assert any(message in f for f in found), found


def test_pages_that_list_links_take_their_expiry_from_each_link_and_answer_names_are_checked():
    text = profile('[[results]]\nurl = "link"\nexpires_at = "e"\n[results.pages]\nnext = "n"\n'
                   'links = "l"\n')  # fmt: skip
    with pytest.raises(ProfileError, match=r"results\[0\]\.expires_at: not with pages that list"):
        parse_profile(text, source="p.toml")
    bad = profile('[[results]]\nurl = "link"\nfilename = "r-{answer.a[x]}.csv"\n')
    with pytest.raises(ProfileError, match=r"unknown placeholder \{answer.a\[x\]\}"):
        parse_profile(bad, source="p.toml")
    parse_profile(profile('[[results]]\nurl = "l"\nfilename = "r-{answer.m.format}"\n'), source="p")


# RFC 8288 `Link` headers: GitHub's REST API (https://docs.github.com/en/rest/using-the-rest-api/
# using-pagination-in-the-rest-api) and UniProt's (https://www.uniprot.org/help/pagination) name
# the next page as the link with `rel="next"`, and leave it out on the last page.
GITHUB = profile(
    """
[[results]]
url_template = "{id}/items?per_page=2"
needs_auth = true
filename = "items.json"
[results.pages]
next = "link:next"
"""
)


def test_a_link_header_chain_follows_rel_next_and_reads_no_page_body():
    bodies_read: list[str] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[override]
            bodies_read.append("read")
            yield b"[]"

    links = {
        "1": '<https://api.test/750R0000000zxr8IAA/items?per_page=2&page=2>; rel="next", '
             '<https://api.test/750R0000000zxr8IAA/items?per_page=2&page=3>; rel="last"',
        "2": '<https://api.test/750R0000000zxr8IAA/items?per_page=2&page=1>; rel="prev first", '
             '</750R0000000zxr8IAA/items?per_page=2&page=3>; title="next, then; rel=last"; '
             "REL=Next",  # relative to the page, a quoted comma, any case
        "3": '<https://api.test/750R0000000zxr8IAA/items?per_page=2&page=2>; rel="prev"',
    }  # fmt: skip

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return done()
        page = parse_qs(request.url.query.decode()).get("page", ["1"])[0]
        return httpx.Response(200, headers={"Link": links[page]}, stream=Body())

    status, sent = submit(GITHUB, route)
    base = "https://api.test/750R0000000zxr8IAA/items?per_page=2"
    assert [(r.url, r.filename_hint) for r in status.results] == [
        (base, "items-001.json"),
        (f"{base}&page=2", "items-002.json"),
        (f"{base}&page=3", "items-003.json"),
    ]
    assert bodies_read == [] and len(sent) == 4


@pytest.mark.parametrize(
    ("values", "rel", "target"),
    [
        (['<a>; rel="next"'], "next", "a"),
        (['<a>; rel="prev", <b>; rel="next"'], "next", "b"),
        (["<a>; rel=prev", "<b>; rel=next"], "next", "b"),  # two header lines
        (['<a>; rel="prev next"'], "next", "a"),  # a list of relations
        (['<a,b>; title="x, <c>; rel=next"; rel="last"'], "next", None),  # a quoted title
        (['<a>; rel="last"; rel="next"'], "next", None),  # only the first rel counts
        (['<a>; rel="nextpage"'], "next", None),
        (["<a>"], "next", None),
        (["garbage; rel=next"], "next", None),
        ([], "next", None),
    ],
)
def test_link_header_targets(values: list[str], rel: str, target: str | None):
    assert link_target(values, rel) == target


def test_a_link_path_is_checked():
    text = profile('[[results]]\nurl = "link"\n[results.pages]\nnext = "link:Next page"\n')
    with pytest.raises(ProfileError, match="`link:` must be followed by a relation type"):
        parse_profile(text, source="p.toml")


# https://www.uniprot.org/help/id_mapping_prog: the results are at the status answer's Location,
# which names no `format` or `size`; the entry's `query` adds them, keeping the URL's own query
UNIPROT_LIKE = profile(
    """
[[results]]
url = "header:Location"
query = { format = "tsv", size = "500", fields = "accession,gene_names" }
filename = "mapping.tsv"
[results.pages]
next = "link:next"
""",
    auth="none",
)


def test_a_results_query_is_merged_into_the_link_it_lacks_and_never_replaces_its_own():
    location = "https://api.test/idmapping/uniprotkb/results/27a0?fields=accession%2Cid"
    cursor = "https://api.test/idmapping/uniprotkb/results/27a0?cursor=1x&size=500&format=tsv"

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"id": "27a0", "state": "JobComplete"},
                                  headers={"Location": location})  # fmt: skip
        if "cursor" in request.url.params:
            return httpx.Response(200, text="From\tEntry\n")  # the last page: no Link
        return httpx.Response(
            200, text="From\tEntry\n", headers={"Link": f'<{cursor}>; rel="next"'}
        )

    status, sent = submit(UNIPROT_LIKE, route)
    first = f"{location}&format=tsv&size=500"  # its own `fields` kept as it is, the others added
    assert [(r.url, r.filename_hint) for r in status.results] == [
        (first, "mapping-001.tsv"),
        (cursor, "mapping-002.tsv"),  # a next page is as the API names it
    ]
    assert [str(r.url) for r in sent[1:]] == [first, cursor]


def test_a_results_query_on_a_link_without_a_query_and_one_that_has_every_parameter():
    from jobdock.core.providers.profiles.provider import _merged_query

    assert (
        _merged_query("https://a.test/r/1", (("format", "tsv"),)) == "https://a.test/r/1?format=tsv"
    )
    own = "https://a.test/r/1?size=10&format=json#top"
    assert _merged_query(own, (("format", "tsv"), ("size", "500"))) == own
    assert _merged_query(own, ()) == own


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('query = "size=500"', "results[0].query: expected a table of name = value"),
        ("query = { size = [500] }", "results[0].query: query parameter 'size': expected a"),
    ],
)
def test_a_results_query_is_checked(query: str, message: str):
    text = profile(f'[[results]]\nurl = "link"\n{query}\n')
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, source="p.toml")
    found = [f"{p.key}: {p.message}" for p in caught.value.problems]
    assert any(message in f for f in found), found
