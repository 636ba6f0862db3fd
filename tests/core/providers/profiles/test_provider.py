"""A submit answer that names no job: the error says the API's own reason when the profile's
`error` paths find one (a GraphQL mutation refused with `userErrors` and `bulkOperation: null`),
and what was missing either way. Progress as a count of a total (`progress_done` of
`progress_total`: Mailchimp's `finished_operations` of `total_operations`)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.providers.base import RemoteStatus
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


def submitted(provider: ProfileProvider, answer: httpx.Response) -> RemoteStatus:
    transport = httpx.MockTransport(lambda request: answer)
    account = Account(name="a", provider=provider.id, base_url="https://us6.api.mailchimp.com")

    async def go() -> RemoteStatus:
        api = make_api_client(headers={}, transport=transport)
        bare = make_bare_client(transport=transport)
        try:
            return await provider.submit(ApiSession(account, api, bare), provider.default_request())
        finally:
            await api.aclose()
            await bare.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("finished", "total", "progress"),
    [
        (3, 8, 37.5),
        (0, 8, 0.0),
        (8, 8, 100.0),
        ("5", "10", 50.0),  # numbers as text read the same
        (0, 0, None),  # an empty batch: no share of nothing
        (9, 8, None),  # more done than there is: not a progress
        ("many", 8, None),
        (None, 8, None),
        (3, None, None),
    ],
)
def test_progress_is_the_share_of_operations_finished(
    finished: object, total: object, progress: float | None
) -> None:
    # https://mailchimp.com/developer/marketing/api/batch-operations/: a batch's
    # `total_operations` and `finished_operations`
    provider = ProfileProvider(bundled_profile("mailchimp-batches"))
    batch: dict[str, object] = {"id": "a1b2c3d4e5", "status": "started"}
    for key, value in (("finished_operations", finished), ("total_operations", total)):
        if value is not None:
            batch[key] = value
    assert submitted(provider, httpx.Response(200, json=batch)).progress == progress
