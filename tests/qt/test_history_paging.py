"""The window's table over settled history it pages in (a real JobTable on a SQLite file):
a job not fetched yet is counted, found by search, shown by its filter and selected by
"select all"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from jobdock.core.engine.table import JobTable
from jobdock.core.model.job import DownloadState, JobState
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.credentials import MemoryCredentialStore, Redactor
from jobdock.core.store.jobs import JobStore
from jobdock.core.store.settings import EngineSettings, save_settings
from jobdock.qt import feed as feed_module
from jobdock.qt import job_model
from jobdock.qt.categories import Category
from jobdock.qt.feed import JobFeed
from jobdock.qt.job_model import JobTableModel
from jobdock.qt.job_view import JobTableView
from jobdock.qt.main_window import MainWindow
from jobdock.qt.proxy import JobFilterProxy
from jobdock.runtime import Runtime
from tests.qt.conftest import NOW, make_job, succeeded


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobTable:
    monkeypatch.setattr(job_model, "HISTORY_PAGE", 3)
    monkeypatch.setattr(feed_module, "HISTORY_PAGE", 3)
    store = JobStore.open(tmp_path / "jobs.sqlite3")
    history = [succeeded(n, state=DownloadState.DONE, path=f"/d/{n}.csv") for n in range(10)]
    history.append(make_job(10, state=JobState.FAILED, label="the old failure"))
    store.put_jobs([*history, make_job(11), succeeded(12)])  # running; a link waiting
    return JobTable(store, redactor=Redactor(), clock=lambda: NOW, monotonic=lambda: 0.0,
                    longest_wait=lambda _job: 60.0)  # fmt: skip


def window_table(qtbot: Any, table: JobTable) -> tuple[JobTableModel, JobFilterProxy]:
    model = JobTableModel(clock=lambda: NOW)
    JobFeed(model).attach(table)
    return model, JobFilterProxy(model)  # no view: it would fetch until its viewport is full


def test_the_first_load_is_the_unsettled_jobs_and_the_newest_page(qtbot: Any, table: Any) -> None:
    model, _proxy = window_table(qtbot, table)
    assert model.rowCount() == 5 and model.canFetchMore()
    assert [model.job_at(r).id for r in range(5)] == ["job0012", "job0011", "job0010",
                                                       "job0009", "job0008"]  # fmt: skip
    counts = model.category_counts()
    assert counts[Category.ALL] == 13 and counts[Category.DOWNLOADED] == 10
    assert counts[Category.FAILED] == 1 and counts[("account", "globex")] == 7
    model.fetchMore()
    assert model.rowCount() == 8 and model.job_at(7).id == "job0005"
    assert model.category_counts() == counts  # paging in moves counts, never changes them


def test_search_and_filters_reach_jobs_not_fetched_yet(qtbot: Any, table: Any) -> None:
    model, proxy = window_table(qtbot, table)
    proxy.set_search("export 2")
    assert [proxy.jobs_at([r])[0].id for r in range(proxy.rowCount())] == ["job0002"]
    assert not model.canFetchMore()
    proxy.set_search("")
    proxy.set_categories([Category.DOWNLOADED])
    assert proxy.rowCount() == 10


def test_select_all_and_a_bulk_remove_take_in_the_whole_history(qtbot: Any, table: Any) -> None:
    model, proxy = window_table(qtbot, table)
    view = JobTableView(proxy)
    qtbot.addWidget(view)
    view.selectAll()
    assert len(view.selected_jobs()) == 13
    for job in view.selected_jobs():  # what a bulk remove does, job by job
        table.forget(job.id)
    table.flush()
    assert model.rowCount() == 0 and model.category_counts()[Category.ALL] == 0


def test_a_window_paints_the_newest_unsettled_jobs_first_and_the_rest_follow(
    qasync_loop: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's engine reads its unsettled jobs after the first paint: the first load holds
    the newest page of them, the rest arrive as batches once the engine runs."""
    monkeypatch.setattr(job_model, "HISTORY_PAGE", 3)
    monkeypatch.setattr(feed_module, "HISTORY_PAGE", 3)
    paths = AppPaths.resolve(tmp_path / "data").ensure()
    store = JobStore.open(paths.store_file)
    ten_years = 10 * 365 * 86400.0
    store.put_jobs([succeeded(n, expires_in=ten_years) for n in range(8)])  # links waiting
    save_settings(store, EngineSettings(download_dir=tmp_path / "dl", auto_download=False))
    store.close()

    async def scenario() -> tuple[list[str], int, list[str], int, list[tuple[Any, ...]]]:
        async with Runtime.open(data_dir=paths.data_dir, credentials=MemoryCredentialStore(),
                                profiles=[], defer_unsettled=True) as runtime:  # fmt: skip
            settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
            window = MainWindow(runtime.engine, settings=settings, title="Jobdock")
            qtbot.addWidget(window)
            shown: list[tuple[Any, ...]] = []
            window.notices._show = lambda *notice: shown.append(notice)
            window.start()
            model = window.model
            first = [model.job_at(r).id for r in range(model.rowCount())]
            unread = runtime.engine.unread_left()
            await runtime.engine.start()
            while model.rowCount() < 8:  # noqa: ASYNC110 - the feed applies batches on timers
                await asyncio.sleep(0.02)
            later = [model.job_at(r).id for r in range(model.rowCount())]
            window.recount()
            counted = window.model.category_counts()[Category.ALL]
            await window.aclose()
            return first, unread, later, counted, shown

    first, unread, later, counted, shown = qasync_loop.run_until_complete(scenario())
    assert first == ["job0007", "job0006", "job0005"] and unread == 5
    assert later == [f"job{n:04d}" for n in reversed(range(8))] and counted == 8  # below
    assert shown == []  # succeeded long ago: read later, not news


