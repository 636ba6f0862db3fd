"""What a provider profile holds, and the checks that turn a parsed TOML table into one (the format
is docs/profiles.md). `build_profile` collects every problem it finds — unknown and missing keys,
wrong types, malformed paths and templates, a `[states]` table without a way to succeed —
as `Problem`s naming the dotted key, and raises them together in a `ProfileError`; the loader adds
file names and line numbers. Every field and result path may be a list of paths, first match wins.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from jobdock.core.model.errors import ConfigError
from jobdock.core.model.job import JobState, origin_of
from jobdock.core.net.inputs import quoted
from jobdock.core.providers.base import PollPolicy
from jobdock.core.providers.profiles.paths import FieldPath, parse_path
from jobdock.core.providers.profiles.templates import unknown_placeholders

AUTH_KINDS = ("header", "bearer", "basic", "query", "none", "oauth2")
GRANTS = ("client_credentials", "refresh_token")
ANSWER_FORMATS = ("json", "xml")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EXPIRY_MODES = ("presigned-url",)
CHECKSUM_ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "crc32c", "crc32")  # `digests`
FIELD_NAMES = ("id", "status_url", "state", "progress", "progress_done", "progress_total",
               "created", "finished", "error", "log")  # fmt: skip
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token: header or parameter name
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Headers the client sets on every request itself: an oauth2 token cannot go in one of them.
_NOT_TOKEN_HEADERS = frozenset({"content-type", "content-length", "host", "user-agent",
                                "accept", "accept-encoding", "connection"})  # fmt: skip

KEYS: dict[str, tuple[str, ...]] = {
    "": ("id", "name", "base_url", "secret_label", "answers", "job_noun", "id_noun", "auth",
         "submit", "fields", "states", "initial_state", "absent_state", "poll", "results",
         "result_hosts"),
    "auth": ("kind", "name", "scheme", "grant", "grants", "token_url", "scope", "renew_on"),
    "submit": ("method", "path", "query", "body", "content_type"),
    "fields": (*FIELD_NAMES, "status_url_template"),
    "poll": ("first_delay", "min", "max", "factor", "deadline", "method", "body", "content_type",
             "follow_redirects", "error_answers"),
    "results": ("url", "url_template", "fetch", "filename", "filename_from_url", "expiry",
                "expires_at", "ttl", "needs_auth", "decompress", "compression", "checksum",
                "checksum_algorithm", "query", "pages", "link_headers"),
    "pages": ("next", "next_query", "end_value", "max_pages", "links", "link_url",
              "link_expires_at", "link_headers"),
}  # fmt: skip
REQUIRED: dict[str, tuple[str, ...]] = {
    "": ("id", "name", "base_url", "auth", "fields", "states"),
    "auth": ("kind",),
    "fields": ("state",),
    "pages": ("next",),
}
TIMINGS = ("first_delay", "min", "max", "factor", "deadline")
URL_VALUES = {"id", "status_url", "answer."}  # placeholders of result URL templates
MAX_PAGES = 10_000  # the most `[results.pages] max_pages` may say
MAX_SECONDS = 10 * 365 * 86400.0  # the longest a profile's time (poll timings, ttl) may be
ORIGIN = "{origin}"  # in `[auth] token_url`: the account's base URL's scheme://host[:port]
MAX_FACTOR = 1000.0  # the most a poll backoff factor may be (factor**60 stays a float)


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


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(key=key, message=message))

    def table(self, data: object, key: str, kind: str) -> dict[str, Any]:
        """`data` as a table with only known keys and every required one (else problems)."""
        if not isinstance(data, dict):
            self.add(key, f"expected a table, got {_type(data)}")
            return {}
        allowed = KEYS[kind]
        for name in data:
            if name not in allowed:
                self.add(_join(key, name), f"unknown key (expected one of: {', '.join(allowed)})")
        for name in REQUIRED.get(kind, ()):
            if name not in data:
                self.add(_join(key, name), "missing: this key is required")
        return data

    def value(
        self, data: Mapping[str, Any], key: str, name: str, check: Callable[[Any], Any]
    ) -> Any:
        if name not in data:
            return None
        try:
            return check(data[name])
        except ValueError as exc:
            self.add(_join(key, name), str(exc))
            return None

    def paths(self, data: Mapping[str, Any], key: str, name: str) -> tuple[FieldPath, ...]:
        """A path, or a list of paths tried in order."""
        value = data.get(name)
        if isinstance(value, list):
            if not value:
                self.add(_join(key, name), "expected a path or a non-empty list of paths")
            found = [self.value({name: v}, key, name, _path) for v in value]
            return tuple(p for p in found if p is not None)
        path: FieldPath | None = self.value(data, key, name, _path)
        return (path,) if path is not None else ()


def build_profile(data: Mapping[str, Any], *, source: str) -> Profile:
    """The profile `data` describes, or `ProfileError` listing every problem in it."""
    c = _Checker()
    top = c.table(dict(data), "", "")
    pid = c.value(top, "", "id", _profile_id)
    name = c.value(top, "", "name", _nonempty)
    base_url = c.value(top, "", "base_url", _http_url)
    auth = _auth(c, top.get("auth"))
    states = _states(c, top.get("states"))
    fields, template = _fields(c, top.get("fields", {}))
    profile = Profile(
        id=pid or "invalid",
        name=name or "invalid",
        base_url=base_url or "https://invalid",
        auth=auth,
        states=states,
        fields=fields,
        status_url_template=template,
        submit=_submit(c, top.get("submit", {})),
        initial_state=c.value(top, "", "initial_state", _canonical) or JobState.QUEUED,
        absent_state=c.value(top, "", "absent_state", _canonical),
        poll=_poll(c, top.get("poll", {})),
        poll_request=_poll_request(c, top.get("poll", {})),
        result_hosts=c.value(top, "", "result_hosts", _origins) or (),
        results=tuple(_results(c, top.get("results", []))),
        source=source,
    )
    extras = {
        key: c.value(top, "", key, check)
        for key, check in (
            ("secret_label", _nonempty),
            ("job_noun", _nonempty),
            ("id_noun", _nonempty),
            ("answers", _one_of(ANSWER_FORMATS)),
        )
    }
    profile = replace(profile, **{k: v for k, v in extras.items() if v is not None})
    if c.problems:
        raise ProfileError(source, c.problems)
    return profile


def _auth(c: _Checker, data: object) -> AuthSpec:
    if data is None:
        return AuthSpec(kind="bearer")
    table = c.table(data, "auth", "auth")
    kind = c.value(table, "auth", "kind", _one_of(AUTH_KINDS)) or "bearer"
    name = c.value(table, "auth", "name", _token)
    if kind in ("header", "query") and name is None and "name" not in table:
        what = "header" if kind == "header" else "query parameter"
        c.add("auth.name", f"missing: kind = {kind!r} needs the {what}'s name")
    if kind in ("bearer", "basic", "none") and "name" in table:
        c.add("auth.name", f"not used with kind = {kind!r} (only with header, query or oauth2)")
    scheme = c.value(table, "auth", "scheme", _token)
    grant = c.value(table, "auth", "grant", _one_of(GRANTS))
    grants = c.value(table, "auth", "grants", _grants)
    token_url = c.value(table, "auth", "token_url", _token_url)
    scope = c.value(table, "auth", "scope", _nonempty)
    renew_on = c.value(table, "auth", "renew_on", _statuses)
    if kind == "oauth2":
        for needed in ("grant", "token_url"):
            if needed not in table:
                c.add(f"auth.{needed}", "missing: kind = 'oauth2' needs it")
        if name is not None and name.lower() in _NOT_TOKEN_HEADERS:
            c.add("auth.name", f"{name!r} cannot carry the token (a header every request sets)")
        if grant is not None and grants is not None and grant not in grants:
            c.add("auth.grants", f"does not include grant = {grant!r} (an account's default)")
    else:
        for extra in ("scheme", "grant", "grants", "token_url", "scope", "renew_on"):
            if extra in table:
                c.add(f"auth.{extra}", f"not used with kind = {kind!r} (only with oauth2)")
    allowed: tuple[str, ...] = ()
    if kind == "oauth2" and grant is not None:  # the default first, then the others allowed
        allowed = (grant, *(g for g in grants or GRANTS if g != grant))
    return AuthSpec(kind=kind, name=name, scheme=scheme, grant=grant, grants=allowed,
                    token_url=token_url, scope=scope, renew_on=renew_on or (401,))  # fmt: skip


def _states(c: _Checker, data: object) -> dict[str, JobState]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        c.add("states", f"expected a table of raw state = canonical state, got {_type(data)}")
        return {}
    states: dict[str, JobState] = {}
    canonical = ", ".join(s.value for s in JobState)
    for raw, value in data.items():
        key = _join("states", raw)
        if not isinstance(value, str) or value not in JobState.__members__.values():
            c.add(key, f"expected one of {canonical}, got {quoted(value)}")
            continue
        norm = normalise_state(raw)
        if norm in states and states[norm] != JobState(value):
            c.add(key, f"conflicts with another raw state that compares equal ({norm!r})")
        states[norm] = JobState(value)
    # An API may report no failure at all (Mailchimp batches); every job API can succeed.
    if JobState.SUCCEEDED not in states.values():
        c.add("states", "no raw state maps to 'succeeded' (needed: a way to succeed)")
    return states


def _fields(c: _Checker, data: object) -> tuple[dict[str, tuple[FieldPath, ...]], str | None]:
    table = c.table(data, "fields", "fields")
    fields: dict[str, tuple[FieldPath, ...]] = {}
    for name in FIELD_NAMES:
        paths = c.paths(table, "fields", name)
        if paths:
            fields[name] = paths
    template = c.value(table, "fields", "status_url_template", _template({"id", "path"}))
    if ("progress_done" in table) != ("progress_total" in table):
        c.add("fields", "give progress_done and progress_total together (done/total is the "
              "progress)")  # fmt: skip
    elif "progress" in table and "progress_done" in table:
        c.add("fields", "give progress (a percent) or progress_done and progress_total, not both")
    if table and not ({"id", "status_url"} & table.keys()):
        c.add("fields", "missing: `id` or `status_url` (how else would the job be found again?)")
    if "id" in table and "status_url" not in table and "status_url_template" not in table:
        c.add("fields", "missing: `status_url` or `status_url_template` (where to poll a job id)")
    return fields, template


def _submit(c: _Checker, data: object) -> SubmitSpec:
    table = c.table(data, "submit", "submit")
    query = c.value(table, "submit", "query", _query) or ()
    body = c.value(table, "submit", "body", _body)
    return SubmitSpec(
        method=c.value(table, "submit", "method", lambda v: _one_of(METHODS)(_string(v).upper()))
        or "GET",
        path=c.value(table, "submit", "path", _string) or "",
        query=query,
        body=body,
        content_type=c.value(table, "submit", "content_type", _nonempty),
    )


def _poll(c: _Checker, data: object) -> PollPolicy:
    table = c.table(data, "poll", "poll")
    values = {
        name: c.value(table, "poll", name, _factor if name == "factor" else _positive)
        for name in TIMINGS
    }
    policy = PollPolicy()
    renamed = {"min": "min_interval", "max": "max_interval"}
    given = {renamed.get(k, k): v for k, v in values.items() if v is not None}
    policy = replace(policy, **given)
    if policy.min_interval > policy.max_interval:
        c.add("poll.min", f"min ({policy.min_interval:g}) is above max ({policy.max_interval:g})")
    if policy.factor < 1:
        c.add("poll.factor", f"expected a factor of at least 1, got {policy.factor:g}")
    return policy


def _poll_request(c: _Checker, data: object) -> PollRequest:
    table = data if isinstance(data, dict) else {}  # `_poll` reports what is wrong with it
    method = c.value(table, "poll", "method", lambda v: _one_of(METHODS)(_string(v).upper()))
    follow = c.value(table, "poll", "follow_redirects", _bool)
    return PollRequest(
        method=method or "GET",
        body=c.value(table, "poll", "body", _body),
        content_type=c.value(table, "poll", "content_type", _nonempty),
        follow_redirects=True if follow is None else follow,
        error_answers=c.value(table, "poll", "error_answers", _error_statuses) or (),
    )


def _error_statuses(value: object) -> tuple[int, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and 400 <= v <= 599
                       for v in value)):  # fmt: skip
        raise ValueError(f"expected a non-empty array of HTTP error statuses (400-599), "
                         f"got {value!r}")  # fmt: skip
    return tuple(value)


def _results(c: _Checker, data: object) -> list[ResultSpec]:
    if not isinstance(data, list):
        c.add("results", f"expected an array of tables ([[results]]), got {_type(data)}")
        return []
    specs = []
    for index, entry in enumerate(data):
        key = f"results[{index}]"
        table = c.table(entry, key, "results")
        url = c.paths(table, key, "url")
        template = c.value(table, key, "url_template", _url_template(URL_VALUES))
        fetch = c.value(table, key, "fetch", _url_template(URL_VALUES))
        if isinstance(table, dict) and table and ("url" in table) == ("url_template" in table):
            c.add(key, "give one of url (a path) and url_template")
        if "fetch" in table and "url" not in table:
            c.add(key, "fetch needs url: the path to the link in the fetched answer")
        expiry_keys = [k for k in ("expiry", "expires_at", "ttl") if k in table]
        if len(expiry_keys) > 1:
            given = ", ".join(expiry_keys)
            c.add(key, f"give at most one of expiry, expires_at, ttl (got {given})")
        if ("checksum" in table) != ("checksum_algorithm" in table):
            c.add(key, "give checksum and checksum_algorithm together")
        pages = _pages(c, table.get("pages"), f"{key}.pages") if "pages" in table else None
        if pages is not None and "checksum" in table:
            c.add(f"{key}.pages", "not with checksum: an answer's checksum is of one file")
        if pages is not None and pages.links and "expires_at" in table:
            c.add(f"{key}.expires_at", "not with pages that list links: give the pages' "
                  "link_expires_at (each link's own expiry time)")  # fmt: skip
        if pages is not None and "link_headers" in table:
            c.add(f"{key}.link_headers", "not with pages: give the pages' link_headers (in "
                  "each link object the pages list)")  # fmt: skip
        filename = c.value(table, key, "filename", _template(None))
        if filename and "{page}" in filename and pages is None:
            c.add(f"{key}.filename", "{page} needs a [results.pages] table")
        from_url = c.value(table, key, "filename_from_url", _bool)
        specs.append(
            ResultSpec(
                url=url,
                url_template=template,
                fetch=fetch,
                filename=filename,
                filename_from_url=(("filename" not in table) if from_url is None else from_url),
                expiry=c.value(table, key, "expiry", _one_of(EXPIRY_MODES)),
                expires_at=c.paths(table, key, "expires_at"),
                ttl=c.value(table, key, "ttl", _positive),
                needs_auth=bool(c.value(table, key, "needs_auth", _bool)),
                checksum=c.paths(table, key, "checksum"),
                decompress=bool(c.value(table, key, "decompress", _bool)),
                compression=c.paths(table, key, "compression"),
                checksum_algorithm=c.value(
                    table, key, "checksum_algorithm", _one_of(CHECKSUM_ALGORITHMS)
                ),
                query=c.value(table, key, "query", _query) or (),
                pages=pages,
                link_headers=_body_paths(c, table, key, "link_headers"),
            )
        )
    return specs


def _pages(c: _Checker, data: object, key: str) -> PageSpec | None:
    table = c.table(data, key, "pages")
    paths = c.paths(table, key, "next")
    if any(p.status or p.present for p in paths):
        c.add(f"{key}.next", "expected a `header:Name` or a body path to the next page")
    next_query = c.value(table, key, "next_query", _token)
    end_value = c.value(table, key, "end_value", _nonempty)
    max_pages = c.value(table, key, "max_pages", _page_count)
    links = c.paths(table, key, "links")
    link_url = c.paths(table, key, "link_url")
    link_expires_at = c.paths(table, key, "link_expires_at")
    link_headers = _body_paths(c, table, key, "link_headers")
    for name, found in (("links", links), ("link_url", link_url),
                        ("link_expires_at", link_expires_at)):  # fmt: skip
        if any(p.header or p.status or p.present for p in found):
            c.add(f"{key}.{name}", "expected a path into the body (not header:, present: or "
                  "http:status)")  # fmt: skip
    for name in ("link_url", "link_expires_at", "link_headers"):
        if name in table and "links" not in table:
            c.add(f"{key}.{name}", "needs links: the path to the links each page lists")
    if not paths:
        return None
    return PageSpec(next=paths, next_query=next_query, end_value=end_value,
                    max_pages=max_pages or 1000, links=links, link_url=link_url,
                    link_expires_at=link_expires_at, link_headers=link_headers)  # fmt: skip


def _body_paths(
    c: _Checker, table: Mapping[str, Any], key: str, name: str
) -> tuple[FieldPath, ...]:
    """Paths into an answer's body only (not `header:`, `present:` or `http:status`)."""
    found = c.paths(table, key, name)
    if any(p.header or p.status or p.present for p in found):
        c.add(f"{key}.{name}", "expected a path into the body (not header:, present: or "
              "http:status)")  # fmt: skip
    return found


