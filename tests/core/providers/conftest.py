"""Fixtures for the provider unit tests: a harness that runs a provider call against an
`httpx.MockTransport` handler, records every request (with its headers) and closes its clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.providers.base import Provider

Handler = Callable[[httpx.Request], httpx.Response]


class Harness:
    """Runs `fn(session)` with the provider's auth headers on the API client."""

    secret = "SeCrEt-token-0042"

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def run(
        self,
        provider: Provider,
        account: Account,
        handler: Handler,
        fn: Callable[[ApiSession], Awaitable[Any]],
    ) -> Any:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        async def main() -> Any:
            transport = httpx.MockTransport(record)
            headers = provider.auth_headers(account, self.secret)
            api = make_api_client(headers=headers, transport=transport)
            bare = make_bare_client(transport=transport)
            try:
                return await fn(ApiSession(account, api, bare))
            finally:
                await api.aclose()
                await bare.aclose()

        return asyncio.run(main())

    def check_message(self, exc: JobdockError, *, mentions: str) -> str:
        """The error's message is one line, names what failed and never holds the secret."""
        message = str(exc)
        assert message == exc.user_message
        assert "\n" not in message and "\r" not in message
        assert self.secret not in message
        assert mentions in message
        return message


@pytest.fixture
def harness() -> Harness:
    return Harness()
