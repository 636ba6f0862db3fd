"""Refresh token rotation (RFC 6749 §6; Salesforce's "Enable Refresh Token Rotation"): a token
answer with a new `refresh_token` makes it the one sent next time, on the async path and on the
blocking one (a download's thread); `on_rotated` is told it (the engine writes the keyring), the
redactor knows it at once, and one exchange runs at a time so that no refresh token is sent
twice. A keyring write that fails leaves the new token in use; a refresh token another process
rotated is read again (`reload`) before an exchange, and once more on `invalid_grant`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping

import httpx
import pytest

from jobdock.core.model.errors import AuthError, ProtocolError
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers.profiles.oauth import TokenAuth, encode_secrets

URL = "https://api.test/jobs/1"
FIRST = "5Aep861-refresh-0"
NAMED = {"client_id": "cid-rot", "client_secret": "csecret-rot", "refresh_token": FIRST}


class Endpoint:
    """A token endpoint with rotation on: each grant answers a new refresh token and the one
    sent stops working (400 invalid_grant). `sent`: the refresh tokens asked with, in order."""

    def __init__(self, *, lifetime: float = 600, rotate: bool = True, delay: float = 0) -> None:
        self.current = FIRST
        self.sent: list[str] = []
        self.given: list[str] = [FIRST]
        self.lifetime, self.rotate, self.delay = lifetime, rotate, delay
        self.answer_access_token = True
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        if self.delay:
            time.sleep(self.delay)  # an exchange takes a while: others ask meanwhile
        with self._lock:
            self.sent.append(form["refresh_token"])
            if form["refresh_token"] != self.current:
                return httpx.Response(400, json={"error": "invalid_grant",
                                                 "error_description": "expired access/refresh "
                                                                      "token"})  # fmt: skip
            body: dict[str, object] = {"expires_in": self.lifetime}
            if self.answer_access_token:
                body["access_token"] = f"00D!access-{len(self.sent)}"
            if self.rotate:
                self.current = f"5Aep861-refresh-{len(self.given)}"
                self.given.append(self.current)
                body["refresh_token"] = self.current
            return httpx.Response(200, json=body)


class Keyring:
    """The account's entry as `on_rotated` writes it and `reload` reads it."""

    def __init__(self, entry: Mapping[str, str] = NAMED, *, fails: bool = False) -> None:
        self.entry = dict(entry)
        self.fails = fails
        self.told: list[dict[str, str]] = []
        self.reads = 0

    def on_rotated(self, changed: Mapping[str, str]) -> bool:
        self.told.append(dict(changed))
        if self.fails:
            return False
        self.entry.update(changed)
        return True

    def reload(self) -> str | None:
        self.reads += 1
        return encode_secrets(self.entry)


def auth_for(
    endpoint: Endpoint,
    keyring: Keyring | None = None,
    *,
    now: list[float] | None = None,
    redactor: Redactor | None = None,
) -> TokenAuth:
    transport = httpx.MockTransport(endpoint)
    clock = (lambda: now[0]) if now is not None else time.monotonic
    return TokenAuth(
        grant="refresh_token", token_url="https://login.test/services/oauth2/token", scope=None,
        secrets=NAMED, redactor=redactor or Redactor(), clock=clock, transport=transport,
        sync_transport=transport,
        on_rotated=keyring.on_rotated if keyring else None,
        reload=keyring.reload if keyring else None,
    )  # fmt: skip


API = httpx.MockTransport(lambda r: httpx.Response(200, json={"ok": True}))


async def get_async(auth: TokenAuth, count: int = 1) -> list[str]:
    async with httpx.AsyncClient(auth=auth, transport=API) as client:
        answers = await asyncio.gather(*(client.get(URL) for _ in range(count)))
    return [a.request.headers["Authorization"] for a in answers]


def get_sync(auth: TokenAuth) -> str:
    with httpx.Client(auth=auth, transport=API) as client:
        return client.get(URL).request.headers["Authorization"]


@pytest.mark.parametrize("path", ["async", "blocking"])
def test_a_new_refresh_token_is_sent_next_time_told_and_redacted(path: str) -> None:
    endpoint, keyring, redactor, now = Endpoint(), Keyring(), Redactor(), [0.0]
    auth = auth_for(endpoint, keyring, now=now, redactor=redactor)
    get = (lambda: asyncio.run(get_async(auth))[0]) if path == "async" else lambda: get_sync(auth)
    assert get() == "Bearer 00D!access-1"
    now[0] = 600.0  # the token is due for renewal: the new refresh token is sent
    assert get() == "Bearer 00D!access-2"
    assert endpoint.sent == [FIRST, "5Aep861-refresh-1"]
    assert keyring.told == [{"refresh_token": "5Aep861-refresh-1"},
                            {"refresh_token": "5Aep861-refresh-2"}]  # fmt: skip
    assert keyring.entry == {**NAMED, "refresh_token": "5Aep861-refresh-2"}  # the rest kept
    for token in endpoint.given:
        assert redactor(f"said {token}!") == f"said {Redactor.MASK}!"


