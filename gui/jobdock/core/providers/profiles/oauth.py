"""OAuth2 token exchange for profiles (`[auth] kind = "oauth2"`): the `client_credentials` and
`refresh_token` grants (RFC 6749 §4.4 and §6; Amazon LWA, Salesforce, HubSpot). The account's
named secrets (client id, client secret, refresh token) are one keyring entry, a JSON object;
the access token lives in memory only, in the `TokenAuth` on the account's API client: it is
fetched before the first request, renewed shortly before its `expires_in`, and renewed once
more when the API answers 401 (or another status of `renew_on`: Amazon SP-API answers 403 to
an expired or revoked LWA token), the request then sent again once. It is sent as
`Authorization: Bearer <token>`, or in the header the profile names (`[auth] name`), raw or
after its `scheme` (Amazon SP-API: the LWA token as
`x-amz-access-token: <token>`). The token endpoint gets the client secret and nothing else, and
is asked with a client that follows no redirect. Its answer is read like any API answer: at
most `MAX_ANSWER_BYTES`, JSON of bounded nesting, the whole exchange within `deadline` seconds
(also on the blocking path, in a download's worker thread).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping

import httpx

from jobdock.core.model.errors import AuthError, ConfigError, NetworkError, ProtocolError
from jobdock.core.net.http import (
    TIMEOUT,
    USER_AGENT,
    read_limited,
    read_limited_sync,
    safe_url,
)
from jobdock.core.net.inputs import MAX_ANSWER_BYTES, clip_line, load_json
from jobdock.core.net.redaction import Redactor

GRANTS = ("client_credentials", "refresh_token")
SECRETS = {
    "client_credentials": ("client_id", "client_secret"),
    "refresh_token": ("client_id", "client_secret", "refresh_token"),
}
EARLY = 60.0  # renew this long before the token expires (or a tenth of a short lifetime)
DEADLINE = 120.0  # seconds a token exchange has, answer included (as an API request has)


def encode_secrets(values: Mapping[str, str]) -> str:
    """Several named secrets as the one keyring entry of an account."""
    return json.dumps(dict(values), sort_keys=True)


def decode_secrets(secret: str, names: tuple[str, ...], *, provider: str) -> dict[str, str]:
    try:
        values = json.loads(secret)
    except ValueError:
        values = None
    if not isinstance(values, dict) or any(not isinstance(values.get(n), str) for n in names):
        raise ConfigError(
            f"{provider}: the account's keyring entry should hold {', '.join(names)}; add the "
            "account again with `--secret-stdin` and one NAME=VALUE line each"
        )
    return {n: values[n] for n in names}


class TokenAuth(httpx.Auth):
    """Access tokens from a token endpoint, for the account's API client (async) and for the
    blocking download clients made from it (sync). `header` and `scheme` say how the token is
    sent: `Authorization: Bearer <token>` by default, `header: <token>` with no scheme."""

    def __init__(
        self,
        *,
        grant: str,
        token_url: str,
        scope: str | None,
        secrets: Mapping[str, str],
        redactor: Redactor,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
        sync_transport: httpx.BaseTransport | None = None,
        header: str = "Authorization",
        scheme: str | None = "Bearer",
        deadline: float = DEADLINE,
        renew_on: tuple[int, ...] = (401,),
    ) -> None:
        self._deadline = deadline
        self._renew_on = frozenset(renew_on)
        self._sync_transport = sync_transport
        self._header = header
        self._scheme = scheme
        self._grant = grant
        self._token_url = token_url
        self._scope = scope
        self._secrets = dict(secrets)
        self._redactor = redactor
        self._clock = clock
        self._transport = transport
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        redactor.add_all(self._secrets.values())

    def _form(self) -> dict[str, str]:
        form = {"grant_type": self._grant, "client_id": self._secrets["client_id"],
                "client_secret": self._secrets["client_secret"]}  # fmt: skip
        if self._grant == "refresh_token":
            form["refresh_token"] = self._secrets["refresh_token"]
        if self._scope:
            form["scope"] = self._scope
        return form

    def _take(self, response: httpx.Response) -> str:
        where = safe_url(self._token_url)
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"the token endpoint {where} refused the account's credentials "
                f"(HTTP {response.status_code}{self._oauth_error(response)}); check the client "
                "id and secret"
                + (" and the refresh token" if self._grant == "refresh_token" else ""),
                status_code=response.status_code,
            )
        if response.status_code != 200:
            raise ProtocolError(f"the token endpoint {where} answered HTTP {response.status_code}")
        try:
            data = load_json(response.content)  # bounded nesting: no RecursionError
            if not isinstance(data, dict):
                raise TypeError
            token, lifetime = data["access_token"], float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ProtocolError(f"the token endpoint {where} gave no access_token") from None
        if not math.isfinite(lifetime):
            raise ProtocolError(f"the token endpoint {where} gave no usable expires_in")
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"the token endpoint {where} gave no access_token")
        self._redactor.add(token)
        with self._lock:
            self._token = token
            self._renew_at = self._clock() + max(lifetime - min(EARLY, lifetime / 10), 0.0)
        return token

    def _oauth_error(self, response: httpx.Response) -> str:
        """`: invalid_grant: expired access/refresh token` from an RFC 6749 §5.2 error answer
        (`error`, `error_description`), redacted and cut short; nothing from any other body."""
        try:
            data = load_json(response.content)
        except ValueError:
            return ""
        if not isinstance(data, dict):
            return ""
        words = [data.get(k) for k in ("error", "error_description")]
        said = ": ".join(w.strip() for w in words if isinstance(w, str) and w.strip())
        return f": {clip_line(self._redactor(said), limit=200)}" if said else ""

    def _sign(self, request: httpx.Request, token: str) -> None:
        request.headers[self._header] = f"{self._scheme} {token}" if self._scheme else token

    def _valid(self) -> str | None:
        with self._lock:
            return self._token if self._token and self._clock() < self._renew_at else None

    def _timeout(self) -> httpx.Timeout:
        """The client's timeouts, none longer than the whole exchange may take."""
        d = self._deadline
        each = {"connect": TIMEOUT.connect, "read": TIMEOUT.read, "write": TIMEOUT.write,
                "pool": TIMEOUT.pool}  # fmt: skip
        return httpx.Timeout(**{k: min(v or d, d) for k, v in each.items()})

    def _late(self) -> NetworkError:
        return NetworkError(f"the token endpoint {safe_url(self._token_url)} sent no complete "
                            f"answer within {self._deadline:g} s")  # fmt: skip

    def _unreachable(self, exc: httpx.HTTPError) -> ProtocolError:
        return ProtocolError(f"cannot get a token from {safe_url(self._token_url)}: "
                             f"{type(exc).__name__}")  # fmt: skip

    async def _fetch(self) -> str:
        try:
            async with (
                asyncio.timeout(self._deadline) as limit,
                httpx.AsyncClient(
                    headers={"User-Agent": USER_AGENT}, timeout=self._timeout(),
                    follow_redirects=False, transport=self._transport,
                ) as client,
                client.stream("POST", self._token_url, data=self._form()) as response,
            ):  # fmt: skip
                await read_limited(response, limit=MAX_ANSWER_BYTES)
        except TimeoutError:
            if not limit.expired():
                raise
            raise self._late() from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        return self._take(response)

    def _fetch_sync(self) -> str:
        started = self._clock()
        try:
            with (
                httpx.Client(
                    headers={"User-Agent": USER_AGENT}, timeout=self._timeout(),
                    follow_redirects=False, transport=self._sync_transport,
                ) as client,
                client.stream("POST", self._token_url, data=self._form()) as response,
            ):  # fmt: skip
                read_limited_sync(response, limit=MAX_ANSWER_BYTES, deadline=self._deadline,
                                  started=started, clock=self._clock)  # fmt: skip
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        return self._take(response)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._sign(request, self._valid() or await self._fetch())
        response = yield request
        if response.status_code in self._renew_on:  # revoked or expired early: renew once
            self._sign(request, await self._fetch())
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        self._sign(request, self._valid() or self._fetch_sync())
        response = yield request
        if response.status_code in self._renew_on:
            self._sign(request, self._fetch_sync())
            yield request
