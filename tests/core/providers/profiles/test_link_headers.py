"""Headers a result link's GET must send (`link_headers`: Databricks' `http_headers`, "typically
used to pass a decryption key", whose values "should not be exposed in a log"): read from each
link's object, learnt by the redactor, kept in memory only. On httpx.MockTransport."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from jobdock.core.engine.rules import merge_results
from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import Account, Job, Result
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers.base import RemoteStatus, ResultLink
from jobdock.core.providers.profiles.load import parse_profile
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.schema import ProfileError
from jobdock.core.store.jobs import result_from_json, result_to_json

TOKEN = "dapi-link-headers-token"
KEY = "x-amz-server-side-encryption-customer-key"
SECRET_KEY = "q83vEjRWeJ6Q9n1uQc9Zr5Gk3xWm0f3a2b1c0d9e8f7="
HEAD = """
id = "{id}"
name = "Headers"
base_url = "https://api.test"
[auth]
kind = "bearer"
[submit]
method = "POST"
path = "api/2.0/sql/statements"
[fields]
id = "statement_id"
status_url_template = "api/2.0/sql/statements/{{id}}"
state = "status.state"
error = ["status.error.message", "errors[0].message", "messages[0]"]
[states]
PENDING = "queued"
SUCCEEDED = "succeeded"
FAILED = "failed"
ERROR = "failed"
CANCELED = "cancelled"
"""
# https://docs.databricks.com/api/statement-execution/v1/get-statement-result: each
# `external_links` item may carry `http_headers`
EXTERNAL = """
[[results]]
url_template = "{status_url}"
filename = "chunk-{page}.csv"
[results.pages]
next = ["result.external_links[-1].next_chunk_internal_link",
        "external_links[-1].next_chunk_internal_link"]
links = ["result.external_links", "external_links"]
link_url = "external_link"
link_expires_at = "expiration"
link_headers = "http_headers"
"""

Route = Callable[[httpx.Request], httpx.Response]


def _provider(results: str = EXTERNAL, *, poll: str = "", pid: str = "headers") -> ProfileProvider:
    text = HEAD.format(id=pid) + (f"[poll]\n{poll}\n" if poll else "") + results
    return ProfileProvider(parse_profile(text, source="headers.toml"))


def _poll(
    provider: ProfileProvider, route: Route, redactor: Redactor | None = None
) -> tuple[RemoteStatus, list[httpx.Request]]:
    account = Account(name="a", provider=provider.id, base_url="https://api.test")
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return route(request)

    async def go() -> RemoteStatus:
        transport = httpx.MockTransport(answer)
        api = make_api_client(headers=provider.auth_headers(account, TOKEN), transport=transport)
        bare = make_bare_client(transport=transport)
        session = ApiSession(account, api, bare, redactor=redactor or Redactor())
        job = Job(id="j1", account="a", provider=provider.id, remote_id="01ef",
                  status_url="https://api.test/api/2.0/sql/statements/01ef")  # fmt: skip
        try:
            return await provider.poll(session, job)
        finally:
            await api.aclose()
            await bare.aclose()

    return asyncio.run(go()), sent


def _link(index: int, chunks: int, headers: dict[str, Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "chunk_index": index,
        "external_link": f"https://bucket.s3.test/r/chunk_{index}?X-Amz-Signature=s{index}",
        "expiration": "2026-11-23T10:15:00Z",
    }
    if headers is not None:
        item["http_headers"] = headers
    if index + 1 < chunks:
        item["next_chunk_internal_link"] = f"/api/2.0/sql/statements/01ef/result/chunks/{index + 1}"
    return item


def _statement(chunks: int, headers: Callable[[int], dict[str, Any] | None]) -> Route:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/2.0/sql/statements/01ef":
            first = {"external_links": [_link(0, chunks, headers(0))]}
            done = {"statement_id": "01ef", "status": {"state": "SUCCEEDED"}, "result": first}
            return httpx.Response(200, json=done)
        index = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={"external_links": [_link(index, chunks, headers(index))]})

    return route


def _sse_c(index: int) -> dict[str, Any] | None:
    if index % 2 == 0:
        return None
    return {"x-amz-server-side-encryption-customer-algorithm": "AES256", KEY: SECRET_KEY}


def test_each_links_headers_are_read_from_its_object_and_the_redactor_learns_them():
    redactor = Redactor()
    status, sent = _poll(_provider(), _statement(3, _sse_c), redactor)
    assert [(r.url.rsplit("/", 1)[-1], r.headers) for r in status.results] == [
        ("chunk_0?X-Amz-Signature=s0", ()),
        ("chunk_1?X-Amz-Signature=s1",
         (("x-amz-server-side-encryption-customer-algorithm", "AES256"), (KEY, SECRET_KEY))),
        ("chunk_2?X-Amz-Signature=s2", ()),
    ]  # fmt: skip
    # a decryption key, like a credential: masked in everything kept or shown, the stored
    # answer included (the statement's answer listing it is the job's `last_response`)
    assert SECRET_KEY not in redactor(f"the answer was {status.raw} and {sent[-1].content!r}")
    assert redactor(SECRET_KEY) == Redactor.MASK
    assert all(KEY not in r.headers for r in sent)  # the listing's requests do not send them


def test_a_links_headers_are_kept_in_memory_and_only_their_names_are_stored():
    link = ResultLink(url="https://bucket.s3.test/c1", headers=((KEY, SECRET_KEY),))
    (result,) = merge_results((), (link,))
    assert (result.link_headers, result.link_header_names) == (((KEY, SECRET_KEY),), (KEY,))
    stored = result_to_json(result)
    assert SECRET_KEY not in repr(stored) and stored["link_header_names"] == [KEY]
    loaded = result_from_json(stored)
    assert loaded.link_header_names == (KEY,) and loaded.link_headers == ()
    assert loaded.link_headers_missing  # fetched only after a fresh link gives them again
    (fresh,) = merge_results((loaded,), (dataclasses.replace(link, url=link.url + "?s=2"),))
    assert fresh.link_headers == ((KEY, SECRET_KEY),) and not fresh.link_headers_missing
    # rows stored before link headers existed still load, needing none
    old = {k: v for k, v in result_to_json(Result(url="https://x.test/a")).items()}
    assert "link_header_names" not in old
    assert not result_from_json(old).link_headers_missing


def test_one_links_headers_in_the_answer():
    single = """
