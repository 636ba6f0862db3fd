"""Parsing helpers shared by the built-in providers: timestamps (ISO 8601 and Shoptet's `+0100`
style), expiry of pre-signed URLs, dotted lookups in JSON, `progress`-like values at any depth in
JSON or XML (parsed with defusedxml, namespaces ignored), file-name hints, one-line texts, and the
guard that keeps secrets out of error messages and turns stray parsing exceptions into
`ProtocolError`. The parsers are tolerant: bad input gives `None`, never an exception.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import httpx

from jobdock.core.model.errors import (
    ConfigError,
    JobdockError,
    ProtocolError,
    ProviderError,
    UsageError,
)
from jobdock.core.model.job import Account, origin_of
from jobdock.core.net.http import ApiSession
from jobdock.core.net.inputs import load_json
from jobdock.core.net.redaction import Redactor

RAW_LIMIT = 64 * 1024
LINE_LIMIT = 300

_SHOPTET_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def parse_timestamp(value: object) -> datetime | None:
    """A timezone-aware datetime from ISO 8601 (`Z`, `+01:00`, `+0100`, none = UTC) or epoch
    seconds; `None` for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _SHOPTET_OFFSET.sub(r"\1:\2", text) if "T" in text or " " in text else text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_shoptet_time(when: datetime) -> str:
    """`2019-01-09T14:13:39+0000`: the form Shoptet's list filters take."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def presigned_expiry(url: str) -> datetime | None:
    """When a pre-signed URL stops working, from its query (AWS SigV4 `X-Amz-Date` +
    `X-Amz-Expires`, GCS `X-Goog-*`, SigV2/CloudFront `Expires=<epoch>`, Azure SAS `se=`)."""
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    for prefix in ("x-amz-", "x-goog-"):
        start, seconds = query.get(prefix + "date"), query.get(prefix + "expires")
        if start and seconds and seconds.isdigit():
            try:
                signed = datetime.strptime(start, _AMZ_DATE).replace(tzinfo=UTC)
            except ValueError:
                continue
            return signed + timedelta(seconds=int(seconds))
    expires = query.get("expires")
    if expires and expires.isdigit():
        return parse_timestamp(int(expires))
    if "sig" in query and query.get("se"):
        return parse_timestamp(query["se"])
    return None


def dig(data: object, dotted: str) -> Any:
    """`dig(d, "a.b.0.c")`: nested lookup through dicts and lists; `None` when any step misses."""
    current: Any = data
    for step in dotted.split("."):
        if isinstance(current, dict):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


def find_json_values(data: object, key: str) -> Iterator[Any]:
    """Every value under `key` (case-insensitive) at any depth, depth first, document order."""
    wanted = key.lower()
    if isinstance(data, dict):
        for name, value in data.items():
            if isinstance(name, str) and name.lower() == wanted:
                yield value
            yield from find_json_values(value, key)
    elif isinstance(data, list):
        for item in data:
            yield from find_json_values(item, key)


def first_json_text(data: object, key: str) -> str | None:
    """The first non-empty string under `key` at any depth."""
    for value in find_json_values(data, key):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_xml(text: str) -> Element | None:
    """The root element, parsed safely (no entities, no DTD tricks); `None` when not XML."""
    try:
        root: Element = safe_xml.fromstring(text)
    except (ParseError, ValueError):  # defusedxml's refusals are ValueErrors
        return None
    return root


def first_xml_text(root: Element | None, name: str) -> str | None:
    """Text of the first element whose local name is `name` (case-insensitive), any namespace."""
    if root is None:
        return None
    wanted = name.lower()
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        if local.lower() == wanted and element.text and element.text.strip():
            return element.text.strip()
    return None


def load_body(response: httpx.Response) -> tuple[object | None, Element | None]:
    """The body as JSON or as XML, whichever it is (by content type, then by sniffing)."""
    text = response.text.strip() if response.content else ""
    if not text:
        return None, None
    kind = response.headers.get("content-type", "").lower()
    if "xml" in kind or (text.startswith("<") and "json" not in kind):
        return None, parse_xml(text)
    try:
        return load_json(text), None
    except ValueError:
        return None, None


def find_text(response: httpx.Response, name: str) -> str | None:
    """The first non-empty `name` field/element at any depth of a JSON or XML body."""
    data, root = load_body(response)
    return first_json_text(data, name) if root is None else first_xml_text(root, name)


def raw_text(response: httpx.Response) -> str | None:
    """The answer's body for the detail pane, cut to `RAW_LIMIT` characters."""
    if not response.content:
        return None
    text = response.text
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "\n… (truncated)"


def text_or_none(value: object) -> str | None:
    """A non-empty string, stripped; `None` for anything else."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """Whitespace collapsed, cut to `limit` characters: fit for an error message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_url(ref: str) -> bool:
    return urlsplit(ref).scheme.lower() in ("http", "https")


def check_ref_origin(account: Account, url: str, *, provider: str) -> str:
    """`url` if it is on the account's origin (only there do credentials go), else `UsageError`."""
    if origin_of(url) != account.origin:
        raise UsageError(
            f"{provider}: {url!r} is not on the account's origin {account.origin}; "
            "check the account's base URL or paste a URL from that server"
        )
    return url


@contextmanager
def guard(session: ApiSession, *, what: str) -> Iterator[None]:
    """Keep secrets out of escaping errors' messages; turn stray parsing exceptions into
    `ProtocolError` so only `core.errors` exceptions leave a provider."""
    try:
        yield
    except JobdockError as exc:
        _scrub(exc, session.redactor)
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"{what}: unexpected answer ({type(exc).__name__})") from None


def _scrub(exc: JobdockError, redact: Redactor) -> None:
    message = redact(exc.user_message)
    if isinstance(exc, ProviderError) and exc.body is not None:  # the only errors with a body
        exc.body = redact(exc.body)
    if message != exc.user_message:
        exc.user_message = message
        exc.args = (message,)


def basic_auth(account: Account, secret: str, *, provider: str) -> dict[str, str]:
    """`Authorization: Basic …` from the account's user name and the secret."""
    if not account.user:
        raise ConfigError(
            f"{provider}: account {account.name!r} needs a user name for HTTP Basic auth "
            "(set it with --user)"
        )
    token = base64.b64encode(f"{account.user}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}