def test_fetching_everything_reads_the_unsettled_jobs_not_read_yet(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_model, "HISTORY_PAGE", 3)
    monkeypatch.setattr(feed_module, "HISTORY_PAGE", 3)
    store = JobStore.open(tmp_path / "jobs.sqlite3")
    store.put_jobs([*(make_job(n) for n in range(6)), succeeded(6, state=DownloadState.DONE,
                                                                path="/d/6.csv")])  # fmt: skip
    table = JobTable(store, redactor=Redactor(), clock=lambda: NOW, monotonic=lambda: 0.0,
                     longest_wait=lambda _job: 60.0, defer_unsettled=True)  # fmt: skip
    model, proxy = window_table(qtbot, table)
    assert model.rowCount() == 4 and table.unread_left() == 3  # 3 unsettled, 1 settled
    proxy.set_search("export 1")  # a search looks at every job
    assert [proxy.jobs_at([r])[0].id for r in range(proxy.rowCount())] == ["job0001"]
    assert model.rowCount() == 7 and table.unread_left() == 0


def test_the_all_shown_actions_count_and_take_the_jobs_not_fetched_yet(
    qasync_loop: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Remove all 13 shown…" over a table that holds 4 rows: the settled history not paged in
    and the unsettled jobs not read yet are counted, fetched before the question and removed."""
    from PySide6.QtWidgets import QMessageBox, QWidget

    from jobdock.qt.actions import JobActions
    from jobdock.qt.loop import ErrorReporter, Tasks
    from tests.qt.conftest import FakeEngine

    monkeypatch.setattr(job_model, "HISTORY_PAGE", 3)
    monkeypatch.setattr(feed_module, "HISTORY_PAGE", 3)
    store = JobStore.open(tmp_path / "jobs.sqlite3")
    unsettled = [make_job(n) for n in range(6)]
    history = [succeeded(n, state=DownloadState.DONE, path=f"/d/{n}.csv") for n in range(6, 13)]
    store.put_jobs([*unsettled, *history])
    table = JobTable(store, redactor=Redactor(), clock=lambda: NOW, monotonic=lambda: 0.0,
                     longest_wait=lambda _job: 60.0, defer_unsettled=True)  # fmt: skip
    model, proxy = window_table(qtbot, table)
    assert model.rowCount() < 13 and table.unread_left() and table.history_left()
    assert proxy.shown_count() == 13  # what the action says before anything is fetched
    parent = QWidget()
    qtbot.addWidget(parent)
    engine = FakeEngine()
    tasks = Tasks(ErrorReporter(), on_known=lambda what, error: None)
    actions = JobActions(engine=engine, tasks=tasks, selection=list, parent=parent,
                         shown=proxy.shown_jobs)  # fmt: skip
    actions.fit_shown(proxy.shown_count(), None)  # a menu opens: nothing is fetched for it
    assert actions.remove_shown.text() == "Remove all 13 shown…"
    assert actions.download_shown.isEnabled() and actions.retry_shown.isEnabled()

    async def scenario() -> str:
        actions.remove_shown.trigger()
        box = actions.confirmation
        assert box is not None
        text = box.text()
        box.button(QMessageBox.StandardButton.Yes).click()
        for _ in range(5):
            await asyncio.sleep(0)
        return text

    assert qasync_loop.run_until_complete(scenario()) == "Stop tracking all 13 jobs shown?"
    assert sorted(c[1] for c in engine.calls) == [f"job{n:04d}" for n in range(13)]
    assert model.rowCount() == 13 and table.unread_left() == 0 and table.history_left() == 0
    proxy.set_accounts(["acme"])  # a filter fetched everything: its rows are the count
    assert proxy.shown_count() == proxy.rowCount() == 6
