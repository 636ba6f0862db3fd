"""A submit answer that names no job: the error says the API's own reason when the profile's
`error` paths find one (a GraphQL mutation refused with `userErrors` and `bulkOperation: null`),
and what was missing either way."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.providers.profiles.load import bundled_profile, parse_profile
from jobdock.core.providers.profiles.provider import ProfileProvider

# https://shopify.dev/docs/api/usage/bulk-operations/queries: a query without a connection
ERROR = {"field": ["query"], "message": "Bulk queries must contain at least one connection."}
REFUSED = {"data": {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [ERROR]}}}


def submit(provider: ProfileProvider, answer: httpx.Response) -> ProtocolError:
    transport = httpx.MockTransport(lambda request: answer)
    account = Account(name="a", provider=provider.id, base_url="https://shop.test")

    async def go() -> ProtocolError:
        api = make_api_client(headers={"X-Shopify-Access-Token": "t0ken"}, transport=transport)
        bare = make_bare_client(transport=transport)
        try:
            with pytest.raises(ProtocolError) as raised:
                await provider.submit(ApiSession(account, api, bare), provider.default_request())
            return raised.value
        finally:
            await api.aclose()
            await bare.aclose()

    return asyncio.run(go())


def test_an_id_less_submit_answer_says_the_apis_reason() -> None:
    provider = ProfileProvider(bundled_profile("shopify-bulk"))
    error = submit(provider, httpx.Response(200, json=REFUSED))
    assert "Bulk queries must contain at least one connection." in error.user_message
    assert "the answer has no `data.bulkOperationRunQuery.bulkOperation.id`" in error.user_message


def test_an_id_less_answer_without_a_reason_says_what_is_missing() -> None:
    provider = ProfileProvider(bundled_profile("shopify-bulk"))
    empty = {"data": {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": []}}}
    error = submit(provider, httpx.Response(200, json=empty))
    assert error.user_message.endswith(
        "the answer has no `data.bulkOperationRunQuery.bulkOperation.id` or `data.node.id`"
    )


def test_an_unreadable_id_less_answer_keeps_its_reason_and_adds_the_apis() -> None:
    text = """
id = "x"
name = "X"
base_url = "https://shop.test"
[auth]
kind = "none"
[fields]
id = "job.id"
status_url_template = "jobs/{id}"
state = "job.state"
error = "problem.detail"
[states]
done = "succeeded"
"""
    provider = ProfileProvider(parse_profile(text, source="x.toml"))
    body = {"job": {"state": "Refused"}, "problem": {"detail": "quota of 3 exports reached"}}
    error = submit(provider, httpx.Response(200, content=json.dumps(body).encode()))
    assert "unknown job state 'Refused'" in error.user_message
    assert error.user_message.endswith(": quota of 3 exports reached")