def test_both_paths_share_the_rotated_refresh_token() -> None:
    endpoint, keyring, now = Endpoint(), Keyring(), [0.0]
    auth = auth_for(endpoint, keyring, now=now)
    assert asyncio.run(get_async(auth)) == ["Bearer 00D!access-1"]
    now[0] = 600.0
    assert get_sync(auth) == "Bearer 00D!access-2"  # a download's thread renews
    now[0] = 1200.0
    assert asyncio.run(get_async(auth)) == ["Bearer 00D!access-3"]
    assert endpoint.sent == endpoint.given[:3]
    assert keyring.entry["refresh_token"] == endpoint.current


def test_a_token_answer_without_a_new_refresh_token_keeps_the_one_held() -> None:
    endpoint, keyring, now = Endpoint(rotate=False), Keyring(), [0.0]
    auth = auth_for(endpoint, keyring, now=now)
    asyncio.run(get_async(auth))
    now[0] = 600.0
    get_sync(auth)
    assert endpoint.sent == [FIRST, FIRST] and keyring.told == []


def test_a_new_refresh_token_in_an_answer_without_an_access_token_is_still_kept() -> None:
    endpoint, keyring = Endpoint(), Keyring()
    endpoint.answer_access_token = False
    auth = auth_for(endpoint, keyring)
    with pytest.raises(ProtocolError, match="gave no access_token"):
        get_sync(auth)
    assert keyring.entry["refresh_token"] == endpoint.current == "5Aep861-refresh-1"
    endpoint.answer_access_token = True
    assert get_sync(auth) == "Bearer 00D!access-2"  # asked with the new one
    assert endpoint.sent == endpoint.given[:2]


def test_one_exchange_at_a_time_and_each_refresh_token_is_sent_once() -> None:
    """Requests at once on the loop and in threads, all without a token, then all refused
    (401) with it: two exchanges in all, never the same refresh token twice (rotation would
    refuse the second, and Salesforce would revoke the chain)."""
    endpoint, keyring = Endpoint(delay=0.05), Keyring()
    refused: set[str] = set()

    def api(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return httpx.Response(401 if token in refused else 200)

    auth = auth_for(endpoint, keyring)
    statuses: list[int] = []

    def in_thread() -> None:
        with httpx.Client(auth=auth, transport=httpx.MockTransport(api)) as client:
            statuses.append(client.get(URL).status_code)

    async def on_loop() -> None:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(api)) as client:
            answers = await asyncio.gather(*(client.get(URL) for _ in range(8)))
        statuses.extend(a.status_code for a in answers)

    def burst() -> None:
        threads = [threading.Thread(target=in_thread) for _ in range(4)]
        for thread in threads:
            thread.start()
        asyncio.run(on_loop())
        for thread in threads:
            thread.join(10)

    burst()
    assert statuses == [200] * 12 and endpoint.sent == [FIRST]
    refused.add("00D!access-1")  # revoked: every request renews, one exchange does it for all
    statuses.clear()
    burst()
    assert statuses == [200] * 12
    assert endpoint.sent == [FIRST, "5Aep861-refresh-1"]
    assert keyring.entry["refresh_token"] == endpoint.current


@pytest.mark.parametrize("path", ["async", "blocking"])
def test_a_keyring_write_that_fails_leaves_the_new_token_in_use(path: str) -> None:
    """The entry still holds the old refresh token: read again before the next exchange, it
    is not taken back (this process's own is newer)."""
    endpoint, keyring, now = Endpoint(), Keyring(fails=True), [0.0]
    auth = auth_for(endpoint, keyring, now=now)
    get = (lambda: asyncio.run(get_async(auth))[0]) if path == "async" else lambda: get_sync(auth)
    get()
    now[0] = 600.0
    assert get() == "Bearer 00D!access-2"
    assert endpoint.sent == [FIRST, "5Aep861-refresh-1"]
    assert keyring.entry["refresh_token"] == FIRST and len(keyring.told) == 2
    assert keyring.reads == 2  # before each exchange