def _statuses(value: object) -> tuple[int, ...]:
    """`[auth] renew_on`: a non-empty array of 4xx statuses (`[401, 403]`)."""
    if (not isinstance(value, list) or not value
            or not all(type(v) is int and 400 <= v <= 499 for v in value)):  # fmt: skip
        raise ValueError(f"expected a non-empty array of 4xx statuses ([401, 403]), got "
                         f"{quoted(value)}")  # fmt: skip
    return tuple(dict.fromkeys(value))


def _grants(value: object) -> tuple[str, ...]:
    """`[auth] grants`: a non-empty array of grants, each once (`["refresh_token"]`)."""
    if (not isinstance(value, list) or not value or len(set(map(str, value))) != len(value)
            or not all(isinstance(v, str) and v in GRANTS for v in value)):  # fmt: skip
        raise ValueError(f"expected a non-empty array of grants, each once, from "
                         f"{', '.join(GRANTS)}; got {quoted(value)}")  # fmt: skip
    return tuple(value)


def _page_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGES:
        raise ValueError(f"expected a whole number from 1 to {MAX_PAGES}, got {quoted(value)}")
    return value


# value checks: each returns the value or raises ValueError with what was expected -------------
def _type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "a table"})
    return names.get(type(value), type(value).__name__)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type(value)}")
    return value


