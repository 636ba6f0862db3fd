"""How the Shoptet provider talks to one account: every request waits for the token's `Quota`
(three connections, the leaky bucket, a 429's Retry-After for the whole account), and add-on
accounts carry a short-lived `Shoptet-Access-Token`.

An add-on account keeps its OAuth access token in the keyring (the account's secret). It is
exchanged at the account's `token_url` (`GET`, `Authorization: Bearer <OAuth token>` →
`{"access_token", "expires_in"}`) for the short-lived token, which lives only in this object's
memory — never in the store, the keyring or a log (the session's redactor learns it) — and is
exchanged again shortly before it expires or when the API answers 401 `expired-token` (the
request is then sent once more).

One `ShoptetLink` per API client (so per account session); `Channel` pairs it with the session
for the functions that read the jobs list and details.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from jobdock.core.model.errors import AuthError, ConfigError, ProtocolError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, parse_json, raise_for_status, safe_url
from jobdock.core.net.inputs import load_json, quoted
from jobdock.core.providers.shoptet.quota import Quota

ACCESS_TOKEN_HEADER = "Shoptet-Access-Token"
EXPIRED_TOKEN = "expired-token"
RENEW_MARGIN = 60.0  # exchange again this long before the short-lived token expires
DEFAULT_TOKEN_TTL = 1800.0
MAX_429_RETRIES = 2  # a 429 is waited out and the request sent again, at most this often ...
MAX_429_WAIT = 5.0  # ... when the wait is this short; otherwise the 429 becomes an error
MAX_CONNECTIONS = 3
DEFAULT_LEAK = 3.0  # drops a second; an account may say otherwise (`bucket_leak` option)

Params = Mapping[str, str] | list[tuple[str, str]] | None


def auth_kind(account: Account) -> str:
    return (account.options.get("auth") or "private").strip().lower()


def token_url(account: Account) -> str:
    url = (account.options.get("token_url") or "").strip()
    if not url.startswith(("https://", "http://")):
        raise ConfigError(
            f"shoptet: add-on account {account.name!r} needs the URL where its OAuth access "
            "token is exchanged: --option token_url=https://<e-shop>/action/ApiOAuthServer/"
            "getAccessToken"
        )
    return url


def leak_rate(account: Account) -> float:
    raw = account.options.get("bucket_leak")
    if raw is None:
        return DEFAULT_LEAK
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"shoptet: option bucket_leak={quoted(raw)} must be a positive number")
    return value


class AddonToken:
    """The short-lived access token of an add-on account, in memory only."""

    def __init__(
        self,
        *,
        oauth_token: str,
        token_url: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oauth = oauth_token
        self._url = token_url
        self._monotonic = monotonic
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.exchanges = 0

    async def get(self, session: ApiSession) -> str:
        if self._token is not None and self._monotonic() < self._renew_at:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one exchange, however many requests wait for it
            if self._token is None or self._monotonic() >= self._renew_at:
                token, ttl = await self._exchange(session)
                session.redactor.add(token)  # from now on masked wherever text is kept
                self._token = token
                self._renew_at = self._monotonic() + max(ttl - RENEW_MARGIN, ttl / 2)
            return self._token

    def expire(self, stale: str) -> None:
        """The API said `stale` expired: the next `get` exchanges again (unless it already did)."""
        if self._token == stale:
            self._token = None

    async def _exchange(self, session: ApiSession) -> tuple[str, float]:
        what = f"shoptet: exchanging the add-on's OAuth access token at {safe_url(self._url)}"
        headers = {"Authorization": f"Bearer {self._oauth}"}
        # No redirects: the bearer token must reach the configured URL and nothing else.
        response = await session.request("GET", self._url, headers=headers, follow_redirects=False)
        self.exchanges += 1
        if response.status_code in (401, 403):
            raise AuthError(
                f"{what}: refused (HTTP {response.status_code}); the add-on may have been "
                "uninstalled or its OAuth access token revoked — add the account again with a "
                "new token",
                status_code=response.status_code,
            )
        raise_for_status(response, what=what)
        data = parse_json(response, what=what)
        inner = data.get("data") if isinstance(data, dict) else None
        source = inner if isinstance(inner, dict) else data
        token = source.get("access_token") if isinstance(source, dict) else None
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"{what}: the answer has no access_token")
        ttl = source.get("expires_in") if isinstance(source, dict) else None
        seconds = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else DEFAULT_TOKEN_TTL
        return token, seconds


class ShoptetLink:
    """One account's quota, add-on token, and detail calls made on unfinished jobs."""

    def __init__(self, *, quota: Quota, addon: AddonToken | None = None) -> None:
        self.quota = quota
        self.addon = addon
        self.details: dict[str, int] = {}  # job id → detail calls while unfinished (this run)

    def details_used(self, remote_id: str, polls: int, budget: int) -> int:
        """Detail calls spent on an unfinished job. At first sight in this run every earlier
        poll is assumed to have been one (the server counts; we may have restarted)."""
        return self.details.setdefault(remote_id, min(polls, budget))

    async def send(
        self,
        session: ApiSession,
        method: str,
        path_or_url: str,
        *,
        params: Params = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send through the quota; renew an expired add-on token once; wait out short 429s."""
        renewed, limited = False, 0
        while True:
            sent = dict(headers or {})
            token = None
            if self.addon is not None:
                token = sent[ACCESS_TOKEN_HEADER] = await self.addon.get(session)
            async with self.quota.slot():
                response = await session.request(
                    method,
                    path_or_url,
                    params=params,
                    content=content,
                    headers=sent or None,
                    follow_redirects=token is None,  # a per-request token must not travel
                )
            self.quota.observe(response.status_code, response.headers)
            if token is not None and not renewed and _is_expired_token(response):
                assert self.addon is not None
                self.addon.expire(token)
                renewed = True
                continue
            if response.status_code == 429 and limited < MAX_429_RETRIES:
                if self.quota.wait_ahead() <= MAX_429_WAIT:
                    limited += 1
                    continue
            return response


@dataclass(frozen=True)
class Channel:
    """A session and its link: what the list and detail readers are handed."""

    link: ShoptetLink
    session: ApiSession

    async def get(self, path_or_url: str, *, params: Params = None) -> httpx.Response:
        return await self.link.send(self.session, "GET", path_or_url, params=params)

    def url(self, path_or_url: str) -> str:
        return self.session.url(path_or_url)


def _is_expired_token(response: httpx.Response) -> bool:
    if response.status_code != 401:
        return False
    try:
        errors = load_json(response.content).get("errors") or []
        return any(isinstance(e, dict) and e.get("errorCode") == EXPIRED_TOKEN for e in errors)
    except (ValueError, AttributeError):
        return False
