"""Faults a test plants on a fake origin, and the thread-safe queue that hands them out.

`StatusFault` answers a canned response instead of the real one, `ResetFault` drops the connection
without answering, `StallFault` sends headers and part of an answer and then nothing (or trickles),
and `StorageFault` damages a result download (resets mid-body, ignored Range, truncated or
mislabelled bodies, redirects, URLs that expire while being read, trickles, stalls). A fault is
matched by path prefix (or object key) and fires `times` times; the queue counts down its own
copy, so the dataclass a test created is never mutated.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(kw_only=True)
class StatusFault:
    """Answer `status` with this body instead of the real answer (5xx, 429, HTML, broken JSON)."""

    status: int
    body: bytes = b""
    content_type: str = "text/html"
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int = 1
    path_prefix: str | None = None


@dataclass(kw_only=True)
class ResetFault:
    """Drop the connection (TCP reset) without answering."""

    times: int = 1
    path_prefix: str | None = None


@dataclass(kw_only=True)
class StorageFault:
    """Damage downloads of `key` (every object when None).

    Fractions are of the whole object. `reset_at`: each fraction fires once, one per request, and
    the fault is used up when the list is; otherwise the fault fires on `times` requests.
    `rate`: send the body at about this many bytes a second (a slow link, for tests that act
    in the middle of a download). `trickle`: from `trickle_at` on, send only this many bytes a
    second (a peer that holds the download without ever timing out a read). `stall_at`: send
    the headers and the body up to this fraction, then nothing until the client hangs up
    (0.0: nothing after the headers). `no_length`: no `Content-Length` (the body ends when the
    connection closes, the size unknown until then).
    """

    key: str | None = None
    reset_at: list[float] = field(default_factory=list)
    no_range: bool = False
    truncate_at: float | None = None
    wrong_length: int | None = None
    redirect: bool = False
    expire_at: float | None = None
    rate: float | None = None
    trickle: float | None = None
    trickle_at: float = 0.0
    stall_at: float | None = None
    no_length: bool = False
    times: int = 1


@dataclass(kw_only=True)
class StallFault:
    """Answer `status` with headers that promise all of `body`, send its first `after` bytes,
    then nothing more until the client hangs up (a stuck server); with `rate`, the rest trickles
    at that many bytes a second instead."""

    status: int = 200
    body: bytes = b'{"state": "process", "note": "this answer never ends"}'
    after: int = 0
    rate: float | None = None
    content_type: str = "application/json"
    times: int = 1
    path_prefix: str | None = None


HttpFault = StatusFault | ResetFault | StallFault


@dataclass(frozen=True, kw_only=True)
class StoragePlan:
    """What one download suffers: at most one reset fraction plus the fault's other effects."""

    reset_at: float | None = None
    no_range: bool = False
    truncate_at: float | None = None
    wrong_length: int | None = None
    redirect: bool = False
    expire_at: float | None = None
    rate: float | None = None
    trickle: float | None = None
    trickle_at: float = 0.0
    stall_at: float | None = None
    no_length: bool = False


@dataclass
class _Entry:
    fault: HttpFault | StorageFault
    times: int
    resets: list[float]


class FaultQueue:
    """The faults planted on one origin, consumed first-in first-out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(self, fault: HttpFault | StorageFault) -> None:
        resets = sorted(fault.reset_at) if isinstance(fault, StorageFault) else []
        with self._lock:
            self._entries.append(_Entry(fault, fault.times, resets))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def take_http(self, path: str) -> HttpFault | None:
        """The status/reset fault for a request on `path`, counted down; None when there is none."""
        with self._lock:
            for entry in self._entries:
                fault = entry.fault
                if isinstance(fault, StorageFault):
                    continue
                if fault.path_prefix is not None and not path.startswith(fault.path_prefix):
                    continue
                self._use(entry)
                return fault
        return None

    def take_storage(self, key: str) -> StoragePlan | None:
        """The damage for one download of `key`, counted down; None when there is none."""
        with self._lock:
            for entry in self._entries:
                fault = entry.fault
                if not isinstance(fault, StorageFault):
                    continue
                if fault.key is not None and fault.key != key:
                    continue
                reset = entry.resets.pop(0) if entry.resets else None
                if reset is None:
                    self._use(entry)
                elif not entry.resets:
                    self._entries.remove(entry)
                return StoragePlan(
                    reset_at=reset,
                    no_range=fault.no_range,
                    truncate_at=fault.truncate_at,
                    wrong_length=fault.wrong_length,
                    redirect=fault.redirect,
                    expire_at=fault.expire_at,
                    rate=fault.rate,
                    trickle=fault.trickle,
                    trickle_at=fault.trickle_at,
                    stall_at=fault.stall_at,
                    no_length=fault.no_length,
                )
        return None

    def _use(self, entry: _Entry) -> None:
        entry.times -= 1
        if entry.times <= 0:
            self._entries.remove(entry)
