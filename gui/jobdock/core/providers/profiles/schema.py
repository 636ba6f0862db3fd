"""The checks that turn a parsed TOML table into a `Profile` (profile.py; the format is
docs/profiles.md). `build_profile` collects every problem it finds — unknown and missing keys,
wrong types (values.py), malformed paths and templates, a `[states]` table without a way to
succeed — as `Problem`s naming the dotted key, and raises them together in a `ProfileError`; the
loader adds file names and line numbers. The profile's types are re-exported from here, where
they were defined before profile.py and values.py were split off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from jobdock.core.model.job import JobState
from jobdock.core.net.inputs import quoted
from jobdock.core.providers.base import PollPolicy
from jobdock.core.providers.profiles.paths import FieldPath
from jobdock.core.providers.profiles.profile import (
    ORIGIN,
    AuthSpec,
    PageSpec,
    PollRequest,
    Problem,
    Profile,
    ProfileError,
    ResultSpec,
    SubmitSpec,
    format_problem,
    normalise_state,
)
from jobdock.core.providers.profiles.values import (
    GRANTS,
    MAX_FACTOR,
    MAX_PAGES,
    MAX_SECONDS,
    as_body,
    as_bool,
    as_error_statuses,
    as_factor,
    as_grants,
    as_http_url,
    as_nonempty,
    as_one_of,
    as_origins,
    as_page_count,
    as_path,
    as_positive,
    as_profile_id,
    as_query,
    as_state,
    as_statuses,
    as_string,
    as_template,
    as_token,
    as_token_url,
    as_url_template,
    result_origin,
    type_name,
)

__all__ = ["GRANTS", "MAX_FACTOR", "MAX_PAGES", "MAX_SECONDS", "ORIGIN", "AuthSpec", "PageSpec",
           "PollRequest", "Problem", "Profile", "ProfileError", "ResultSpec", "SubmitSpec",
           "build_profile", "format_problem", "normalise_state", "result_origin"]  # fmt: skip

AUTH_KINDS = ("header", "bearer", "basic", "query", "none", "oauth2")
ANSWER_FORMATS = ("json", "xml")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EXPIRY_MODES = ("presigned-url",)
CHECKSUM_ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "crc32c", "crc32")  # `digests`
FIELD_NAMES = ("id", "status_url", "state", "progress", "progress_done", "progress_total",
               "created", "finished", "error", "log")  # fmt: skip
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


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(key=key, message=message))

    def table(self, data: object, key: str, kind: str) -> dict[str, Any]:
        """`data` as a table with only known keys and every required one (else problems)."""
        if not isinstance(data, dict):
            self.add(key, f"expected a table, got {type_name(data)}")
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
            found = [self.value({name: v}, key, name, as_path) for v in value]
            return tuple(p for p in found if p is not None)
        path: FieldPath | None = self.value(data, key, name, as_path)
        return (path,) if path is not None else ()


def build_profile(data: Mapping[str, Any], *, source: str) -> Profile:
    """The profile `data` describes, or `ProfileError` listing every problem in it."""
    c = _Checker()
    top = c.table(dict(data), "", "")
    pid = c.value(top, "", "id", as_profile_id)
    name = c.value(top, "", "name", as_nonempty)
    base_url = c.value(top, "", "base_url", as_http_url)
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
        initial_state=c.value(top, "", "initial_state", as_state) or JobState.QUEUED,
        absent_state=c.value(top, "", "absent_state", as_state),
        poll=_poll(c, top.get("poll", {})),
        poll_request=_poll_request(c, top.get("poll", {})),
        result_hosts=c.value(top, "", "result_hosts", as_origins) or (),
        results=tuple(_results(c, top.get("results", []))),
        source=source,
    )
    extras = {
        key: c.value(top, "", key, check)
        for key, check in (
            ("secret_label", as_nonempty),
            ("job_noun", as_nonempty),
            ("id_noun", as_nonempty),
            ("answers", as_one_of(ANSWER_FORMATS)),
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
    kind = c.value(table, "auth", "kind", as_one_of(AUTH_KINDS)) or "bearer"
    name = c.value(table, "auth", "name", as_token)
    if kind in ("header", "query") and name is None and "name" not in table:
        what = "header" if kind == "header" else "query parameter"
        c.add("auth.name", f"missing: kind = {kind!r} needs the {what}'s name")
    if kind in ("bearer", "basic", "none") and "name" in table:
        c.add("auth.name", f"not used with kind = {kind!r} (only with header, query or oauth2)")
    scheme = c.value(table, "auth", "scheme", as_token)
    grant = c.value(table, "auth", "grant", as_one_of(GRANTS))
    grants = c.value(table, "auth", "grants", as_grants)
    token_url = c.value(table, "auth", "token_url", as_token_url)
    scope = c.value(table, "auth", "scope", as_nonempty)
    renew_on = c.value(table, "auth", "renew_on", as_statuses)
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
        c.add("states", f"expected a table of raw state = canonical state, got {type_name(data)}")
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
    template = c.value(table, "fields", "status_url_template", as_template({"id", "path"}))
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
    query = c.value(table, "submit", "query", as_query) or ()
    body = c.value(table, "submit", "body", as_body)
    return SubmitSpec(
        method=c.value(
            table, "submit", "method", lambda v: as_one_of(METHODS)(as_string(v).upper())
        )
        or "GET",
        path=c.value(table, "submit", "path", as_string) or "",
        query=query,
        body=body,
        content_type=c.value(table, "submit", "content_type", as_nonempty),
    )


def _poll(c: _Checker, data: object) -> PollPolicy:
    table = c.table(data, "poll", "poll")
    values = {
        name: c.value(table, "poll", name, as_factor if name == "factor" else as_positive)
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
    method = c.value(table, "poll", "method", lambda v: as_one_of(METHODS)(as_string(v).upper()))
    follow = c.value(table, "poll", "follow_redirects", as_bool)
    return PollRequest(
        method=method or "GET",
        body=c.value(table, "poll", "body", as_body),
        content_type=c.value(table, "poll", "content_type", as_nonempty),
        follow_redirects=True if follow is None else follow,
        error_answers=c.value(table, "poll", "error_answers", as_error_statuses) or (),
    )


def _results(c: _Checker, data: object) -> list[ResultSpec]:
    if not isinstance(data, list):
        c.add("results", f"expected an array of tables ([[results]]), got {type_name(data)}")
        return []
    specs = []
    for index, entry in enumerate(data):
        key = f"results[{index}]"
        table = c.table(entry, key, "results")
        url = c.paths(table, key, "url")
        template = c.value(table, key, "url_template", as_url_template(URL_VALUES))
        fetch = c.value(table, key, "fetch", as_url_template(URL_VALUES))
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
        filename = c.value(table, key, "filename", as_template(None))
        if filename and "{page}" in filename and pages is None:
            c.add(f"{key}.filename", "{page} needs a [results.pages] table")
        from_url = c.value(table, key, "filename_from_url", as_bool)
        specs.append(
            ResultSpec(
                url=url,
                url_template=template,
                fetch=fetch,
                filename=filename,
                filename_from_url=(("filename" not in table) if from_url is None else from_url),
                expiry=c.value(table, key, "expiry", as_one_of(EXPIRY_MODES)),
                expires_at=c.paths(table, key, "expires_at"),
                ttl=c.value(table, key, "ttl", as_positive),
                needs_auth=bool(c.value(table, key, "needs_auth", as_bool)),
                checksum=c.paths(table, key, "checksum"),
                decompress=bool(c.value(table, key, "decompress", as_bool)),
                compression=c.paths(table, key, "compression"),
                checksum_algorithm=c.value(
                    table, key, "checksum_algorithm", as_one_of(CHECKSUM_ALGORITHMS)
                ),
                query=c.value(table, key, "query", as_query) or (),
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
    next_query = c.value(table, key, "next_query", as_token)
    end_value = c.value(table, key, "end_value", as_nonempty)
    max_pages = c.value(table, key, "max_pages", as_page_count)
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


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
