"""The engine's accounts and their API sessions: account lookup, the poll policy an account's
options bound, one session per account (its secret read from the keyring the first time), the
bare session for links that need no credentials, and the quota a provider reports.

An OAuth2 account whose token endpoint rotates its refresh token (`profiles.oauth`) has the new
one written to its keyring entry (its other secrets kept) from whichever thread exchanged it, and
its entry read again before each exchange; a write that fails is said once through
`on_warning(account, message)`, on the event loop, and the new token is used until the process
ends.

Every session's client teaches `ClockSkew` how far the API's clock is from this machine's, so
`localized` answers carry link expiry times on the local clock; their URLs come in without the
query credentials the redactor knows (`status_without_credentials`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from jobdock.core.engine.config import LiveSettings
from jobdock.core.engine.expiry import ClockSkew
from jobdock.core.engine.rules import effective_policy
from jobdock.core.model.errors import ConfigError, JobdockError, StoreError, UsageError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.net.inputs import quoted, url_problem
from jobdock.core.providers import get_provider
from jobdock.core.providers.base import PollPolicy, Provider, RemoteStatus
from jobdock.core.providers.profiles.oauth import TokenAuth, encode_secrets
from jobdock.core.providers.shoptet.quota import QuotaStatus, SupportsQuota
from jobdock.core.store.credentials import CredentialStore, Redactor
from jobdock.core.store.jobs import JobStore
from jobdock.core.store.settings import EngineSettings

log = logging.getLogger("jobdock.engine")


class Accounts:
    def __init__(
        self,
        *,
        store: JobStore,
        credentials: CredentialStore,
        providers: Mapping[str, Provider],
        settings: LiveSettings,
        redactor: Redactor,
        clock: Callable[[], datetime],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.providers = dict(providers)
        self.redactor = redactor
        self.skew = ClockSkew()
        self._settings = settings
        self._clock = clock
        self._transport = transport
        self._sessions: dict[str, ApiSession] = {}
        self._bare = make_bare_client(transport=transport)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._keyring_lock = threading.Lock()  # one rotated refresh token written at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        # Told (on the loop) when an account's rotated refresh token could not be kept.
        self.on_warning: Callable[[str, str], None] | None = None

    @property
    def threaded(self) -> bool:
        """Whether downloads move their bytes in a worker thread: yes, unless the sessions use
        a test transport (then they stay on the loop, through it)."""
        return self._transport is None

    # lookup --------------------------------------------------------------------------------
    def list(self) -> list[Account]:
        return self.store.list_accounts()

    def account(self, name: str) -> Account:
        return self.store.get_account(name)

    def provider(self, provider_id: str) -> Provider:
        return get_provider(provider_id, self.providers)

    def policy(self, provider: Provider, account: Account | None = None) -> PollPolicy:
        """The provider's policy, bounded by the account's `poll_min`/`poll_max` options when
        set (an API with its own advice), else by the settings' bounds."""
        options = account.options if account is not None else {}
        poll_min, poll_max = _poll_bounds(options, self._settings.current)
        return effective_policy(provider.poll_policy, poll_min=poll_min, poll_max=poll_max)

    # changes -------------------------------------------------------------------------------
    async def add(self, account: Account, secret: str | None) -> None:
        provider = self.provider(account.provider)
        self.policy(provider, account)  # bad options fail here, not later
        provider.check_account(account)
        problem = url_problem(account.base_url)
        if problem is not None:
            raise UsageError(f"base URL {quoted(account.base_url)} is {problem}")
        if secret is None:
            self._check_kept_secret(provider, account)
        if secret is not None:
            self.redactor.add(secret)
            await asyncio.to_thread(self.credentials.set, account.name, secret)
        self.store.put_account(account, now=self._clock())
        await self.drop_session(account.name)

    def _check_kept_secret(self, provider: Provider, account: Account) -> None:
        """An account changed without a new secret keeps its keyring entry: `UsageError` when
        that entry holds other named secrets than the account now needs (another OAuth2
        grant: `refresh_token` needs a refresh token too)."""
        names = provider.secret_names_for(account.options)
        try:
            old = self.store.get_account(account.name)
        except UsageError:
            return  # a new account
        if old.provider != account.provider or not names:
            return
        try:
            before = provider.secret_names_for(old.options)
        except UsageError:
            before = ()
        if before != names:
            held = ", ".join(before) or "one secret"
            raise UsageError(f"account {account.name}: its grant needs {', '.join(names)} and "
                             f"its keyring entry holds {held}; give all of them "
                             "(--secret-stdin, one NAME=VALUE line each)")  # fmt: skip

    async def remove(self, name: str) -> None:
        self.store.get_account(name)
        await asyncio.to_thread(self.credentials.delete, name)
        self.store.remove_account(name)
        await self.drop_session(name)

    async def drop_session(self, name: str) -> None:
        session = self._sessions.pop(name, None)
        if session is not None:
            await session.api.aclose()

    # sessions ------------------------------------------------------------------------------
    async def session(self, account: Account) -> ApiSession:
        """The account's API session, reading its secret from the keyring the first time."""
        cached = self._sessions.get(account.name)
        if cached is not None:
            return cached
        settings = self._settings.current
        provider = self.provider(account.provider)
        secret = await asyncio.to_thread(self.credentials.get, account.name)
        # A profile with `auth.kind = "none"` (UniProt) needs no secret at all.
        if not secret and not provider.needs_secret:
            secret = ""
        elif not secret:
            raise ConfigError(
                f"no secret for account {account.name!r} in the keyring; add it with "
                f"`jobdock accounts add {account.name} --provider {account.provider} "
                f"--base-url URL --secret-stdin`"
            )
        self.redactor.add(secret)
        headers = provider.auth_headers(account, secret)
        # Profiles with `query` auth put the credential in a parameter: only this account's
        # session carries it, so like the headers it reaches only the account's origin.
        params = provider.auth_params(account, secret)
        api = make_api_client(
            headers=headers,
            # An API that limits connections per token (Shoptet: 3) caps its client lower.
            max_connections=min(
                settings.max_per_origin, provider.max_connections or settings.max_per_origin
            ),
            transport=self._transport,
        )
        api.event_hooks = {"response": [self._observe_clock]}
        auth = provider.http_auth(account, secret, self.redactor)  # profiles' OAuth2 exchange
        if isinstance(auth, TokenAuth):  # a rotated refresh token goes to the keyring entry
            self._loop = asyncio.get_running_loop()
            name = account.name
            auth.on_rotated = lambda changed: self._keep_rotated(name, changed)
            auth.reload = lambda: self.credentials.get(name)
        if auth is not None:
            api.auth = auth
        # The session teaches the redactor what its headers and parameters carry.
        session = ApiSession(
            account=account, api=api, bare=self._bare, auth_params=tuple(params.items()),
            redactor=self.redactor, deadline=settings.request_deadline,
            result_origins=provider.result_origins(account),  # profiles' `result_hosts`
        )  # fmt: skip
        self._sessions[account.name] = session
        return session

    def _keep_rotated(self, name: str, changed: Mapping[str, str]) -> bool:
        """Write the secrets a token answer replaced into the account's keyring entry, its
        other secrets as the entry holds them now; True when written. Blocking, from a worker
        thread or a download's thread. An entry that is gone (the account removed meanwhile)
        is not made again."""
        with self._keyring_lock:
            try:
                held = self.credentials.get(name)
                try:
                    values = json.loads(held) if held else None
                except ValueError:
                    values = None
                if not isinstance(values, dict):
                    raise ConfigError("the account has no keyring entry of named secrets now")
                self.credentials.set(name, encode_secrets({**values, **changed}))
            except JobdockError as exc:
                self._warn(name, exc.user_message)
                return False
            except Exception as exc:  # a backend's own error: its type only, never its text
                self._warn(name, type(exc).__name__)
                return False
        return True

    def _warn(self, name: str, why: str) -> None:
        message = self.redactor(
            f"account {name}: the token endpoint rotated its refresh token and the new one was "
            "not saved in the keyring: it is used until this process ends, then the account "
            f"needs adding again with a new refresh token ({why})"
        )
        log.warning("%s", message)
        hook, loop = self.on_warning, self._loop
        if hook is None or loop is None:
            return
        try:
            loop.call_soon_threadsafe(hook, name, message)
        except RuntimeError:  # the loop is closed: the process is ending, the log has it
            pass

    def bare_session(self, account: Account) -> ApiSession:
        return ApiSession(
            account=account, api=self._bare, bare=self._bare, redactor=self.redactor,
            deadline=self._settings.current.request_deadline,
        )  # fmt: skip

    def semaphore(self, key: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(key)
        if sem is None:
            limit = max(1, self._settings.current.max_per_origin)
            sem = self._semaphores[key] = asyncio.Semaphore(limit)
        return sem

    async def _observe_clock(self, response: httpx.Response) -> None:
        self.skew.observe(response, local_now=self._clock())

    def localized(self, status: RemoteStatus, account: Account) -> RemoteStatus:
        """The answer as the engine takes it in: its links' expiry times on this machine's
        clock (`expiry`), its URLs without the credentials the redactor knows."""
        status = status_without_credentials(status, self.redactor)
        return self.skew.localize(status, api_origin=account.origin)

    # quota ---------------------------------------------------------------------------------
    def quota_status(self, name: str) -> QuotaStatus | None:
        """The account's request quota (providers that report one, like Shoptet): live while
        its session is open, else as the last run left it; None when nothing is known."""
        account = self.account(name)
        provider = self.provider(account.provider)
        session = self._sessions.get(name)
        if session is not None and isinstance(provider, SupportsQuota):
            live = provider.quota_status(session)
            if live is not None:
                return live
        stored = self.store.get_setting(f"quota:{name}")
        return QuotaStatus.from_json(stored) if isinstance(stored, dict) else None

    def _save_quota(self, name: str) -> None:
        session = self._sessions.get(name)
        provider = self.providers.get(session.account.provider) if session else None
        if session is not None and isinstance(provider, SupportsQuota):
            status = provider.quota_status(session)
            if status is not None:
                self.store.set_setting(f"quota:{name}", status.to_json())

    async def aclose(self) -> None:
        """Save each open session's quota, close every session."""
        for name in self._sessions:
            try:
                self._save_quota(name)
            except StoreError as exc:
                log.warning("the account quota of %s was not saved: %s", name, exc)
        for session in self._sessions.values():
            await session.api.aclose()
        self._sessions.clear()
        await self._bare.aclose()


def _float_option(options: Mapping[str, str], key: str, default: float | None) -> float | None:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"account option {key}={quoted(raw)} is not a number of seconds"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"account option {key} must be a positive number, got {quoted(raw)}")
    return value


