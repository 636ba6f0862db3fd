"""Limits and checks on input Jobdock does not control — a server's answers and headers, a
user's arguments, profile files: JSON read with a bound on nesting (Python's parsers recurse and
a few kilobytes of brackets would end in `RecursionError`), URLs that must be http(s) with a
usable host and port, values that must be finite positive numbers, text that must be one line,
and `quoted`, the one way an error message repeats what it was given (cut to a sane length, so a
100 kB argument does not become a 100 kB error line).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

MAX_NESTING = 100  # JSON/TOML levels; real job answers and profiles use fewer than ten
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a status answer (a result file has no such limit)
MAX_REF_CHARS = 8 * 1024  # a job id or status URL given to `track`
QUOTE_LIMIT = 80
# A Retry-After longer than this is treated as this (a server asking for a day is clamped; the
# job's own deadline still applies).
MAX_RETRY_AFTER = 6 * 3600.0


class NestingError(ValueError):
    """JSON or TOML nested deeper than `MAX_NESTING` (a `ValueError`, like malformed JSON)."""


def quoted(value: object, *, limit: int = QUOTE_LIMIT) -> str:
    """`value` as an error message quotes it: `repr`, cut to about `limit` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value)):,} characters)"


def clip_line(text: str, *, limit: int = 1000) -> str:
    """The first line of `text`, cut to `limit` characters (the last guard before a terminal)."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def nesting_depth_exceeds(data: object, limit: int = MAX_NESTING) -> bool:
    """Whether lists/dicts in `data` nest deeper than `limit` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Any
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def load_json(data: str | bytes | bytearray) -> Any:
    """`json.loads`, with too deep nesting refused as `NestingError` (a `ValueError`)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise NestingError(f"JSON nested more than {MAX_NESTING} levels deep") from None
    if nesting_depth_exceeds(value):
        raise NestingError(f"JSON nested more than {MAX_NESTING} levels deep")
    return value


def url_problem(url: str) -> str | None:
    """Why `url` cannot be requested (not http(s), no host, a bad port, broken IPv6), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:  # the only refusal of urlsplit: "[::1" without its bracket
        return "a URL with a broken IPv6 address (an unclosed '[')"
    try:
        port = parts.port  # ValueError for "h:abc" and "h:99999"
        host = parts.hostname
    except ValueError:
        return f"a URL with a bad port ({quoted(parts.netloc.rpartition(':')[2], limit=20)})"
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"a {parts.scheme}: URL" if parts.scheme else "not an absolute URL"
        return f"{scheme}, not http:// or https://"
    if not host:
        return "a URL without a host"
    if port == 0:
        return "a URL with port 0"
    if has_line_break(url) or any(ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        return "a URL with control characters"
    return None


def has_line_break(text: str) -> bool:
    """CR or LF (or NUL) in text bound for a request line or header, where it would split it."""
    return any(ch in text for ch in "\r\n\x00")


def positive_seconds(raw: str, *, what: str) -> float:
    """`raw` as a finite number of seconds above zero; `ValueError` saying why not."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{what} must be a number of seconds, got {quoted(raw)}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {quoted(raw)}")
    return value
