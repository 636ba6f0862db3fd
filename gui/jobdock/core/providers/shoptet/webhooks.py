"""The local receiver of Shoptet's `job:finished` webhooks, and their registration.

Off by default (settings `webhook_enabled`, `webhook_bind`, `webhook_port`). A minimal HTTP/1.1
server on the engine's own event loop accepts `POST /shoptet/<webhook_token>` (one request per
connection; the body sent with `Content-Length` or chunked, at most `MAX_BODY` bytes), checks
`Shoptet-Webhook-Signature` — hex HMAC-SHA1 of the raw body with an account's
signature key (keyring entry `<account>#signature-key`), compared in constant time — and answers
401 (logged) when it is missing or matches no Shoptet account. A good event refreshes the job
named by `eventInstance` at once; polling stays the fallback for every job, so a lost delivery
only costs time.

`register` asks Shoptet to deliver `job:finished` to the receiver's public URL (`POST
/api/webhooks`) and keeps the signature key it obtains in the keyring.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, runtime_checkable

from jobdock.core.model.errors import ConfigError, JobdockError, UsageError
from jobdock.core.model.job import Account, Job
from jobdock.core.net.http import ApiSession
from jobdock.core.net.inputs import load_json
from jobdock.core.providers.base import Provider
from jobdock.core.store.credentials import CredentialStore, Redactor
from jobdock.core.store.settings import EngineSettings

log = logging.getLogger("jobdock.webhooks")

SIGNATURE_HEADER = "shoptet-webhook-signature"
EVENT = "job:finished"
MAX_BODY = 64 * 1024
MAX_HEAD = 16 * 1024
READ_TIMEOUT = 10.0
KEY_RELOAD_INTERVAL = 2.0  # an unknown signature re-reads the keyring at most this often
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large"}  # fmt: skip


@runtime_checkable
class SupportsWebhooks(Protocol):
    async def register_webhook(self, session: ApiSession, url: str) -> str:
        """Register `url` for job:finished; returns the signature key to verify deliveries."""
        ...


class WebhookSettings(Protocol):
    """The engine's settings as they are now, and how to change them (`engine.config`)."""

    @property
    def current(self) -> EngineSettings: ...

    def configure(self, *, persist: bool = False, **changes: object) -> EngineSettings: ...


class WebhookAccounts(Protocol):
    """The engine's accounts and their sessions (`engine.accounts.Accounts`)."""

    @property
    def credentials(self) -> CredentialStore: ...

    @property
    def redactor(self) -> Redactor: ...

    def list(self) -> list[Account]: ...

    def account(self, name: str) -> Account: ...

    def provider(self, provider_id: str) -> Provider: ...

    async def session(self, account: Account) -> ApiSession: ...


def signature_key_name(account: str) -> str:
    """The keyring user name of an account's webhook signature key."""
    return f"{account}#signature-key"


def sign(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha1).hexdigest()


def verify(key: str, body: bytes, signature: str | None) -> bool:
    if not signature or not key:
        return False
    return hmac.compare_digest(sign(key, body), signature.strip().lower())


def receiver_path(settings: WebhookSettings) -> str:
    """`/shoptet/<token>`; the token is made (and saved) the first time it is needed."""
    token = settings.current.webhook_token
    if not token:
        token = secrets.token_urlsafe(18)
        settings.configure(persist=True, webhook_token=token)
    return f"/shoptet/{token}"


def public_url(settings: WebhookSettings) -> str | None:
    """Where Shoptet should deliver: the configured public base URL plus the receiver's path."""
    base = settings.current.webhook_public_url.strip().rstrip("/")
    return base + receiver_path(settings) if base else None


async def register(
    accounts: WebhookAccounts, settings: WebhookSettings, account_name: str, url: str | None = None
) -> str:
    """Register the receiver (or `url`) for the account's job:finished webhooks; the new signature
    key goes to the keyring. Returns the URL registered."""
    account = accounts.account(account_name)
    provider = accounts.provider(account.provider)
    if not isinstance(provider, SupportsWebhooks):
        raise UsageError(f"provider {provider.id!r} has no webhooks to register")
    url = url or public_url(settings)
    if not url:
        raise UsageError(
            "no webhook URL: give one, or set the receiver's public URL first "
            "(`jobdock webhooks enable --public-url https://<host reachable by Shoptet>`)"
        )
    if not url.startswith(("https://", "http://")):
        raise UsageError(f"webhook URL must start with https:// or http://: {url}")
    session = await accounts.session(account)
    key = await provider.register_webhook(session, url)
    accounts.redactor.add(key)
    await asyncio.to_thread(accounts.credentials.set, signature_key_name(account.name), key)
    return url


