"""The job table model, its proxy and the feed that applies engine batches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt

from jobdock.core.model.job import DownloadState, JobState
from jobdock.core.model.updates import DownloadProgress
from jobdock.qt.categories import Category, matches
from jobdock.qt.feed import JobFeed, contiguous_runs
from jobdock.qt.formatting import NONE
from jobdock.qt.job_model import AMBER, RED, CellKind, Column, JobTableModel, Role
from jobdock.qt.proxy import JobFilterProxy
from jobdock.qt.sidebar import count_jobs
from tests.qt.conftest import NOW, FakeEngine, make_job, succeeded

DR = Qt.ItemDataRole


@pytest.fixture
def loaded(qapp: Any, clock: Any) -> tuple[FakeEngine, JobTableModel, JobFeed]:
    engine = FakeEngine([make_job(n) for n in range(10)])
    model = JobTableModel(clock=clock)
    feed = JobFeed(model)
    feed.attach(engine)
    yield engine, model, feed
    feed.detach()


class Recorder:
    """Counts a model's change signals."""

    def __init__(self, model: Any) -> None:
        self.changed: list[tuple[int, int, int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.resets = 0
        model.dataChanged.connect(
            lambda a, b, _roles: self.changed.append((a.row(), b.row(), a.column(), b.column()))
        )
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))
        model.modelReset.connect(lambda: setattr(self, "resets", self.resets + 1))


def test_contiguous_runs() -> None:
    assert contiguous_runs([7, 2, 1, 3, 3]) == [(1, 3), (7, 7)]
    assert contiguous_runs([]) == []


def test_model_and_proxy_pass_the_model_tester(qtmodeltester: Any, loaded: Any) -> None:
    engine, model, _feed = loaded
    engine.publish(changed=(succeeded(3, path="/tmp/x.csv", state=DownloadState.DONE),))
    qtmodeltester.check(model)
    proxy = JobFilterProxy(model)
    proxy.sort(Column.EXPIRES, Qt.SortOrder.AscendingOrder)
    qtmodeltester.check(proxy)


def test_batch_emits_one_data_changed_per_contiguous_run(loaded: Any) -> None:
    engine, model, _feed = loaded
    rec = Recorder(model)
    engine.publish(changed=tuple(make_job(n, progress=90.0) for n in (1, 2, 3, 7)))
    # newest first: job n of 10 is on row 9 - n
    assert rec.changed == [(2, 2, 0, len(Column) - 1), (6, 8, 0, len(Column) - 1)]
    assert model.index(2, Column.PROGRESS).data() == "90%"
    assert rec.inserted == [] and rec.resets == 0


def test_new_rows_are_inserted_once_per_block_and_removals_per_run(loaded: Any) -> None:
    engine, model, _feed = loaded
    rec = Recorder(model)
    engine.publish(changed=(make_job(20), make_job(21), make_job(22), make_job(4, label="x")))
    assert rec.inserted == [(0, 2)]  # on top, newest first
    assert rec.changed == [(5, 5, 0, len(Column) - 1)]
    assert [model.job_at(row).id for row in range(4)] == [
        "job0022",
        "job0021",
        "job0020",
        "job0009",
    ]
    engine.publish(removed=("job0001", "job0002", "job0008", "nope"))
    assert rec.removed == [(10, 11), (4, 4)]  # bottom-up
    assert model.rowCount() == 10
    assert [model.row_of(f"job{n:04d}") for n in (0, 3, 9, 22)] == [9, 8, 3, 0]
    assert [model.job_at(model.row_of(f"job{n:04d}")).id for n in (0, 7)] == ["job0000", "job0007"]
    assert rec.resets == 0


def test_progress_changes_only_the_download_column(loaded: Any) -> None:
    engine, model, _feed = loaded
    job = succeeded(5, state=DownloadState.DOWNLOADING)
    engine.publish(changed=(job,))
    rec = Recorder(model)
    engine.publish(progress=(DownloadProgress(job.id, 0, 512, 2048, 1024.0, 1.5),))
    assert rec.changed == [(4, 4, Column.DOWNLOAD, Column.DOWNLOAD)]
    cell = model.index(4, Column.DOWNLOAD).data(Role.DOWNLOAD.value)
    assert cell.kind == CellKind.PROGRESS and cell.fraction == pytest.approx(0.25)
    assert cell.text == "25% · 1.0 KB/s · 2 s left"
    assert model.download_totals() == (1, 1024.0)
    tooltip = model.index(4, Column.DOWNLOAD).data(DR.ToolTipRole.value)
    assert tooltip.startswith("Downloading: 1.0 KB/s · 2 s left")


