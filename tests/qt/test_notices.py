"""Notifications (succeeded, failed, saved, expiring once) and the status bar's health line."""

from __future__ import annotations

from datetime import timedelta

from jobdock.core.engine.engine import PollHealth
from jobdock.core.model.job import DownloadState, JobState
from jobdock.qt.notices import Notice, Notices
from jobdock.qt.status import health_text
from tests.qt.conftest import NOW, make_job, succeeded


def test_notices_follow_transitions_and_toggles() -> None:
    shown: list[tuple[Notice, str]] = []
    notices = Notices(lambda kind, _title, text, _job_id: shown.append((kind, text)))
    notices.seed([make_job(1), make_job(2), succeeded(3)])
    notices.on_changed([succeeded(1), make_job(2, state=JobState.FAILED, error="nope")])
    notices.on_changed([succeeded(1, state=DownloadState.DONE, path="/d/r1.csv")])
    assert [k for k, _ in shown] == [Notice.SUCCEEDED, Notice.FAILED, Notice.SAVED]
    assert "nope" in shown[1][1] and "/d/r1.csv" in shown[2][1]
    shown.clear()
    notices.on_tick([succeeded(3, expires_in=600)], now=NOW, margin=900)
    notices.on_tick([succeeded(3, expires_in=590)], now=NOW, margin=900)
    assert shown == [(Notice.EXPIRING, "export 3: link expires in 10 min and is not saved yet")]
    notices.enabled.discard(Notice.FAILED)
    notices.on_changed([make_job(5), make_job(5, state=JobState.FAILED)])
    assert len(shown) == 1


def test_health_text() -> None:
    health = PollHealth(next_poll_at=NOW + timedelta(seconds=5))
    assert health_text(health, now=NOW) == ("Polling: waiting · next poll in 5 s", "ok")
    health.last_ok_at = NOW
    assert health_text(health, now=NOW)[1] == "ok"
    health.last_error, health.last_error_at = "HTTP 500", NOW + timedelta(seconds=1)
    assert health_text(health, now=NOW)[1] == "warn"
    health.network_failures = 3
    text, level = health_text(health, now=NOW)
    assert level == "error" and text.startswith("Offline: HTTP 500")
