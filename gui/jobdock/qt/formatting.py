"""Human-readable sizes, durations, countdowns and times for the table, detail pane and tray.

Pure functions without Qt, so they are trivially testable and shared by every widget.
"""

from __future__ import annotations

from datetime import datetime

_UNITS = ("B", "KB", "MB", "GB", "TB")
NONE = "\N{EN DASH}"  # an empty cell


def human_size(size: float | None) -> str:
    if size is None:
        return NONE
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop always returns


def human_duration(seconds: float | None) -> str:
    """`4 s`, `2 min 05 s`, `3 h 07 min`, `2 d 4 h`."""
    if seconds is None:
        return NONE
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def countdown(seconds: float) -> str:
    """Time left on a link: `expired`, `45 s`, `12:04`, `2 h 03 min`."""
    if seconds <= 0:
        return "expired"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60}:{total % 60:02d}"
    return human_duration(total)


def local_time(value: datetime | None, *, with_date: bool = True) -> str:
    if value is None:
        return NONE
    local = value.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def short_time(value: datetime, *, now: datetime) -> str:
    """The time of day for today's moments, else the date and time (table cells)."""
    local, today = value.astimezone(), now.astimezone()
    return local.strftime("%H:%M:%S" if local.date() == today.date() else "%Y-%m-%d %H:%M")


def speed_eta(speed: float, eta: float | None) -> str:
    text = f"{human_size(speed)}/s"
    if eta is not None:
        text += f" · {human_duration(eta)} left"
    return text


def compact_speed_eta(speed: float, eta: float | None) -> str:
    """`speed_eta` in fewer characters, for a narrow cell: `384 KB/s · 3 h left`."""
    text = f"{compact_size(speed)}/s"
    if eta is not None:
        text += f" · {compact_duration(eta)} left"
    return text


def compact_size(size: float) -> str:
    """`human_size` without a decimal from 10 up: `384 KB`, `1.5 MB`."""
    text = human_size(size)
    number, _, unit = text.partition(" ")
    return f"{float(number):.0f} {unit}" if float(number) >= 10 else text


def compact_duration(seconds: float) -> str:
    """The largest unit only, rounded down: `42 s`, `12 min`, `3 h`, `2 d`."""
    total = max(0, round(seconds))
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if total >= length:
            return f"{total // length} {unit}"
    return f"{total} s"