[[results]]
url = "result.download.url"
link_headers = "result.download.headers"
"""

    def route(request: httpx.Request) -> httpx.Response:
        download = {"url": "https://files.test/r.csv", "headers": {"X-Decrypt": SECRET_KEY}}
        return httpx.Response(200, json={"status": {"state": "SUCCEEDED"},
                                         "result": {"download": download}})  # fmt: skip

    status, _ = _poll(_provider(single), route)
    assert [(r.url, r.headers) for r in status.results] == [
        ("https://files.test/r.csv", (("X-Decrypt", SECRET_KEY),))
    ]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Host": "evil.test"}, "header 'Host' is one Jobdock sets itself"),
        ({"Range": "bytes=0-1"}, "header 'Range' is one Jobdock sets itself"),
        ({"X-Key": "a\r\nInjected: 1"}, "header 'X-Key' has a value that cannot be sent"),
        ({"X-Key": 12}, "header 'X-Key' has a value that is not a string"),
        ({"bad name": "v"}, "header 'bad name' is not a header name"),
        (["X-Key: v"], "its headers are not an object of name: value"),
    ],
)
def test_headers_that_cannot_be_sent_are_an_error_on_the_job(headers: Any, message: str):
    with pytest.raises(ProtocolError, match=message):
        _poll(_provider(), _statement(2, lambda i: headers if i == 1 else None))


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ('[[results]]\nurl = "u"\n[results.pages]\nnext = "n"\nlink_headers = "h"\n',
         "results[0].pages.link_headers: needs links"),
        ('[[results]]\nurl = "u"\n[results.pages]\nnext = "n"\nlinks = "l"\n'
         'link_headers = "header:X"\n', "results[0].pages.link_headers: expected a path"),
        ('[[results]]\nurl = "u"\nlink_headers = "h"\n[results.pages]\nnext = "n"\n',
         "results[0].link_headers: not with pages"),
        ('[[results]]\nurl = "u"\nlink_headers = "present:h"\n',
         "results[0].link_headers: expected a path into the body"),
    ],
)  # fmt: skip
def test_link_headers_keys_are_checked(results: str, message: str):
    with pytest.raises(ProfileError) as caught:
        _provider(results)
    found = [f"{p.key}: {p.message}" for p in caught.value.problems]
    assert any(message in f for f in found), found
