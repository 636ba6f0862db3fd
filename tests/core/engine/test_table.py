"""The job table holds the unsettled jobs from the start; settled history stays in the store
(real SQLite files) until it is paged in, read by id, changed or removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobdock.core.engine.table import JobTable
from jobdock.core.model.job import DownloadState, Job, JobState, Result
from jobdock.core.store.credentials import Redactor
from jobdock.core.store.jobs import JobStore

NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)


def job(n: int, **changes: object) -> Job:
    at = NOW - timedelta(hours=1) + timedelta(seconds=n)
    return Job(id=f"j{n:03d}", account="acme" if n % 2 else "globex", provider="vainu",
               label=f"export {n}", submitted_at=at, updated_at=at).replace(**changes)  # fmt: skip


def saved(n: int) -> Job:
    result = Result(url=f"https://s.example/{n}", download_state=DownloadState.DONE, path="/x")
    return job(n, state=JobState.SUCCEEDED, results=(result,))


def table_over(path: Path) -> JobTable:
    return JobTable(JobStore.open(path), redactor=Redactor(), clock=lambda: NOW,
                    monotonic=lambda: 0.0, longest_wait=lambda _job: 60.0)  # fmt: skip


def stored(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore.open(path)
    waiting = Result(url="https://s.example/w", expires_at=NOW + timedelta(hours=1))
    store.put_jobs([*(saved(n) for n in range(10)), job(10, state=JobState.FAILED),
                    job(11, state=JobState.RUNNING),
                    job(12, state=JobState.SUCCEEDED, results=(waiting,))])  # fmt: skip
    store.close()
    return path


def test_only_unsettled_jobs_are_held_at_start_and_the_rest_is_counted(tmp_path: Path) -> None:
    table = table_over(stored(tmp_path))
    assert sorted(j.id for j in table.live_jobs()) == ["j011", "j012"]
    assert table.history_left() == 11
    assert table.history_counts() == {("globex", "succeeded", True): 5,
                                      ("acme", "succeeded", True): 5,
                                      ("globex", "failed", False): 1}  # fmt: skip
    assert len(table.jobs()) == 13  # every job, history read from the store
    assert table.job("j003").results[0].download_state == DownloadState.DONE
    assert table.current("j003") == saved(3)
    assert table.history_left() == 11  # reading by id does not take a job in


def test_history_pages_come_newest_first_and_are_held_from_then_on(tmp_path: Path) -> None:
    table = table_over(stored(tmp_path))
    page = table.history_page(4)
    assert [j.id for j in page] == ["j007", "j008", "j009", "j010"]  # oldest first
    assert [j.id for j in table.history_page(100)] == [f"j{n:03d}" for n in range(7)]
    assert table.history_left() == 0 and not table.history_counts()
    assert len(table.live_jobs()) == 13 and table.history_page(5) == []


def test_a_settled_job_changed_or_removed_leaves_the_history(tmp_path: Path) -> None:
    path = stored(tmp_path)
    table = table_over(path)
    changed: list[str] = []
    table.subscribe(lambda batch: changed.extend(j.id for j in batch.changed))
    table.commit([table.job("j004").replace(label="renamed")])
    assert changed == ["j004"] and table.history_left() == 10
    assert "j004" in {j.id for j in table.live_jobs()}
    assert JobStore.open(path).get_job("j004").label == "renamed"
    table.forget("j005")
    assert table.history_left() == 9 and table.current("j005") is None
    assert table.history_counts()[("acme", "succeeded", True)] == 4


def test_the_history_columns_follow_each_write(tmp_path: Path) -> None:
    path = stored(tmp_path)
    store = JobStore.open(path)
    store.put_jobs([store.get_job("j011").replace(state=JobState.CANCELLED)], bases=None)
    store.put_jobs([store.get_job("j003").replace(state=JobState.RUNNING, updated_at=NOW)])
    table = table_over(path)
    assert sorted(j.id for j in table.live_jobs()) == ["j003", "j012"]
    assert table.history_left() == 11


def deferred_over(path: Path) -> JobTable:
    return JobTable(JobStore.open(path), redactor=Redactor(), clock=lambda: NOW,
                    monotonic=lambda: 0.0, longest_wait=lambda _job: 60.0,
                    defer_unsettled=True)  # fmt: skip


def with_more_unsettled(tmp_path: Path) -> Path:
    path = stored(tmp_path)
    store = JobStore.open(path)
    store.put_jobs([job(13, state=JobState.RUNNING), job(14, state=JobState.QUEUED)])
    store.close()
    return path


def test_deferred_unsettled_jobs_are_read_newest_first_and_one_asked_for_at_once(
    tmp_path: Path,
) -> None:
    table = deferred_over(with_more_unsettled(tmp_path))
    announced: list[str] = []
    table.subscribe(lambda batch: announced.extend(j.id for j in batch.read))  # rows, not news
    assert table.live_jobs() == [] and table.unread_left() == 4
    assert table.history_left() == 11 and len(table.known_ids()) == 15
    assert table.history_stamp("j013") == job(13).updated_at.isoformat()
    assert table.current("j011") is not None  # asked for: read now, held, told of
    table.flush()
    assert announced == ["j011"] and table.unread_left() == 3
    assert [j.id for j in table.read_unsettled(2)] == ["j013", "j014"]  # the newest two
    assert [j.id for j in table.read_unsettled(None)] == ["j012"]
    assert sorted(j.id for j in table.live_jobs()) == ["j011", "j012", "j013", "j014"]
    assert table.unread_left() == 0 and table.read_unsettled(None) == []


def test_deferred_jobs_are_all_in_jobs_and_a_change_or_removal_before_the_read_counts(
    tmp_path: Path,
) -> None:
    path = with_more_unsettled(tmp_path)
    table = deferred_over(path)
    assert len(table.jobs()) == 15 and table.unread_left() == 0  # every job: read for it
    table = deferred_over(path)
    table.commit([job(13, state=JobState.RUNNING, progress=50.0)])
    assert table.unread_left() == 3 and table.job("j013").progress == 50.0
    assert JobStore.open(path).get_job("j013").progress == 50.0
    table.forget("j014")
    assert table.unread_left() == 2 and "j014" not in table.known_ids()
    assert table.current("j014") is None


def test_deferred_jobs_read_for_any_reason_reach_the_listeners(tmp_path: Path) -> None:
    """However a deferred job is read (all of them for `jobs`, a block, one asked for), the
    listeners hear of it once: a window would otherwise never get its row."""
    table = deferred_over(with_more_unsettled(tmp_path))
    read: list[str] = []
    table.subscribe(lambda batch: read.extend(j.id for j in batch.read))
    table.read_unsettled(1)
    table.current("j011")
    table.jobs()
    table.flush()
    assert sorted(read) == ["j011", "j012", "j013", "j014"] and len(read) == 4


def test_an_accounts_jobs_are_counted_held_unread_or_settled_without_reading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = deferred_over(with_more_unsettled(tmp_path))
    table.current("j011")  # one unsettled job held, the other unsettled ones not read yet
    every = {j.id: j.account for j in JobStore.open(tmp_path / "jobs.sqlite3").list_jobs()}
    expected = {a: sum(1 for x in every.values() if x == a) for a in ("acme", "globex")}
    assert table.unread_left() > 0 and table.history_left() > 0

    def no_whole_reads(*args: object) -> list[Job]:
        raise AssertionError("a job was read whole")

    monkeypatch.setattr(table.store, "_jobs_where", no_whole_reads)
    assert {a: table.count_of_account(a) for a in expected} == expected
    assert table.count_of_account("nobody") == 0


def test_a_clock_set_back_between_computing_a_poll_and_its_commit_does_not_hold_it(
    tmp_path: Path,
) -> None:
    """The engine computes `next_poll_at` from the wall clock, then commits; a step back of the
    clock in between must not add the step (hours) to the wait, measured on the monotonic
    clock."""
    wall, mono = [NOW], [100.0]
    table = JobTable(JobStore.open(tmp_path / "jobs.sqlite3"), redactor=Redactor(),
                     clock=lambda: wall[0], monotonic=lambda: mono[0],
                     longest_wait=lambda _job: 60.0)  # fmt: skip
    table.commit([job(1, state=JobState.RUNNING, next_poll_at=NOW + timedelta(seconds=5))])
    assert table.poll_due(table.job("j001")) == 105.0
    mono[0] = 110.0
    computed = wall[0] + timedelta(seconds=10) + timedelta(seconds=10)  # at NOW+10 s, 10 s wait
    wall[0] = NOW + timedelta(seconds=10) - timedelta(hours=2)  # then the clock steps back 2 h
    table.commit([job(1, state=JobState.RUNNING, next_poll_at=computed)])
    assert table.poll_due(table.job("j001")) == 120.0  # 10 s on, not 2 h
    mono[0] = 125.0  # the clock keeps its new setting: later waits are as computed
    wall[0] += timedelta(seconds=15)
    table.commit([job(1, state=JobState.RUNNING, next_poll_at=wall[0] + timedelta(seconds=7))])
    assert table.poll_due(table.job("j001")) == 132.0