def test_live_tick_is_one_signal_for_the_live_columns(loaded: Any) -> None:
    _engine, model, feed = loaded
    rec = Recorder(model)
    feed.tick()
    assert rec.changed == [(0, 9, Column.DURATION, Column.EXPIRES)]


def test_cells(qapp: Any, clock: Any) -> None:
    engine = FakeEngine([
        succeeded(1, expires_in=5 * 60),
        succeeded(2, expires_in=12 * 60),
        succeeded(3, state=DownloadState.DONE, path="/data/acme/job3/r3.csv"),
        make_job(4, state=JobState.FAILED, remote_state="failure", error="boom"),
        make_job(5),
    ])  # fmt: skip
    model = JobTableModel(clock=clock)
    JobFeed(model).attach(engine)

    def data(n: int, col: Column, role: int = DR.DisplayRole.value) -> Any:
        return model.index(model.row_of(f"job{n + 1:04d}"), col).data(role)

    assert data(0, Column.EXPIRES) == "5:00"
    assert data(0, Column.EXPIRES, DR.ForegroundRole.value) == RED
    assert data(1, Column.EXPIRES, DR.ForegroundRole.value) == AMBER
    assert data(2, Column.EXPIRES) == NONE
    assert data(2, Column.RESULT) == "r3.csv · 2.0 KB"
    assert data(0, Column.RESULT) == "1 file, not saved"
    assert data(2, Column.DOWNLOAD, Role.DOWNLOAD.value).kind == CellKind.DONE
    assert data(0, Column.DOWNLOAD, Role.DOWNLOAD.value).kind == CellKind.BUTTON
    assert "signature=REDACTED" in data(0, Column.RESULT, DR.ToolTipRole.value)
    assert data(3, Column.STATE) == "failed"
    assert "failure" in data(3, Column.STATE, DR.ToolTipRole.value)
    assert "boom" in data(3, Column.STATE, DR.ToolTipRole.value)
    assert data(3, Column.DURATION) == NONE  # failed, no finish time known
    assert data(4, Column.DURATION) == "5 min 00 s"  # running: measured up to now, live
    # no empty cells: every column says something, also before there are results
    assert data(4, Column.RESULT) == "none yet"
    assert data(3, Column.RESULT) == "none"
    assert data(4, Column.DOWNLOAD) == "waiting for the job"
    assert data(3, Column.DOWNLOAD) == NONE


def test_live_tick_refreshes_visible_rows_and_expiry_flips(qapp: Any) -> None:
    now = [NOW]
    jobs = [make_job(n) for n in range(6)] + [succeeded(10, expires_in=20 * 60)]
    engine = FakeEngine(jobs)
    model = JobTableModel(clock=lambda: now[0])
    model.expiry_margin = 15 * 60
    feed = JobFeed(model, visible_rows=lambda: [3, 2])
    feed.attach(engine)
    rec = Recorder(model)
    feed.tick()
    assert rec.changed == [(2, 3, Column.DURATION, Column.EXPIRES)]
    assert model.jobs_with_expiry() == [jobs[-1]]
    rec.changed.clear()
    now[0] = NOW + timedelta(minutes=6)  # the link enters the 15 min margin: row 0 flips
    feed.tick()
    assert rec.changed == [(0, 0, Column.DURATION, Column.EXPIRES), (2, 3, 6, 7)]
    rec.changed.clear()
    feed.tick()  # nothing flipped since
    assert rec.changed == [(2, 3, Column.DURATION, Column.EXPIRES)]
    proxy = JobFilterProxy(model)
    proxy.set_categories([Category.EXPIRING])
    assert proxy.rowCount() == 1
    now[0] = NOW + timedelta(minutes=21)  # expired: it leaves "expiring soon" on the next tick
    feed.tick()
    assert proxy.rowCount() == 0
    feed.detach()


