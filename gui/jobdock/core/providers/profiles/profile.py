"""What a provider profile holds once its TOML has been checked (schema.py): the `Profile` and
the specs of its `[auth]`, `[submit]`, `[poll]`, `[[results]]` and `[results.pages]` tables, each
field's meaning in docs/profiles.md; and the `Problem`s a profile that cannot be used is refused
with, together in a `ProfileError`. Every field and result path may be a list of paths, first
match wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from jobdock.core.model.errors import ConfigError
from jobdock.core.model.job import JobState
from jobdock.core.providers.base import PollPolicy
from jobdock.core.providers.profiles.paths import FieldPath

ORIGIN = "{origin}"  # in `[auth] token_url`: the account's base URL's scheme://host[:port]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a profile: the dotted key, what was expected, and (from the loader)
    the line it is on."""

    key: str
    message: str
    line: int | None = None


class ProfileError(ConfigError):
    """A profile that cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        first = format_problem(source, problems[0]) if problems else f"{source}: invalid profile"
        more = len(problems) - 1
        hint = f" (+{more} more: run `jobdock profiles check {source}`)" if more > 0 else ""
        super().__init__(first + hint)


def format_problem(source: str, problem: Problem) -> str:
    """`file:line: key: message`, the form `profiles check` prints."""
    return f"{source}:{problem.line or 1}: {problem.key or '(top level)'}: {problem.message}"


@dataclass(frozen=True, kw_only=True)
class AuthSpec:
    kind: str
    name: str | None = None  # header / query parameter; oauth2: the token's header
    scheme: str | None = None  # oauth2: the token's prefix (`Bearer` in `Authorization`)
    grant: str | None = None  # oauth2: client_credentials or refresh_token, an account's default
    # oauth2: the grants an account may choose with its `grant` option (the default first)
    grants: tuple[str, ...] = ()
    # oauth2: a URL, or `{origin}/…` (the account's base URL's origin: Salesforce's My Domain);
    # an account's `token_url` option replaces it
    token_url: str | None = None
    scope: str | None = None
    # oauth2: the API statuses that renew the token once and retry (SP-API answers 403 to an
    # expired or revoked token)
    renew_on: tuple[int, ...] = (401,)


@dataclass(frozen=True, kw_only=True)
class SubmitSpec:
    method: str = "GET"
    path: str = ""
    query: tuple[tuple[str, str], ...] = ()
    body: object = None  # a string sent as is, or a table sent as JSON
    content_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class PollRequest:
    """How a job is polled: `body` (string or JSON) is templated with the job's values."""

    method: str = "GET"
    body: object = None
    content_type: str | None = None
    follow_redirects: bool = True
    # HTTP error statuses whose body is read as a status answer: one whose state is failed or
    # cancelled ends the job with its message (UniProt's 500/400 `{"jobStatus": "ERROR"}`)
    error_answers: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PageSpec:
    """`[results.pages]`: a result in pages, each page's answer naming the next one. `next` is a
    `header:` path (read from the headers alone: Salesforce's `Sforce-Locator`) or a body path
    (or a list of them)
    (Meta's `paging.next`, Databricks' `next_chunk_internal_link`); its value is the next page's
    URL (absolute, or relative to the page that answered), or with `next_query` the value of that
    query parameter on the first page's URL. No value, an empty one or `end_value` ends it.
    With `links` the pages are not the result but list it: each link a page lists (a URL string,
    or an object with its URL at `link_url` and its expiry time at `link_expires_at`) is one
    result (Databricks' `external_links`)."""

    next: tuple[FieldPath, ...]  # tried in order, like every path
    next_query: str | None = None
    end_value: str | None = None
    max_pages: int = 1000
    links: tuple[FieldPath, ...] = ()  # in each page: the result links it lists
    link_url: tuple[FieldPath, ...] = ()  # in each link object (default: its `url`)
    link_expires_at: tuple[FieldPath, ...] = ()  # in each link object
    link_headers: tuple[FieldPath, ...] = ()  # in each link object: headers its GET must send


@dataclass(frozen=True, kw_only=True)
class ResultSpec:
    url: tuple[FieldPath, ...] = ()  # in the answer (or in the `fetch` answer)
    url_template: str | None = None  # or: built from the job's values
    fetch: str | None = None  # a URL template whose answer holds `url` (a second request)
    filename: str | None = None
    filename_from_url: bool = True
    expiry: str | None = None
    expires_at: tuple[FieldPath, ...] = ()
    ttl: float | None = None
    needs_auth: bool = False
    checksum: tuple[FieldPath, ...] = ()
    decompress: bool = False  # gunzip a link whose name ends in .gz
    compression: tuple[
        FieldPath, ...
    ] = ()  # or: where the answer says GZIP  # in each link object, or in the answer for one link
    checksum_algorithm: str | None = None
    # added to each link's query when it lacks them (UniProt's `format`, `size`), never replacing
    query: tuple[tuple[str, str], ...] = ()
    pages: PageSpec | None = None  # the result comes in pages, one result each
    # headers the link's GET must send (an object of name: value), in each link object or in
    # the answer for one link; secrets-like (a decryption key), sent to the link's origin only
    link_headers: tuple[FieldPath, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Profile:
    """A provider described by data: see docs/profiles.md for each field's meaning."""

    id: str
    name: str
    base_url: str
    auth: AuthSpec
    states: Mapping[str, JobState]
    fields: Mapping[str, tuple[FieldPath, ...]]
    status_url_template: str | None = None
    secret_label: str = "Secret"
    answers: str = "json"
    job_noun: str = "job"
    id_noun: str = "job id"
    submit: SubmitSpec = field(default_factory=SubmitSpec)
    initial_state: JobState = JobState.QUEUED  # of a submit answer without a state
    absent_state: JobState | None = None  # of a poll answer without one (None: an error)
    poll: PollPolicy = field(default_factory=PollPolicy)
    poll_request: PollRequest = field(default_factory=PollRequest)
    result_hosts: tuple[str, ...] = ()  # origins that get the credentials too (never by redirect)
    results: tuple[ResultSpec, ...] = ()
    source: str = "<profile>"


def normalise_state(raw: str) -> str:
    """How raw states are compared: case-insensitive, ignoring spaces, `_` and `-`."""
    return re.sub(r"[\s_-]", "", raw.lower())