async def _read_chunked(reader: asyncio.StreamReader) -> bytes | None:
    """A `Transfer-Encoding: chunked` body (RFC 9112, section 7.1), or None past `MAX_BODY`.
    Chunk extensions and trailer fields are read and ignored; a malformed size is a
    `ValueError` (answered 400)."""
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line[:-2].split(b";", 1)[0].strip()
        if len(line) > 1024 or not size_text or size_text.lstrip(b"0123456789abcdefABCDEF"):
            raise ValueError("malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        if len(body) + size > MAX_BODY:
            return None
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk without its CRLF")
    trailers = 0
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, up to the blank line
        trailers += 1
        if trailers > 100:
            raise ValueError("too many trailer fields")
    return bytes(body)


class WebhookReceiver:
    """The receiver; `start()` binds it, `aclose()` stops it. Accepted events: `accepted`."""

    def __init__(
        self,
        *,
        settings: WebhookSettings,
        accounts: WebhookAccounts,
        jobs: Callable[[], Iterable[Job]],
        refresh: Callable[[str], Coroutine[Any, Any, object]],
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        """`jobs`: the jobs followed now; `refresh` polls one of them at once."""
        self._accounts = accounts
        self._jobs = jobs
        self._refresh_job = refresh
        self.host = host if host is not None else settings.current.webhook_bind
        self.port = port if port is not None else settings.current.webhook_port
        self.path = receiver_path(settings)
        self._server: asyncio.Server | None = None
        self._keys: dict[str, str] = {}  # account → signature key
        self._keys_read_at = float("-inf")
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepted = 0
        self.rejected = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise ConfigError(
                f"cannot receive webhooks on {self.host}:{self.port}: {exc.strerror or exc}; "
                "choose another address or port (`jobdock webhooks enable --bind H --port N`)"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("webhook receiver listening on %s:%s", self.host, self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # HTTP ----------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                status = await self._read_and_handle(reader, writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            status = 400
        except asyncio.LimitOverrunError:
            status = 413
        try:
            reason = _REASONS.get(status, "OK")
            body = f'{{"status": {status}}}'.encode()
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def _read_and_handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            return 413
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if target.split("?", 1)[0] != self.path:
            return 404
        if method != "POST":
            return 405
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
            if body is None:
                return 413
        else:
            length = int(headers.get("content-length") or 0)
            if length < 0 or length > MAX_BODY:
                return 413
            body = await reader.readexactly(length)
        peer = writer.get_extra_info("peername")
        return await self.handle(body, headers.get(SIGNATURE_HEADER), peer=str(peer))

    # events --------------------------------------------------------------------------------
    async def handle(self, body: bytes, signature: str | None, *, peer: str = "") -> int:
        """Verify and act on one delivery; the HTTP status to answer."""
        accounts = await self._signed_by(body, signature)
        if not accounts:
            self.rejected += 1
            why = "no" if not signature else "a bad"
            log.warning("webhook from %s rejected: %s Shoptet-Webhook-Signature", peer, why)
            return 401
        try:
            event = load_json(body)  # bounded nesting: a NestingError is a ValueError
            instance = str(event["eventInstance"])
            kind = str(event.get("event") or "")
        except (ValueError, KeyError, TypeError):
            return 400
        self.accepted += 1
        if kind == EVENT:
            self._refresh(accounts, instance)
        return 200

    async def _signed_by(self, body: bytes, signature: str | None) -> list[str]:
        if not signature:
            return []
        matches = [a for a, key in self._keys.items() if verify(key, body, signature)]
        if not matches and time.monotonic() - self._keys_read_at >= KEY_RELOAD_INTERVAL:
            await self._read_keys()  # a key registered since, or a first delivery
            matches = [a for a, key in self._keys.items() if verify(key, body, signature)]
        return matches

    async def _read_keys(self) -> None:
        self._keys_read_at = time.monotonic()
        names = [a.name for a in self._accounts.list() if a.provider == "shoptet"]
        keys: dict[str, str] = {}
        for name in names:
            try:
                key = await asyncio.to_thread(
                    self._accounts.credentials.get, signature_key_name(name)
                )
            except JobdockError as exc:
                log.warning("webhook: cannot read the signature key of %s: %s", name, exc)
                continue
            if key:
                self._accounts.redactor.add(key)
                keys[name] = key
        self._keys = keys

    def _refresh(self, accounts: list[str], remote_id: str) -> None:
        jobs = [
            j
            for j in self._jobs()
            if j.account in accounts and j.remote_id == remote_id and not j.state.is_terminal
        ]
        if not jobs:
            log.info("webhook: job:finished for %s, which is not followed (or already done)",
                     remote_id)  # fmt: skip
        for job in jobs:
            task = asyncio.get_running_loop().create_task(self._refresh_job(job.id))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("webhook: refreshing a job failed: %s", task.exception())
