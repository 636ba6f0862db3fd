"""Pure rules: backoff with jitter, Retry-After, deadlines, result merging, filenames, requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobdock.core.download.filenames import (
    MAX_NAME_BYTES,
    choose_filename,
    filename_from_disposition,
    inside,
    sanitize_filename,
)
from jobdock.core.download.jobfolder import open_folder
from jobdock.core.engine.rules import (
    apply_poll_error,
    apply_status,
    backoff_delay,
    effective_policy,
    merge_results,
    next_poll_delay,
    past_deadline,
)
from jobdock.core.model.errors import NetworkError, NotFoundError, RateLimitedError, UsageError
from jobdock.core.model.job import DownloadState, Job, JobState, Result, SubmitRequest
from jobdock.core.net.requests import build_request, parse_body
from jobdock.core.providers.base import PollPolicy, RemoteStatus, ResultLink

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TESTO = PollPolicy(first_delay=5, min_interval=5, max_interval=20, factor=2)


def test_testo_backoff_is_5_10_20_with_full_jitter() -> None:
    rng = random.Random(1)
    assert backoff_delay(TESTO, 0, rng=rng) == 5
    ceilings = {1: 10, 2: 20, 3: 20, 10: 20}
    for attempt, ceiling in ceilings.items():
        draws = [backoff_delay(TESTO, attempt, rng=rng) for _ in range(500)]
        assert min(draws) >= 5 and max(draws) <= ceiling
        assert max(draws) > ceiling - 1.5  # really spread up to the ceiling (jitter)
        assert min(draws) < 6.5


def test_retry_after_wins_over_backoff() -> None:
    rng = random.Random(0)
    assert next_poll_delay(TESTO, attempt=5, retry_after=1.5, rng=rng) == 1.5
    assert next_poll_delay(TESTO, attempt=0, retry_after=10**9, rng=rng) == 6 * 3600


def test_user_bounds_override_policy() -> None:
    policy = effective_policy(TESTO, poll_min=0.1, poll_max=0.5)
    assert (policy.min_interval, policy.max_interval, policy.first_delay) == (0.1, 0.5, 0.5)
    assert effective_policy(TESTO) == TESTO


def _job(**changes: object) -> Job:
    return Job(id="j", account="a", provider="p", remote_id="r", submitted_at=NOW).replace(
        **changes
    )


def test_apply_status_records_state_changes_and_schedules() -> None:
    status = RemoteStatus(state=JobState.RUNNING, remote_state="process", retry_after=3.0)
    job, events = apply_status(_job(), status, now=NOW, policy=TESTO, rng=random.Random(0))
    assert job.state == JobState.RUNNING and job.remote_state == "process"
    assert job.next_poll_at == NOW + timedelta(seconds=3)
    assert [e.message for e in events] == ["running (process)"]
    again, events = apply_status(job, status, now=NOW, policy=TESTO, rng=random.Random(0))
    assert events == [] and again.polls == 2


def test_apply_status_terminal_stops_polling_and_redacts_raw() -> None:
    status = RemoteStatus(
        state=JobState.SUCCEEDED,
        remote_state="completed",
        raw='{"key": "s3cr3t-value"}',
        results=(ResultLink(url="https://s/1"),),
    )
    job, _ = apply_status(
        _job(), status, now=NOW, policy=TESTO, rng=random.Random(0),
        redact=lambda t: t.replace("s3cr3t-value", "[REDACTED]"),
    )  # fmt: skip
    assert job.next_poll_at is None and job.progress == 100.0 and job.finished_at == NOW
    assert job.last_response == '{"key": "[REDACTED]"}'
    assert job.results[0].url == "https://s/1"


def test_merge_results_keeps_download_progress_with_fresh_links() -> None:
    # the same three objects, re-signed (a fresh link is the same path with a new signature)
    old = (
        Result(url="https://s/r1?X-Amz-Signature=o", download_state=DownloadState.DONE, path="/a"),
        Result(url="https://s/r2?X-Amz-Signature=o", download_state=DownloadState.EXPIRED,
               error="expired"),
        Result(url="https://s/r3?X-Amz-Signature=o", download_state=DownloadState.DOWNLOADING,
               bytes_done=7),
    )  # fmt: skip
    fresh = tuple(ResultLink(url=f"https://s/r{i}?X-Amz-Signature=n") for i in (1, 2, 3))
    merged = merge_results(old, fresh)
    assert [r.url for r in merged] == [link.url for link in fresh]
    assert merged[0].download_state == DownloadState.DONE and merged[0].path == "/a"
    assert merged[1].download_state == DownloadState.PENDING and merged[1].error is None
    assert merged[2].bytes_done == 7


def test_transient_poll_errors_retry_until_deadline() -> None:
    job = _job(deadline_at=NOW + timedelta(hours=1))
    rate = RateLimitedError("slow down", retry_after=30)
    retried, events = apply_poll_error(job, rate, now=NOW, policy=TESTO, rng=random.Random(0))
    assert retried.state == JobState.QUEUED and retried.error == "slow down"
    assert retried.next_poll_at == NOW + timedelta(seconds=30)
    assert events[0].kind == "poll-error"
    late = NOW + timedelta(hours=2)
    failed, _ = apply_poll_error(
        job, NetworkError("down"), now=late, policy=TESTO, rng=random.Random(0)
    )
    assert failed.state == JobState.FAILED and "deadline" in (failed.error or "")


def test_permanent_poll_error_fails_the_job() -> None:
    failed, events = apply_poll_error(
        _job(), NotFoundError("gone"), now=NOW, policy=TESTO, rng=random.Random(0)
    )
    assert failed.state == JobState.FAILED and failed.error == "gone"
    assert [e.kind for e in events] == ["poll-error", "state"]


def test_past_deadline() -> None:
    assert past_deadline(_job(deadline_at=NOW + timedelta(seconds=1)), NOW) is None
    failed, _ = past_deadline(_job(deadline_at=NOW), NOW) or (None, None)
    assert failed is not None and failed.state == JobState.FAILED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../x", "x"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("a\x00b.csv", "a_b.csv"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("..", "result"),
        ("", "result"),
        ("ok report.csv", "ok report.csv"),
        ("tab\there?.csv", "tab_here_.csv"),
        ("trailing. ", "trailing"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = sanitize_filename("é" * 300 + ".parquet")
    assert name.endswith(".parquet") and len(name.encode()) <= MAX_NAME_BYTES


def test_content_disposition_forms() -> None:
    assert filename_from_disposition('attachment; filename="a b.csv"') == "a b.csv"
    assert filename_from_disposition("attachment; filename=plain.csv") == "plain.csv"
    star = "attachment; filename=\"x.csv\"; filename*=UTF-8''%C5%A1pi%C4%8Dka.csv"
    assert filename_from_disposition(star) == "špička.csv"
    assert filename_from_disposition("inline") is None
    hostile = "attachment; filename*=UTF-8''..%2F..%2Fevil%00.sh"
    assert choose_filename(disposition=hostile, hint=None, url="https://s/x") == "evil_.sh"
    assert choose_filename(disposition=None, hint=None, url="https://s/dir/f%20g.csv?sig=1") == (
        "f g.csv"
    )
    assert choose_filename(disposition=None, hint=None, url="https://s/") == "result"


def test_inside_and_unique(tmp_path: Path) -> None:
    assert inside(tmp_path, "a.csv") == (tmp_path / "a.csv").resolve()
    with pytest.raises(ValueError):
        inside(tmp_path, "../a.csv")
    (tmp_path / "a.csv").write_text("x")
    with open_folder(tmp_path) as folder:
        assert folder.unique("a.csv") == "a (2).csv"
        (tmp_path / "a (2).csv.part").write_text("x")
        assert folder.unique("a.csv") == "a (3).csv"
        (tmp_path / "a (3).csv").symlink_to(tmp_path / "nowhere")  # a dangling link is taken too
        assert folder.unique("a.csv") == "a (4).csv"


def test_parse_body(tmp_path: Path) -> None:
    assert parse_body('{"a": 1}', content_type=None) == (b'{"a": 1}', "application/json")
    assert parse_body("<a><b/></a>", content_type=None)[1] == "application/xml"
    with pytest.raises(UsageError, match="malformed JSON"):
        parse_body('{"a": ', content_type=None)
    with pytest.raises(UsageError, match="malformed XML"):
        parse_body("<a><b></a>", content_type=None)
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(UsageError, match="malformed XML"):
        parse_body(bomb, content_type=None)
    (tmp_path / "b.json").write_text('{"from": "file"}')
    assert parse_body(f"@{tmp_path / 'b.json'}", content_type=None)[0] == b'{"from": "file"}'
    with pytest.raises(UsageError, match="cannot read"):
        parse_body(f"@{tmp_path / 'missing.json'}", content_type=None)
    assert parse_body("raw text", content_type="text/plain") == (b"raw text", "text/plain")


def test_build_request_overrides_defaults() -> None:
    default = SubmitRequest(method="POST", path="/v3/x", params=(("a", "1"),), body=b"{}",
                            content_type="application/json")  # fmt: skip
    assert build_request(default) == default
    custom = build_request(default, params=[("b", "2")])
    assert custom.params == (("b", "2"),) and custom.body == b"{}"
    other = build_request(default, method="delete", path="/v3/y")
    assert (other.method, other.path, other.params, other.body) == ("DELETE", "/v3/y", (), None)
