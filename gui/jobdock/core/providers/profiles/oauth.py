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

Refresh token rotation (RFC 6749 §6: the server "MAY issue a new refresh token", and the client
"MUST discard the old refresh token"; Salesforce's "Enable Refresh Token Rotation"): a token
answer whose `refresh_token` differs from the one sent makes it the account's from then on. The
redactor learns it at once, before anything else is done with it; the exchange uses it next
time; and `on_rotated({"refresh_token": new})` (the engine: the account's keyring entry, its
other secrets kept) is told, from a worker thread on the async path, from the download thread on
the blocking one. A write that fails leaves the new token in use in memory (the callback says
so). One exchange runs at a time, async or blocking, and one that waited uses the token the
other got: a rotated refresh token is never sent twice.

Several processes share the keyring entry (one worker polls, but a `submit` in another process
exchanges tokens too). With `reload` (the engine: the entry as the keyring holds it now), a
refresh token exchange first reads the entry again and takes what another process wrote there
since this one last saw it; and a refusal `invalid_grant` (the refresh token was rotated by the
other process after this one read it) reads it once more and, when it changed, asks once again
with it before failing. Some servers (Salesforce) revoke the whole chain when an old refresh
token is used again, which is why the entry is read before each exchange, not only after a
refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Mapping

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
LOCK_WAIT = 0.02  # seconds between an async exchange's tries while a download thread exchanges

log = logging.getLogger("jobdock.oauth")


def encode_secrets(values: Mapping[str, str]) -> str:
    """Several named secrets as the one keyring entry of an account."""
    return json.dumps(dict(values), sort_keys=True)


def named_secrets(secret: str, names: tuple[str, ...]) -> dict[str, str] | None:
    """The named secrets `names` from a keyring entry, or None when it does not hold them."""
    try:
        values = json.loads(secret)
    except ValueError:
        return None
    if not isinstance(values, dict) or any(not isinstance(values.get(n), str) for n in names):
        return None
    return {n: values[n] for n in names}


def decode_secrets(secret: str, names: tuple[str, ...], *, provider: str) -> dict[str, str]:
    values = named_secrets(secret, names)
    if values is None:
        raise ConfigError(
            f"{provider}: the account's keyring entry should hold {', '.join(names)}; add the "
            "account again with `--secret-stdin` and one NAME=VALUE line each"
        )
    return values


def _error_answer(response: httpx.Response) -> dict[str, object] | None:
    """A token endpoint's error answer as the JSON object RFC 6749 §5.2 makes it, else None."""
    try:
        data = load_json(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class TokenAuth(httpx.Auth):
    """Access tokens from a token endpoint, for the account's API client (async) and for the
    blocking download clients made from it (sync). `header` and `scheme` say how the token is
    sent: `Authorization: Bearer <token>` by default, `header: <token>` with no scheme.

    `on_rotated(changed)`, when set, is told the secrets a token answer replaced
    (`{"refresh_token": new}`), blocking, never on the event loop; it answers whether they were
    kept (the keyring written). `reload()`, when set, answers the account's keyring entry as it
    is now (None: none); it is called the same way. Both are set before the first request."""

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
        on_rotated: Callable[[Mapping[str, str]], bool] | None = None,
        reload: Callable[[], str | None] | None = None,
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
        self._lock = threading.Lock()  # the token and its renewal time
        # One exchange at a time, whichever thread asks; the secrets change only under it.
        self._exchange = threading.Lock()
        self._queue: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._kept = dict(self._secrets)  # the entry as the keyring held it when last seen
        self._unsaved: str | None = None  # a rotated refresh token not yet told
        self.on_rotated = on_rotated
        self.reload = reload
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
            self._rotate(data.get("refresh_token"))  # even from an answer otherwise unusable
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

    def _rotate(self, new: object) -> None:
        """A new refresh token in a token answer replaces the one sent (RFC 6749 §6)."""
        if self._grant != "refresh_token" or not isinstance(new, str) or not new:
            return
        if new == self._secrets["refresh_token"]:
            return
        self._redactor.add(new)  # first: nothing may show it from here on
        self._secrets["refresh_token"] = new
        self._unsaved = new

    def _save(self) -> None:
        """Tell `on_rotated` of a rotated refresh token (blocking: a worker thread's)."""
        new, self._unsaved = self._unsaved, None
        if new is None or self.on_rotated is None:
            return
        try:
            saved = self.on_rotated({"refresh_token": new})
        except Exception as exc:  # the callback's own failure: the token stays in use here
            log.warning("the rotated refresh token was not kept: %s", type(exc).__name__)
            saved = False
        if saved:
            self._kept = dict(self._secrets)

    def _reread(self) -> bool:
        """Take the account's keyring entry when another process changed it since this one last
        saw it (a refresh token it rotated); True when taken. Blocking."""
        if self.reload is None or self._grant != "refresh_token":
            return False
        try:
            entry = self.reload()
        except Exception as exc:  # the keyring unusable now: go on with what is held
            log.warning("the account's keyring entry was not read again: %s", type(exc).__name__)
            return False
        found = named_secrets(entry, tuple(self._secrets)) if entry else None
        if found is None or found == self._kept:
            return False
        self._redactor.add_all(found.values())
        self._secrets = dict(found)
        self._kept = dict(found)
        return True

    def _stale_grant(self, response: httpx.Response) -> bool:
        """A refusal `invalid_grant` of the refresh token grant, with a keyring to read again."""
        if self.reload is None or self._grant != "refresh_token":
            return False
        if response.status_code not in (400, 401):
            return False
        data = _error_answer(response)
        return data is not None and data.get("error") == "invalid_grant"

    def _oauth_error(self, response: httpx.Response) -> str:
        """`: invalid_grant: expired access/refresh token` from an RFC 6749 §5.2 error answer
        (`error`, `error_description`), redacted and cut short; nothing from any other body."""
        data = _error_answer(response)
        if data is None:
            return ""
        words = [data.get(k) for k in ("error", "error_description")]
        said = ": ".join(w.strip() for w in words if isinstance(w, str) and w.strip())
        return f": {clip_line(self._redactor(said), limit=200)}" if said else ""

    def _sign(self, request: httpx.Request, token: str) -> None:
        request.headers[self._header] = f"{self._scheme} {token}" if self._scheme else token

    def _valid(self) -> str | None:
        with self._lock:
            return self._token if self._token and self._clock() < self._renew_at else None

    def _other(self, stale: str | None) -> str | None:
        """A valid token that is not `stale`: one another exchange got while this one waited."""
        token = self._valid()
        return token if token is not None and token != stale else None

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

    # async: the account's API client -------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        """The exchange lock, for a task on the loop: the loop's tasks queue on an asyncio
        lock, the first tries the thread lock until a download thread's exchange is over."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._queue[0] is not loop:
            self._queue = (loop, asyncio.Lock())
        async with self._queue[1]:
            # A thread lock is not awaitable: tried again and again, only while a download's
            # thread exchanges (rare, and short).
            while not self._exchange.acquire(blocking=False):  # noqa: ASYNC110
                await asyncio.sleep(LOCK_WAIT)
            try:
                yield
            finally:
                self._exchange.release()

    async def _post(self) -> httpx.Response:
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
        return response

    async def _fetch(self, stale: str | None = None) -> str:
        """A token: one another exchange got meanwhile (not `stale`), else a new one."""
        async with self._held():
            token = self._other(stale)
            if token is not None:
                return token
            if self.reload is not None and self._grant == "refresh_token":
                await asyncio.to_thread(self._reread)
            response = await self._post()
            if self._stale_grant(response) and await asyncio.to_thread(self._reread):
                response = await self._post()  # another process had rotated it: once more
            try:
                return self._take(response)
            finally:
                if self._unsaved is not None:
                    await asyncio.to_thread(self._save)

    # blocking: a download's worker thread --------------------------------------------------
    def _post_sync(self) -> httpx.Response:
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
        return response

    def _fetch_sync(self, stale: str | None = None) -> str:
        with self._exchange:
            token = self._other(stale)
            if token is not None:
                return token
            self._reread()
            response = self._post_sync()
            if self._stale_grant(response) and self._reread():
                response = self._post_sync()
            try:
                return self._take(response)
            finally:
                self._save()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._valid() or await self._fetch()
        self._sign(request, token)
        response = yield request
        if response.status_code in self._renew_on:  # revoked or expired early: renew once
            self._sign(request, await self._fetch(stale=token))
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        token = self._valid() or self._fetch_sync()
        self._sign(request, token)
        response = yield request
        if response.status_code in self._renew_on:
            self._sign(request, self._fetch_sync(stale=token))
            yield request