def _poll_bounds(
    options: Mapping[str, str], settings: EngineSettings
) -> tuple[float | None, float | None]:
    """The account's `poll_min`/`poll_max` (else the settings'); a minimum above the maximum
    given beside it is refused."""
    lo = _float_option(options, "poll_min", settings.poll_min)
    hi = _float_option(options, "poll_max", settings.poll_max)
    if "poll_min" in options and "poll_max" in options and lo is not None and hi is not None:
        if lo > hi:
            raise ConfigError(
                f"account option poll_min={quoted(options['poll_min'])} is above "
                f"poll_max={quoted(options['poll_max'])}"
            )
    return lo, hi


def status_without_credentials(status: RemoteStatus, redactor: Redactor) -> RemoteStatus:
    """`status` with its status URL, its result URL and every link's URL stripped of the query
    parameters and user info that carry a secret `redactor` knows (`Redactor.strip`; Meta's
    `paging.next` echoes the access token). A link's identity (`links.link_key`) and the URL a
    poll compares with the stored one are then made from the URL as it is stored, and the
    session's own auth still authenticates each on the account's origin."""
    strip = redactor.strip
    changes: dict[str, object] = {
        name: strip(value)
        for name in ("status_url", "result_url")
        if (value := getattr(status, name)) and strip(value) != value
    }
    links = tuple(
        link if (url := strip(link.url)) == link.url else dataclasses.replace(link, url=url)
        for link in status.results
    )
    if any(a is not b for a, b in zip(links, status.results, strict=True)):
        changes["results"] = links
    # Ignored as in redaction._redact_result: replace() checks each keyword's type, a dict of
    # changes cannot say them (an unknown field is still a TypeError).
    return dataclasses.replace(status, **changes) if changes else status  # type: ignore[arg-type]