def test_sidebar_counts_agree_with_the_category_rules(qapp: Any) -> None:
    jobs = [make_job(n) for n in range(3)] + [make_job(3, state=JobState.QUEUED)]
    jobs += [make_job(4, state=JobState.FAILED), make_job(5, state=JobState.CANCELLED)]
    jobs += [succeeded(6, expires_in=60), succeeded(7, expires_in=-60), succeeded(8)]
    jobs += [succeeded(9, state=DownloadState.DONE, path="/x")]
    counts = count_jobs(jobs, now=NOW, margin=900)
    for category in Category:
        expected = sum(matches(category, j, now=NOW, margin=900) for j in jobs)
        assert counts[category] == expected, category
    assert counts[("account", "acme")] == 5 and counts[("account", "globex")] == 5
    # the model keeps the same counts row by row, through changes and removals
    engine = FakeEngine(jobs)
    model = JobTableModel(clock=lambda: NOW)
    model.expiry_margin = 900
    feed = JobFeed(model)
    feed.attach(engine)
    assert model.category_counts() == +counts
    engine.publish(changed=(succeeded(1), make_job(6, state=JobState.FAILED)), removed=("job0009",))
    assert model.category_counts() == +count_jobs(engine.jobs(), now=NOW, margin=900)
    feed.detach()


def test_proxy_keeps_the_model_order_until_a_column_is_sorted(qapp: Any, clock: Any) -> None:
    engine = FakeEngine([make_job(n, label=f"{'zyx'[n % 3]} {n}") for n in range(6)])
    model = JobTableModel(clock=clock)
    feed = JobFeed(model)
    feed.attach(engine)
    proxy = JobFilterProxy(model)
    proxy.sort(-1, Qt.SortOrder.AscendingOrder)
    shown = lambda: [j.id[-1] for j in proxy.jobs_at(range(proxy.rowCount()))]  # noqa: E731
    assert shown() == ["5", "4", "3", "2", "1", "0"]
    engine.publish(changed=(make_job(6, label="a"),))
    assert shown()[0] == "6"  # a new job lands on top
    proxy.sort(Column.LABEL, Qt.SortOrder.AscendingOrder)
    assert shown() == ["6", "2", "5", "1", "4", "0", "3"]  # a 6, x 2, x 5, y 1, y 4, z 0, z 3
    proxy.sort(-1, Qt.SortOrder.AscendingOrder)
    assert shown()[:2] == ["6", "5"]
    feed.detach()


def test_filters_and_search(qapp: Any, clock: Any) -> None:
    jobs = [make_job(n) for n in range(4)]
    jobs += [succeeded(10, expires_in=60), succeeded(11, state=DownloadState.DONE, path="/x")]
    jobs += [make_job(12, state=JobState.QUEUED, label="Nightly dump")]
    engine = FakeEngine(jobs)
    model = JobTableModel(clock=clock)
    JobFeed(model).attach(engine)
    proxy = JobFilterProxy(model)
    ids = lambda: sorted(j.id for j in proxy.jobs_at(range(proxy.rowCount())))  # noqa: E731
    proxy.set_categories([Category.EXPIRING])
    assert ids() == ["job0010"]
    proxy.set_categories([Category.DOWNLOADED, Category.QUEUED])
    assert ids() == ["job0011", "job0012"]
    proxy.set_categories([Category.ALL])
    proxy.set_accounts(["globex"])
    assert ids() == ["job0000", "job0002", "job0010", "job0012"]
    proxy.set_search("nightly")
    assert ids() == ["job0012"]
    proxy.set_accounts([])
    proxy.set_search("JOB0003")
    assert ids() == ["job0003"]
    proxy.set_search("acme")
    assert len(ids()) == 3
    # a job leaving "expiring soon" when its link is saved leaves the filtered view
    proxy.set_search("")
    proxy.set_categories([Category.EXPIRING])
    engine.publish(changed=(succeeded(10, state=DownloadState.DONE, path="/y"),))
    assert ids() == []


def test_sorting_by_expiry(qapp: Any, clock: Any) -> None:
    engine = FakeEngine([succeeded(1, expires_in=900), succeeded(2, expires_in=60), make_job(3)])
    model = JobTableModel(clock=clock)
    JobFeed(model).attach(engine)
    proxy = JobFilterProxy(model)
    proxy.sort(Column.EXPIRES, Qt.SortOrder.AscendingOrder)
    assert [j.id for j in proxy.jobs_at(range(3))] == ["job0002", "job0001", "job0003"]
    assert NOW + timedelta(seconds=1) > NOW  # the fixed clock: no flakiness
