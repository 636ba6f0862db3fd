"""speed.SpeedWatch: the minimum-speed rule over a sliding window, on a scripted clock."""

from __future__ import annotations

import pytest

from jobdock.core.download.speed import MinSpeed, SpeedWatch
from jobdock.core.model.errors import NetworkError

RULE = MinSpeed(bytes_per_second=1024.0, window=60.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_fast_start_then_a_trickle_is_dropped_once_a_whole_window_was_slow() -> None:
    clock = Clock()
    watch = SpeedWatch(RULE, 5000, clock=clock)
    clock.now = 1.0
    watch.check(5000 + 10 * 1024 * 1024)  # ten MiB in the first second
    total = 5000 + 10 * 1024 * 1024
    for second in range(2, 61):  # then ten bytes a second
        clock.now = float(second)
        total += 10
        watch.check(total)  # the window still holds the fast second
    clock.now = 61.5
    total += 10
    with pytest.raises(NetworkError, match=r"too slow: .* in the last 60 s .* 1,024 bytes/s"):
        watch.check(total)


def test_a_steady_download_at_the_minimum_is_kept() -> None:
    clock = Clock()
    watch = SpeedWatch(RULE, 0, clock=clock)
    for second in range(1, 300):
        clock.now = float(second)
        watch.check(second * 1024)


def test_nothing_is_judged_before_a_whole_window() -> None:
    clock = Clock()
    watch = SpeedWatch(RULE, 0, clock=clock)
    clock.now = 59.0
    watch.check(0)
