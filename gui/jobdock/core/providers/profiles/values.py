"""The checks of single values in a profile's TOML (schema.py checks the tables): each returns
the value as the profile holds it (a string, a number of seconds, a path, a state, a tuple of
origins, statuses or query pairs) or raises `ValueError` saying what was expected, which becomes
a `Problem` at the value's dotted key. `as_template` and `as_url_template` refuse unknown
placeholders; `result_origin` turns a host name into an origin (also for an account's
`result_hosts` option).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from jobdock.core.model.job import JobState, origin_of
from jobdock.core.net.inputs import quoted
from jobdock.core.providers.profiles.paths import FieldPath, parse_path
from jobdock.core.providers.profiles.profile import ORIGIN
from jobdock.core.providers.profiles.templates import unknown_placeholders

GRANTS = ("client_credentials", "refresh_token")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token: header or parameter name
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MAX_PAGES = 10_000  # the most `[results.pages] max_pages` may say
MAX_SECONDS = 10 * 365 * 86400.0  # the longest a profile's time (poll timings, ttl) may be
MAX_FACTOR = 1000.0  # the most a poll backoff factor may be (factor**60 stays a float)


def type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "a table"})
    return names.get(type(value), type(value).__name__)


def as_string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type_name(value)}")
    return value


def as_nonempty(value: object) -> str:
    if not as_string(value).strip():
        raise ValueError("expected a non-empty string")
    return str(value).strip()


def as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type_name(value)}")
    return value


def as_positive(value: object) -> float:
    """A finite number of seconds above zero, at most `MAX_SECONDS` (TOML's `nan` and `inf`
    are floats too: refused here rather than failing the poll that uses them)."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 < value <= MAX_SECONDS):  # fmt: skip
        raise ValueError(
            f"expected a positive number of seconds (at most {MAX_SECONDS:g}), got {quoted(value)}"
        )
    return float(value)


def as_factor(value: object) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 < value <= MAX_FACTOR):  # fmt: skip
        raise ValueError(f"expected a number from 1 to {MAX_FACTOR:g}, got {quoted(value)}")
    return float(value)


def as_path(value: object) -> FieldPath:
    return parse_path(as_string(value))


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


def as_origins(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected an array of host names, got {type_name(value)}")
    return tuple(result_origin(v) for v in value)


def as_state(value: object) -> JobState:
    if not isinstance(value, str) or value not in JobState.__members__.values():
        known = ", ".join(s.value for s in JobState)
        raise ValueError(f"expected one of {known}, got {quoted(value)}")
    return JobState(value)


def as_url_template(allowed: set[str]) -> Callable[[object], str]:
    """A URL template: `{id}`, `{status_url}`, `{answer.PATH}` (a valid path) and `{now…}`."""

    def check(value: object) -> str:
        text = as_nonempty(value)
        for name in unknown_placeholders(text, allowed):
            raise ValueError(f"unknown placeholder {{{name}}} (known: {{id}}, {{status_url}}, "
                             "{answer.PATH}, {now…})")  # fmt: skip
        for name in _PLACEHOLDER.findall(text):
            if name.startswith("answer."):
                parse_path(name[len("answer.") :])
        return text

    return check


def as_profile_id(value: object) -> str:
    if not _ID.match(as_string(value)):
        raise ValueError(f"expected lower-case letters, digits and dashes, got {quoted(value)}")
    return str(value)


def as_http_url(value: object) -> str:
    if not as_string(value).startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {quoted(value)}")
    return str(value)


def as_token_url(value: object) -> str:
    """An http(s) URL, or one that starts `{origin}` (the account's origin), no other
    placeholder."""
    text = as_string(value)
    rest = text.removeprefix(ORIGIN)
    if rest != text:
        if "{" in rest or "}" in rest or (rest and not rest.startswith("/")):
            raise ValueError(f"expected {ORIGIN} then a path (/services/oauth2/token), got "
                             f"{quoted(value)}")  # fmt: skip
        return text
    if "{" in text:
        raise ValueError(f"expected an http:// or https:// URL, or one starting {ORIGIN} (the "
                         f"account's origin), got {quoted(value)}")  # fmt: skip
    return as_http_url(value)


def as_token(value: object) -> str:
    if not _NAME.match(as_string(value)):
        raise ValueError(f"expected a header or parameter name without spaces, got {quoted(value)}")
    return str(value)


def as_one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if as_string(value) not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {quoted(value)}")
        return str(value)

    return check


def as_template(allowed: set[str] | None) -> Callable[[object], str]:
    """A string whose `{placeholders}` are known (`None`: the file-name ones)."""

    def check(value: object) -> str:
        text = as_nonempty(value)
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


def as_query(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of name = value, got {type_name(value)}")
    pairs = []
    for name, item in value.items():
        if isinstance(item, dict | list):
            raise ValueError(f"query parameter {quoted(name)}: expected a string or number")
        pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return tuple(pairs)


def as_body(value: object) -> object:
    if isinstance(value, str | dict | list):
        try:
            json.dumps(value, allow_nan=False)
        except TypeError:  # TOML dates and times have no JSON form
            raise ValueError("expected JSON values (write dates as strings)") from None
        except ValueError:  # nor TOML's nan and inf
            raise ValueError("expected JSON values (nan and inf are not numbers in JSON)") from None
        return value
    raise ValueError(
        f"expected a string (sent as is) or a table (sent as JSON), not {type_name(value)}"
    )


def as_statuses(value: object) -> tuple[int, ...]:
    """`[auth] renew_on`: a non-empty array of 4xx statuses (`[401, 403]`)."""
    if (not isinstance(value, list) or not value
            or not all(type(v) is int and 400 <= v <= 499 for v in value)):  # fmt: skip
        raise ValueError(f"expected a non-empty array of 4xx statuses ([401, 403]), got "
                         f"{quoted(value)}")  # fmt: skip
    return tuple(dict.fromkeys(value))


def as_grants(value: object) -> tuple[str, ...]:
    """`[auth] grants`: a non-empty array of grants, each once (`["refresh_token"]`)."""
    if (not isinstance(value, list) or not value or len(set(map(str, value))) != len(value)
            or not all(isinstance(v, str) and v in GRANTS for v in value)):  # fmt: skip
        raise ValueError(f"expected a non-empty array of grants, each once, from "
                         f"{', '.join(GRANTS)}; got {quoted(value)}")  # fmt: skip
    return tuple(value)


def as_page_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGES:
        raise ValueError(f"expected a whole number from 1 to {MAX_PAGES}, got {quoted(value)}")
    return value


def as_error_statuses(value: object) -> tuple[int, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and 400 <= v <= 599
                       for v in value)):  # fmt: skip
        raise ValueError(f"expected a non-empty array of HTTP error statuses (400-599), "
                         f"got {value!r}")  # fmt: skip
    return tuple(value)