def _nonempty(value: object) -> str:
    if not _string(value).strip():
        raise ValueError("expected a non-empty string")
    return str(value).strip()


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_type(value)}")
    return value


def _positive(value: object) -> float:
    """A finite number of seconds above zero, at most `MAX_SECONDS` (TOML's `nan` and `inf`
    are floats too: refused here rather than failing the poll that uses them)."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 < value <= MAX_SECONDS):  # fmt: skip
        raise ValueError(
            f"expected a positive number of seconds (at most {MAX_SECONDS:g}), got {quoted(value)}"
        )
    return float(value)


def _factor(value: object) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 < value <= MAX_FACTOR):  # fmt: skip
        raise ValueError(f"expected a number from 1 to {MAX_FACTOR:g}, got {quoted(value)}")
    return float(value)


def _path(value: object) -> FieldPath:
    return parse_path(_string(value))


def result_origin(text: str) -> str:
    """`files.stripe.com` → `https://files.stripe.com`; an `http(s)://host[:port]` origin as it
    is (lower-cased); `ValueError` for anything with a path, query or credentials."""
    text = text.strip()
    url = text if "://" in text else f"https://{text}"
    parts = urlsplit(url)
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.username
            or parts.path.strip("/") or parts.query or parts.fragment):  # fmt: skip
        raise ValueError(
            f"expected a host name (files.example.com) or an origin, got {quoted(text)}"
        )
    return origin_of(url)


def _origins(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected an array of host names, got {_type(value)}")
    return tuple(result_origin(v) for v in value)


def _canonical(value: object) -> JobState:
    if not isinstance(value, str) or value not in JobState.__members__.values():
        known = ", ".join(s.value for s in JobState)
        raise ValueError(f"expected one of {known}, got {quoted(value)}")
    return JobState(value)


def _url_template(allowed: set[str]) -> Callable[[object], str]:
    """A URL template: `{id}`, `{status_url}`, `{answer.PATH}` (a valid path) and `{now…}`."""

    def check(value: object) -> str:
        text = _nonempty(value)
        for name in unknown_placeholders(text, allowed):
            raise ValueError(f"unknown placeholder {{{name}}} (known: {{id}}, {{status_url}}, "
                             "{answer.PATH}, {now…})")  # fmt: skip
        for name in _PLACEHOLDER.findall(text):
            if name.startswith("answer."):
                parse_path(name[len("answer.") :])
        return text

    return check


def _profile_id(value: object) -> str:
    if not _ID.match(_string(value)):
        raise ValueError(f"expected lower-case letters, digits and dashes, got {quoted(value)}")
    return str(value)


def _http_url(value: object) -> str:
    if not _string(value).startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {quoted(value)}")
    return str(value)


def _token_url(value: object) -> str:
    """An http(s) URL, or one that starts `{origin}` (the account's origin), no other
    placeholder."""
    text = _string(value)
    rest = text.removeprefix(ORIGIN)
    if rest != text:
        if "{" in rest or "}" in rest or (rest and not rest.startswith("/")):
            raise ValueError(f"expected {ORIGIN} then a path (/services/oauth2/token), got "
                             f"{quoted(value)}")  # fmt: skip
        return text
    if "{" in text:
        raise ValueError(f"expected an http:// or https:// URL, or one starting {ORIGIN} (the "
                         f"account's origin), got {quoted(value)}")  # fmt: skip
    return _http_url(value)


def _token(value: object) -> str:
    if not _NAME.match(_string(value)):
        raise ValueError(f"expected a header or parameter name without spaces, got {quoted(value)}")
    return str(value)


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if _string(value) not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {quoted(value)}")
        return str(value)

    return check


def _template(allowed: set[str] | None) -> Callable[[object], str]:
    """A string whose `{placeholders}` are known (`None`: the file-name ones)."""

    def check(value: object) -> str:
        text = _nonempty(value)
        for name in _PLACEHOLDER.findall(text):
            ok = name in allowed if allowed is not None else _filename_placeholder(name)
            if not ok:
                known = ", ".join(
                    sorted(allowed or {"id", "n", "page", "param.NAME", "answer.PATH"})
                )
                raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
        return text

    return check


def _filename_placeholder(name: str) -> bool:
    if name.startswith("answer."):
        try:
            path = parse_path(name[len("answer.") :])
        except ValueError:
            return False
        return path.header is None and not path.status and not path.present
    return name in ("id", "n", "page") or (name.startswith("param.") and len(name) > len("param."))


def _query(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of name = value, got {_type(value)}")
    pairs = []
    for name, item in value.items():
        if isinstance(item, dict | list):
            raise ValueError(f"query parameter {quoted(name)}: expected a string or number")
        pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return tuple(pairs)


def _body(value: object) -> object:
    if isinstance(value, str | dict | list):
        try:
            json.dumps(value, allow_nan=False)
        except TypeError:  # TOML dates and times have no JSON form
            raise ValueError("expected JSON values (write dates as strings)") from None
        except ValueError:  # nor TOML's nan and inf
            raise ValueError("expected JSON values (nan and inf are not numbers in JSON)") from None
        return value
    raise ValueError(
        f"expected a string (sent as is) or a table (sent as JSON), not {_type(value)}"
    )
