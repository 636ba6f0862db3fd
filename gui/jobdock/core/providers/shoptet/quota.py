"""Request quotas of APIs that announce them (Shoptet): a cap on requests in flight, a leaky
bucket whose fill level every answer reports, and an account-wide "not before" instant.

`Quota` belongs to one token (one account's API client). Every request with that token goes
through `slot()`: it waits for the instant a 429's `Retry-After` named (an HTTP-date or seconds),
then for its turn when the bucket is more than half full — the fuller, the longer the spacing, so
the bucket drains instead of overflowing into 429s — and holds one of `max_in_flight` places
while it runs. `observe()` reads each answer. `QuotaStatus` is what the GUI and
`accounts list --json` show.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from jobdock.core.net.http import ApiSession, parse_retry_after, server_date

FILLING_HEADER = "X-RateLimit-Bucket-Filling"
PACE_FROM = 0.5  # start spacing requests once the bucket is half full
MAX_SPACING_FACTOR = 5.0  # at a full bucket: one request per 5 leak intervals
DATE_SLACK = 1.0  # an HTTP-date has whole seconds: the instant may be up to 1 s later
NO_DATE_WAIT = 1.0  # a 429 without Retry-After (too many connections): wait this long
_FILLING = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, kw_only=True)
class QuotaStatus:
    """The account's quota as last seen: bucket level `bucket_filling`/`bucket_size`, and
    `not_before` while a 429 asks the account to wait."""

    bucket_filling: int | None = None
    bucket_size: int | None = None
    not_before: datetime | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    observed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket_filling": self.bucket_filling,
            "bucket_size": self.bucket_size,
            "not_before": _iso(self.not_before),
            "observed_at": _iso(self.observed_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuotaStatus:
        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, int | float) else None

        return cls(
            bucket_filling=number("bucket_filling"),
            bucket_size=number("bucket_size"),
            not_before=_parse_iso(data.get("not_before")),
            observed_at=_parse_iso(data.get("observed_at")),
        )

    def summary(self) -> str:
        """One line for a tooltip or status bar."""
        parts = []
        if self.bucket_filling is not None and self.bucket_size:
            parts.append(f"rate-limit bucket {self.bucket_filling}/{self.bucket_size}")
        if self.max_in_flight:
            parts.append(f"{self.in_flight}/{self.max_in_flight} connections")
        if self.not_before is not None:
            parts.append(f"waiting until {self.not_before.astimezone():%H:%M:%S} (HTTP 429)")
        return ", ".join(parts) or "no requests yet"


@runtime_checkable
class SupportsQuota(Protocol):
    """Providers whose API limits each token: `max_connections` caps the account's API client,
    `quota_status` reports the session's quota (None before its first request)."""

    max_connections: int

    def quota_status(self, session: ApiSession) -> QuotaStatus | None: ...


@runtime_checkable
class ReportsAccountQuota(Protocol):
    """An engine that tells an account's quota (`Engine.account_status`; `accounts list --json`,
    the window's quota tooltips): the last known `QuotaStatus`, None when nothing is known."""

    def account_status(self, name: str) -> QuotaStatus | None: ...