def test_a_callback_that_raises_is_a_token_not_kept(caplog: pytest.LogCaptureFixture) -> None:
    endpoint, now = Endpoint(), [0.0]
    auth = auth_for(endpoint, now=now)

    def broken(changed: Mapping[str, str]) -> bool:
        raise RuntimeError(f"backend said {changed['refresh_token']}")

    auth.on_rotated = broken
    assert get_sync(auth) == "Bearer 00D!access-1"
    now[0] = 600.0
    assert get_sync(auth) == "Bearer 00D!access-2"
    assert endpoint.sent == [FIRST, "5Aep861-refresh-1"]
    assert "RuntimeError" in caplog.text and "5Aep861-refresh" not in caplog.text


@pytest.mark.parametrize("path", ["async", "blocking"])
def test_an_entry_another_process_rotated_is_read_before_the_exchange(path: str) -> None:
    """This process read the entry at its start; another rotated it since (the keyring holds
    its newer refresh token): that one is sent, the stale one never."""
    endpoint, keyring = Endpoint(), Keyring()
    endpoint.current = keyring.entry["refresh_token"] = "5Aep861-refresh-other"
    auth = auth_for(endpoint, keyring)  # made with FIRST
    get = (lambda: asyncio.run(get_async(auth))[0]) if path == "async" else lambda: get_sync(auth)
    assert get() == "Bearer 00D!access-1"
    assert endpoint.sent == ["5Aep861-refresh-other"]
    assert keyring.entry["refresh_token"] == endpoint.current == "5Aep861-refresh-1"


@pytest.mark.parametrize("path", ["async", "blocking"])
def test_invalid_grant_reads_the_entry_once_more_and_asks_once_again(path: str) -> None:
    """Another process rotated the refresh token between this one's read and its request:
    `invalid_grant`, the entry read again, the request made once more with what it holds."""
    endpoint, keyring = Endpoint(), Keyring()
    endpoint.current = "5Aep861-refresh-other"
    reads = iter([NAMED, {**NAMED, "refresh_token": "5Aep861-refresh-other"}])

    def reload() -> str:
        keyring.reads += 1
        keyring.entry = dict(next(reads))
        return encode_secrets(keyring.entry)

    auth = auth_for(endpoint, keyring)
    auth.reload = reload
    get = (lambda: asyncio.run(get_async(auth))[0]) if path == "async" else lambda: get_sync(auth)
    assert get() == "Bearer 00D!access-2"
    assert endpoint.sent == [FIRST, "5Aep861-refresh-other"] and keyring.reads == 2
    assert keyring.entry["refresh_token"] == endpoint.current == "5Aep861-refresh-1"


@pytest.mark.parametrize("path", ["async", "blocking"])
def test_invalid_grant_with_nothing_new_in_the_keyring_fails_after_one_request(path: str) -> None:
    endpoint, keyring = Endpoint(), Keyring()
    endpoint.current = "5Aep861-revoked-elsewhere"
    auth = auth_for(endpoint, keyring)
    get = (lambda: asyncio.run(get_async(auth))[0]) if path == "async" else lambda: get_sync(auth)
    with pytest.raises(AuthError, match="invalid_grant") as caught:
        get()
    assert endpoint.sent == [FIRST] and keyring.reads == 2  # before, and after the refusal
    assert FIRST not in caught.value.user_message


def test_without_reload_a_refusal_is_the_answer_as_before() -> None:
    endpoint = Endpoint()
    endpoint.current = "5Aep861-revoked-elsewhere"
    with pytest.raises(AuthError, match="check the client id and secret and the refresh token"):
        get_sync(auth_for(endpoint))
    assert endpoint.sent == [FIRST]


def test_the_client_credentials_grant_takes_no_refresh_token() -> None:
    told: list[Mapping[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        assert form["grant_type"] == "client_credentials" and "refresh_token" not in form
        return httpx.Response(200, json={"access_token": "00D!cc", "refresh_token": "5Aep-x1"})

    transport = httpx.MockTransport(answer)
    auth = TokenAuth(grant="client_credentials", token_url="https://login.test/t", scope=None,
                     secrets={"client_id": "cid", "client_secret": "csecret-1"},
                     redactor=Redactor(), transport=transport, sync_transport=transport,
                     on_rotated=lambda c: told.append(c) is None,
                     reload=lambda: json.dumps({"client_id": "x", "client_secret": "y2"}),
                     )  # fmt: skip
    assert get_sync(auth) == "Bearer 00D!cc" and told == []
    assert auth._form()["client_secret"] == "csecret-1"  # not read again: nothing rotates
