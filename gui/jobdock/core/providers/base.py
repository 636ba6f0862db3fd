"""The provider seam: what every API adapter implements, and the values it returns.

A provider is stateless: it is handed an `ApiSession` (account + clients) and a job, sends the
requests its API needs, and answers a `RemoteStatus`, or raises an error from `core.errors`.
Scheduling, storage and downloads are not its business.

Providers subclass `Provider` explicitly, so they inherit the defaults of its optional
capabilities (`needs_secret`, `secret_names`, `secret_names_for`, `max_connections`,
`auth_params`, `http_auth`, `result_origins`) and override only what their API needs; callers
read them as attributes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.net.http import ApiSession
from jobdock.core.net.redaction import Redactor


@dataclass(frozen=True, kw_only=True)
class PollPolicy:
    """How often to ask: first poll after `first_delay`, then exponential backoff with full
    jitter between `min_interval` and `max_interval`, giving up after `deadline` seconds."""

    first_delay: float = 2.0
    min_interval: float = 2.0
    max_interval: float = 60.0
    factor: float = 2.0
    deadline: float = 24 * 3600.0


@dataclass(frozen=True, kw_only=True)
class ResultLink:
    """A result as the provider reports it. `needs_auth`: fetch it with the account's session
    (credentials are still sent only when the link is on the account's origin)."""

    url: str
    expires_at: datetime | None = None
    filename_hint: str | None = None
    needs_auth: bool = False
    checksum: str | None = None  # "<algorithm>:<hex>" the job answer gives for the file
    decompress: str | None = None  # "gzip": saved decompressed (the raw bytes are verified)
    # Headers the link's GET must send (Databricks' `http_headers`: a decryption key), to the
    # link's own origin only; secrets-like: never stored, shown or logged.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class RemoteStatus:
    """One answer about a job, normalised. `retry_after` (seconds) comes from the answer's headers
    and sets the next poll; `raw` is the answer's body for the detail pane (never credentials)."""

    state: JobState
    remote_state: str
    remote_id: str | None = None
    status_url: str | None = None
    result_url: str | None = None  # where the result will be once succeeded (202 + Location)
    progress: float | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    log: str | None = None
    results: tuple[ResultLink, ...] = ()
    retry_after: float | None = None
    raw: str | None = None


@dataclass(frozen=True, kw_only=True)
class JobRef:
    """How to find an existing job: by the provider's id, by its status URL, or both."""

    remote_id: str | None = None
    status_url: str | None = None


@runtime_checkable
class Provider(Protocol):
    id: str
    display_name: str
    default_base_url: str
    secret_label: str
    poll_policy: PollPolicy
    # Optional capabilities, with the defaults most APIs want; a provider overrides them.
    needs_secret: bool = True  # False: the account has no secret (a profile's `auth.kind = "none"`)
    secret_names: tuple[str, ...] = ()  # named secrets (oauth2): NAME=VALUE lines, one field each
    max_connections: int | None = None  # a per-token connection cap (Shoptet: 3); None: no cap
    # The media type a body given without one is sent as (a profile's `[submit] content_type`);
    # None: inferred, JSON or XML.
    body_content_type: str | None = None

    def secret_names_for(self, options: Mapping[str, str]) -> tuple[str, ...]:
        """The named secrets of an account with these options (an oauth2 profile's `grant`
        option chooses them); raises `UsageError` for options that make none."""
        return self.secret_names

    def auth_params(self, account: Account, secret: str) -> dict[str, str]:
        """Query parameters that authenticate requests to the account's origin (query auth)."""
        return {}

    def http_auth(self, account: Account, secret: str, redactor: Redactor) -> httpx.Auth | None:
        """An `httpx.Auth` for the account's API client (an OAuth2 token exchange), or None."""
        return None

    def result_origins(self, account: Account) -> tuple[str, ...]:
        """Origins besides the account's that get its credentials on a request starting there."""
        return ()

    def check_account(self, account: Account) -> None:
        """Raise `UsageError` for account options this provider cannot use (a profile's URL
        options): said when the account is added, not at its first request."""
        return None

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        """Headers that authenticate requests to the account's origin."""
        ...

    def default_request(self) -> SubmitRequest:
        """A sensible request to start (the demo and the new-job form start from it)."""
        ...

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        """Turn what a user pasted (a job id or a status URL) into a `JobRef`;
        raises `UsageError` when it cannot be one."""
        ...

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        """Start a job. The answer must carry `remote_id` or `status_url`."""
        ...

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        """Ask for the job's state now (also used to get fresh result links)."""
        ...


@runtime_checkable
class SupportsBatchPoll(Protocol):
    """Providers that refresh many jobs of one account in one go (Shoptet's job list).

    The engine hands over every unfinished job of the account that is not already being polled
    whenever one of them is due; the answer has an entry per job: its status, or the error that
    kept it from being read (transient errors are retried like a single poll's)."""

    async def poll_many(
        self, session: ApiSession, jobs: Sequence[Job]
    ) -> Mapping[str, RemoteStatus | JobdockError]: ...


@runtime_checkable
class SupportsJobList(Protocol):
    """Providers with a job list (Shoptet): one call refreshes many jobs; `sync` imports it."""

    def list_jobs(
        self,
        session: ApiSession,
        *,
        status: str | None = None,
        created_from: datetime | None = None,
    ) -> AsyncIterator[RemoteStatus]: ...


@dataclass(frozen=True, kw_only=True)
class AccountOption:
    """One `--option KEY=VALUE` a provider documents, as the accounts form shows it."""

    key: str
    label: str
    choices: tuple[str, ...] = ()  # the allowed values (the first is the default); () = free text
    # what the form shows for a choice, as (value, text) pairs; a value without one shows as is
    choice_labels: tuple[tuple[str, str], ...] = ()
    hint: str = ""  # placeholder text for free input
    when: tuple[str, str] | None = None  # shown only while option `when[0]` is `when[1]`
    # shown with the credentials, above them (it decides which are asked for, or how sent)
    near_credentials: bool = False

    def choice_label(self, value: str) -> str:
        return dict(self.choice_labels).get(value) or value or "(default)"


@dataclass(frozen=True, kw_only=True)
class AccountForm:
    """Which fields an account of a provider uses: the accounts dialog shows only these."""

    user: bool = False  # a user name (HTTP Basic)
    user_when: tuple[str, str] | None = None  # ... only while this option has this value
    options: tuple[AccountOption, ...] = ()


POLL_OPTIONS = (
    AccountOption(key="poll_min", label="Poll at least every (s)", hint="provider's advice"),
    AccountOption(key="poll_max", label="Poll at most every (s)", hint="provider's advice"),
)


@runtime_checkable
class SupportsAccountForm(Protocol):
    """Providers that say which account fields and options they use."""

    account_form: AccountForm


def account_form_of(provider: Provider) -> AccountForm:
    """The provider's own form, the polling bounds every account has added at the end."""
    own = provider.account_form if isinstance(provider, SupportsAccountForm) else AccountForm()
    known = {option.key for option in own.options}
    extra = tuple(option for option in POLL_OPTIONS if option.key not in known)
    return AccountForm(user=own.user, user_when=own.user_when, options=own.options + extra)
