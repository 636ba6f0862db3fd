"""What `watch` prints, from update batches (no engine): the live line never says a job is
saving while no file is (a file between two tries is `waiting`), counts no job the watch does not
wait for, and the summary's forms (files not saved, orphaned jobs, the reason it ended), each as
docs/cli.md gives it."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from jobdock.cli.watch_report import QUIET, Report
from jobdock.core.model.job import DownloadState, Job, JobState, Result
from jobdock.core.model.updates import DownloadProgress, UpdateBatch

NOW = datetime(2025, 5, 14, 9, 0, tzinfo=UTC)
CLOCK = [0.0]  # the report's monotonic clock, set by hand: how long a watch ran


def job(job_id: str, state: JobState, *results: Result, orphaned: bool = False) -> Job:
    return Job(id=job_id, account="acme", provider="vainu", state=state, results=results,
               orphaned=orphaned)  # fmt: skip


def result(n: int, state: DownloadState = DownloadState.PENDING, **fields: object) -> Result:
    return Result(url=f"https://files.example/{n}.csv", key=f"k{n}", download_state=state,
                  **fields)  # type: ignore[arg-type]  # fmt: skip


def report(
    *jobs: Job, mode: str = "live", downloads: bool = True, verbosity: int = 0
) -> tuple[Report, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    CLOCK[0] = 0.0
    made = Report(out=out, err=err, mode=mode, verbosity=verbosity, jobs=jobs,
                  watched=lambda: {j.id for j in jobs}, downloads=lambda: downloads,
                  monotonic=lambda: CLOCK[0], clock=lambda: NOW)  # fmt: skip
    return made, out, err


def test_the_live_line_counts_jobs_left_by_state_and_files_by_what_they_do() -> None:
    saving = job("s1", JobState.SUCCEEDED, result(1, DownloadState.DOWNLOADING), result(2),
                 result(3, DownloadState.DONE))  # fmt: skip
    jobs = (job("q1", JobState.QUEUED), job("r1", JobState.RUNNING), job("r2", JobState.RUNNING),
            saving)  # fmt: skip
    live, _, _ = report(*jobs)
    live(UpdateBatch(progress=(DownloadProgress("s1", 0, 12_300_000, 40_000_000, 3_100_000,
                                                9.0),)))  # fmt: skip
    assert live.status_line() == (
        "jobs left: 1 queued, 2 running, 1 saving · 1 file downloading, 1 waiting · "
        "12.3 MB / 40.0 MB · 3.1 MB/s · ETA 0:09"
    )


def test_a_saving_job_whose_file_waits_for_a_retry_is_never_0_files_downloading() -> None:
    retry = result(1, DownloadState.FAILED, retry_at=NOW + timedelta(seconds=30), error="reset")
    live, _, _ = report(job("s1", JobState.SUCCEEDED, retry, result(2)))
    line = live.status_line()
    assert line == "jobs left: 1 saving · 2 files waiting", line
    assert "0 file" not in line


def test_a_file_downloading_in_another_process_counts_as_downloading() -> None:
    live, _, _ = report(job("s1", JobState.SUCCEEDED, result(1, DownloadState.DOWNLOADING)))
    assert live.status_line() == "jobs left: 1 saving · 1 file downloading"


def test_no_job_is_left_saving_when_results_are_not_downloaded_as_jobs_succeed() -> None:
    jobs = (job("s1", JobState.SUCCEEDED, result(1)), job("r1", JobState.RUNNING))
    live, _, _ = report(*jobs, downloads=False)
    assert live.status_line() == "jobs left: 1 running"


def test_settled_failed_held_and_orphaned_jobs_are_not_left() -> None:
    held = result(1, DownloadState.PAUSED, held=True)
    jobs = (
        job("f1", JobState.FAILED, result(2)),
        job("c1", JobState.CANCELLED),
        job("s1", JobState.SUCCEEDED, held),
        job("o1", JobState.RUNNING, orphaned=True),
    )
    live, _, _ = report(*jobs)
    assert live.status_line() == "jobs left: none"


def test_the_summary_says_files_not_saved_orphaned_jobs_and_why_it_ended() -> None:
    first = job("a1", JobState.SUCCEEDED, result(1, DownloadState.DOWNLOADING), result(2))
    gone = job("o1", JobState.RUNNING, orphaned=True)
    lines, out, _ = report(first, gone, job("f1", JobState.RUNNING), mode="lines")
    saved = result(1, DownloadState.DONE, path="/d/1.csv", bytes=1_600_000)
    expired = result(2, DownloadState.EXPIRED, error="the link expired")
    lines(UpdateBatch(changed=(job("a1", JobState.SUCCEEDED, saved, expired),
                               job("f1", JobState.FAILED))))  # fmt: skip
    CLOCK[0] = 62.0
    lines.summary(3, reason="timeout")
    last = out.getvalue().splitlines()[-1]
    assert last == (
        "watched 3 jobs for 1:02 (timeout): 1 failed, 1 orphaned, 1 succeeded; "
        "files saved: 1 (1.6 MB), 1 not saved"
    ), out.getvalue()


def test_the_summary_of_nothing_and_quiet_prints_none() -> None:
    idle, out, _ = report(mode="lines")
    CLOCK[0] = 0.4
    idle.summary(0, reason="done")
    assert out.getvalue() == "watched 0 jobs for 0:00; files saved: 0 (0 B)\n"
    quiet, out, err = report(job("r1", JobState.RUNNING), mode="lines", verbosity=QUIET)
    quiet(UpdateBatch(changed=(job("r1", JobState.FAILED),)))
    quiet.summary(1, reason="SIGTERM")
    assert out.getvalue() == ""
    assert err.getvalue() == "jobdock: job r1 (acme) failed: no reason\n"


@pytest.mark.parametrize("mode", ["lines", "json"])
def test_a_warning_is_a_stderr_line_and_with_json_an_event(mode: str) -> None:
    made, out, err = report(mode=mode)
    made.warning("account acme: the new refresh token was not saved")
    assert err.getvalue() == "jobdock: warning: account acme: the new refresh token was not saved\n"
    if mode == "json":
        (event,) = [json.loads(line) for line in out.getvalue().splitlines()]
        said = "account acme: the new refresh token was not saved"
        assert event == {"event": "warning", "at": event["at"], "message": said}
    else:
        assert out.getvalue() == ""
