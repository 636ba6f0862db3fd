"""The minimum-speed rule of a download: a peer that trickles is dropped, and the download resumes.

A read timeout alone cannot catch a peer that sends one byte a second: every read returns in
time, and the download, with its origin's slot, is held forever. `SpeedWatch` sees the bytes as
they reach the `.part` and raises a transient `NetworkError` when fewer than
`MinSpeed.bytes_per_second * window` arrived in the last `window` seconds; the transfer then
reconnects and resumes with `Range` from the bytes already written. Total silence is the same
rule's limit: the download's socket read timeout is the window (`MinSpeed.read_timeout`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from jobdock.core.model.errors import NetworkError


@dataclass(frozen=True, kw_only=True)
class MinSpeed:
    bytes_per_second: float = 1024.0
    window: float = 60.0

    @property
    def read_timeout(self) -> float:
        """How long one read may wait for its first byte: no byte in a whole window is below
        any minimum speed."""
        return self.window


class SpeedWatch:
    """Tracks one connection's bytes; `check` raises when the last window was too slow."""

    def __init__(
        self, rule: MinSpeed, start: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rule = rule
        self._clock = clock
        self._began = clock()
        self._samples: deque[tuple[float, int]] = deque([(self._began, start)])

    def check(self, total: int) -> None:
        """`total`: bytes in the .part now. Raises `NetworkError` for a too-slow window."""
        now = self._clock()
        samples = self._samples
        samples.append((now, total))
        horizon = now - self._rule.window
        # Keep one sample at or before the horizon: the bytes there are the window's start.
        while len(samples) > 1 and samples[1][0] <= horizon:
            samples.popleft()
        if now - self._began < self._rule.window:
            return
        got = total - samples[0][1]
        wanted = self._rule.bytes_per_second * self._rule.window
        if got < wanted:
            raise NetworkError(
                f"download too slow: {got:,} bytes in the last {self._rule.window:g} s (minimum "
                f"{self._rule.bytes_per_second:,.0f} bytes/s) after {total:,} bytes; "
                "reconnecting to resume"
            )
