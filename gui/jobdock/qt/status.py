"""The status bar's polling-health line: OK / last error / offline, and when the next poll is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobdock.qt import formatting as fmt


def health_text(health: Any, *, now: datetime) -> tuple[str, str]:
    """(text, level) with level "ok", "warn" or "error"."""
    when = ""
    if health.next_poll_at is not None:
        left = (health.next_poll_at - now).total_seconds()
        when = " · next poll now" if left <= 0 else f" · next poll in {fmt.human_duration(left)}"
    if health.offline:
        return f"Offline: {health.last_error or 'network unreachable'}{when}", "error"
    recent_error = health.last_error and (
        health.last_ok_at is None
        or (health.last_error_at is not None and health.last_error_at >= health.last_ok_at)
    )
    if recent_error:
        stamp = fmt.local_time(health.last_error_at, with_date=False)
        return f"Last error {stamp}: {health.last_error}{when}", "warn"
    if health.last_ok_at is None:
        return f"Polling: waiting{when}", "ok"
    return f"Polling OK{when}", "ok"


def transfer_text(files: int, speed: float) -> str:
    """The status bar's download summary: empty while nothing is downloading."""
    if files == 0:
        return ""
    noun = "file" if files == 1 else "files"
    return f"Downloading {files} {noun} · {fmt.human_size(speed)}/s"
