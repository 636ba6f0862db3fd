"""What crosses the simulator's wire: parsed requests, replies, the record of every request, and
the small formatting helpers (JSON and XML bodies, HTTP and ISO dates) the fakes share.

The fakes are written as functions from a `Request` to a `Reply`; only the storage origin, which
streams and breaks connections on purpose, talks to the lower-level `Responder` directly.
"""

from __future__ import annotations

import email.utils
import hmac
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol
from urllib.parse import parse_qsl

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request as a fake sees it. `path` is percent-decoded; header names are lower-case."""

    method: str
    path: str
    raw_path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    at: float

    @property
    def params(self) -> dict[str, str]:
        """Query parameters (the last value wins)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A complete answer; `Content-Length` is added when it is sent."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Headers = ()

    def with_headers(self, *extra: tuple[str, str]) -> Reply:
        return replace(self, headers=self.headers + tuple(extra))


def echoing(reply: Reply, key: str) -> Reply:
    """`reply` as a careless server sends it: an error that names the key it was given."""
    if reply.status < 400:
        return reply
    note = f"invalid key {key}"
    try:
        data = json.loads(reply.body) if reply.body else {}
    except ValueError:
        data = None
    if isinstance(data, dict):
        data["message"] = f"{data['message']}: {note}" if data.get("message") else note
        return replace(reply, body=json.dumps(data).encode(), content_type="application/json")
    return replace(reply, body=reply.body + f" ({note})".encode())


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """A request an origin received and the status it answered (0: dropped without answer)."""

    server: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    status: int
    at: float
    body: bytes = field(default=b"", repr=False)

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


class Recorder:
    """Every request of every origin, in arrival order; safe to use from handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        # Called with each request once it is recorded, before its answer leaves (in the
        # handler's thread): the demo saves the simulator's state there.
        self.listeners: list[Callable[[RecordedRequest], None]] = []

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)
        for listener in list(self.listeners):
            listener(item)

    def snapshot(self, server: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._items if server is None or r.server == server]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Responder(Protocol):
    """The connection a reply goes out on (implemented by the request handler)."""

    def send(self, reply: Reply) -> None: ...

    def begin(self, status: int, headers: Sequence[tuple[str, str]]) -> None: ...

    def write(self, data: bytes | memoryview) -> None: ...

    def reset(self) -> None: ...

    def hangup(self) -> None: ...

    def idle(self, stop: threading.Event) -> None: ...


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented credential with the one the fake accepts."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def json_reply(status: int, data: object, *, headers: Headers = ()) -> Reply:
    body = json.dumps(data, ensure_ascii=False).encode()
    return Reply(status=status, body=body, content_type="application/json", headers=headers)


def xml_reply(status: int, root: ET.Element, *, headers: Headers = ()) -> Reply:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Reply(status=status, body=body, content_type="application/xml", headers=headers)


def element(tag: str, text: str | None = None, *children: ET.Element) -> ET.Element:
    node = ET.Element(tag)
    node.text = text
    node.extend(children)
    return node


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def iso_utc(ts: float) -> str:
    """`2026-11-23T10:00:00.123Z` (Vainu, generic-202)."""
    stamp = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


# Shoptet answers in the shop's local time with a colon-less offset; a fixed +0100 keeps tests
# deterministic and still exercises the offset parsing.
SHOPTET_TZ = timezone(timedelta(hours=1))


def shoptet_time(ts: float) -> str:
    """`2019-01-09T15:13:39+0100`."""
    return datetime.fromtimestamp(ts, SHOPTET_TZ).strftime("%Y-%m-%dT%H:%M:%S%z")


def parse_time(text: str) -> float | None:
    """Parse a Shoptet or ISO 8601 time (naive means UTC); None when it is not one."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def seconds_text(value: float) -> str:
    """A delay for Retry-After: whole seconds as an integer, fractions as they are."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
