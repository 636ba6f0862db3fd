"""The window's table over settled history it pages in (a real JobTable on a SQLite file):
a job not fetched yet is counted, found by search, shown by its filter and selected by
"select all"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobdock.core.engine.table import JobTable
from jobdock.core.model.job import DownloadState, JobState
from jobdock.core.store.credentials import Redactor
from jobdock.core.store.jobs import JobStore
from jobdock.qt import feed as feed_module
from jobdock.qt import job_model
from jobdock.qt.categories import Category
from jobdock.qt.feed import JobFeed
from jobdock.qt.job_model import JobTableModel
from jobdock.qt.job_view import JobTableView
from jobdock.qt.proxy import JobFilterProxy
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