class Quota:
    """One token's quota. Single event loop; `clock` is wall time (HTTP-dates), `monotonic`
    measures spacing; both and `sleep` can be replaced in tests."""

    def __init__(
        self,
        *,
        max_in_flight: int = 3,
        bucket_size: int = 200,
        leak_per_second: float = 3.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_in_flight = max(1, max_in_flight)
        self.bucket_size = bucket_size
        self.leak_per_second = max(leak_per_second, 0.01)
        self._clock, self._monotonic, self._sleep = clock, monotonic, sleep
        self._semaphore: asyncio.Semaphore | None = None
        self.in_flight = 0
        self.reported: float | None = None  # the last X-RateLimit-Bucket-Filling level
        self._reported_at = 0.0  # monotonic
        self._observed_at: float | None = None  # wall clock
        self._last_send = float("-inf")
        self.not_before: float | None = None  # wall clock, for display
        self._resume_at: float | None = None  # the same instant on the monotonic clock

    # waiting -------------------------------------------------------------------------------
    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for the account's turn, then hold one of its connections while the body runs."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_in_flight)
        async with self._semaphore:
            wait = self._reserve()
            while wait > 0:
                await self._sleep(wait)
                wait = self._not_before_wait()  # a 429 meanwhile pushes every request back
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1

    def _not_before_wait(self) -> float:
        wait = self.wait_ahead()
        if wait <= 0:
            self.not_before = self._resume_at = None
        return wait

    def wait_ahead(self) -> float:
        """Seconds until the account may send again after a 429 (0 when it may now). Measured
        on the monotonic clock: a wall clock set back meanwhile does not prolong it."""
        if self._resume_at is None:
            return 0.0
        return max(0.0, self._resume_at - self._monotonic())

    def _reserve(self) -> float:
        """Seconds until this request may leave; its send time is booked at once so the next
        request is spaced from it, not from the same earlier one."""
        now = self._monotonic()
        wait = self._not_before_wait()
        level = self.estimated_level(now)
        threshold = PACE_FROM * self.bucket_size
        if level > threshold:
            pressure = min(1.0, (level - threshold) / max(self.bucket_size - threshold, 1.0))
            spacing = (1.0 + (MAX_SPACING_FACTOR - 1.0) * pressure) / self.leak_per_second
            wait = max(wait, self._last_send + spacing - now)
        self._last_send = now + max(wait, 0.0)
        return max(wait, 0.0)

    def estimated_level(self, now: float | None = None) -> float:
        """The bucket now: the last reported level, leaked since, plus requests in flight."""
        if self.reported is None:
            return float(self.in_flight)
        now = self._monotonic() if now is None else now
        leaked = (now - self._reported_at) * self.leak_per_second
        return max(0.0, self.reported - leaked) + self.in_flight

    # reading answers -----------------------------------------------------------------------
    def observe(self, status_code: int, headers: Mapping[str, str]) -> None:
        """Read the bucket level from an answer, and a 429's wait (for the whole account)."""
        match = _FILLING.match(_header(headers, FILLING_HEADER) or "")
        if match:
            self.reported = float(match.group(1))
            self.bucket_size = int(match.group(2)) or self.bucket_size
            self._reported_at = self._monotonic()
            self._observed_at = self._clock()
        if status_code == 429:
            now = self._clock()
            until = retry_instant(headers, now=now)
            resume = self._monotonic() + max(0.0, until - now)
            if self._resume_at is None or resume > self._resume_at:
                self.not_before, self._resume_at = until, resume

    def status(self) -> QuotaStatus:
        level = None
        if self.reported is not None:
            level = round(max(0.0, self.estimated_level() - self.in_flight))
        not_before = self.not_before if self.wait_ahead() > 0 else None
        return QuotaStatus(
            bucket_filling=level,
            bucket_size=self.bucket_size,
            not_before=_from_ts(not_before),
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
            observed_at=_from_ts(self._observed_at),
        )


def retry_instant(
    value: Mapping[str, str] | str | None, *, now: float, server_now: float | None = None
) -> float:
    """The wall-clock instant a 429's `Retry-After` names (a header value, or an answer's
    headers), read by `http.parse_retry_after` with its bounds: seconds, or an HTTP-date (whose
    whole-second resolution earns `DATE_SLACK`); `NO_DATE_WAIT` from now when absent or
    unusable. An HTTP-date is on the server's clock: it is measured from the answer's `Date`
    (`server_now`, else the `Date` among the headers), so a local clock hours off does not mean
    hours of waiting."""
    headers = value if isinstance(value, Mapping) else ({"Retry-After": value} if value else {})
    if server_now is None:
        sent = server_date(httpx.Headers(headers))
        server_now = sent.timestamp() if sent is not None else now
    wait = parse_retry_after(headers, now=server_now, date_slack=DATE_SLACK)
    return now + (NO_DATE_WAIT if wait is None else wait)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def _from_ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
