"""The main window on a fake engine: actions on the selection, sidebar, detail pane, dialogs."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, QSettings, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QToolBar, QToolButton

from jobdock.core.model.job import DownloadState, JobState, SubmitRequest
from jobdock.qt.categories import Category
from jobdock.qt.job_model import Column, Role
from jobdock.qt.main_window import MainWindow, demo_command
from tests.qt.conftest import FakeEngine, make_job, succeeded

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, clock: Any, qasync_loop: Any) -> Any:
    saved = tmp_path / "acme" / "job0001" / "r1.csv"
    saved.parent.mkdir(parents=True)
    saved.write_text("a,b\n")
    jobs = [
        succeeded(1, state=DownloadState.DONE, path=str(saved)),
        succeeded(2, request=SubmitRequest(method="GET", path="companies/async/")),
        make_job(3, state=JobState.QUEUED, last_response='{"state": "accepted", "n": [1, 2]}'),
        make_job(4, state=JobState.FAILED, error="server said no", log="line 1\nline 2"),
    ]
    engine = FakeEngine(jobs, download_dir=tmp_path)
    opened: list[QUrl] = []
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(engine, settings=settings, clock=clock, open_url=opened.append)
    # pytest-qt closes (and deletes) the window before this fixture's own teardown runs: close
    # the window's engine side first, from pytest-qt's own hook, never after the deletion.
    qtbot.addWidget(win, before_close_func=lambda w: qasync_loop.run_until_complete(w.aclose()))
    win.start()
    win.show()
    win.opened = opened
    return win


def select(win: MainWindow, *job_ids: str) -> None:
    """Select exactly these jobs' rows, as a user would with Ctrl+click."""
    model = win.table.selectionModel()
    model.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(win.proxy.rowCount()):
        index = win.proxy.index(row, 0)
        if index.data(Role.JOB_ID.value) in job_ids:
            model.select(index, flags)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_actions_follow_the_selection(window: MainWindow) -> None:
    a = window.commands
    select(window)
    assert not a.download.isEnabled() and not a.remove.isEnabled()
    select(window, "job0001")
    assert a.open_file.isEnabled() and a.download.isEnabled() and not a.retry.isEnabled()
    select(window, "job0003")
    assert not a.open_file.isEnabled() and not a.download.isEnabled() and a.refresh.isEnabled()
    select(window, "job0002", "job0003")
    assert a.retry.isEnabled() and a.download.isEnabled()


def test_engine_actions_on_a_multi_selection(window: MainWindow, qasync_loop: Any) -> None:
    engine = window.engine
    select(window, "job0001", "job0002", "job0003")

    async def scenario() -> list[str]:
        questions = []
        window.commands.download.trigger()  # 2 jobs with results: asked first, with the count
        questions.append(answer(window))
        window.commands.refresh.trigger()  # 3 jobs
        questions.append(answer(window))
        window.commands.retry.trigger()  # only job0002 has a request: nothing to ask
        assert window.commands.confirmation is None
        await settle()
        return questions

    questions = qasync_loop.run_until_complete(scenario())
    assert "2 jobs" in questions[0] and "3 jobs" in questions[1]
    assert sorted(engine.calls) == [
        ("download", "job0001"), ("download", "job0002"),
        ("refresh", "job0001"), ("refresh", "job0002"), ("refresh", "job0003"),
        ("resubmit", "job0002"),
    ]  # fmt: skip


def answer(window: MainWindow, *, yes: bool = True) -> str:
    """Answer the open question of the job actions; returns its text."""
    box = window.commands.confirmation
    assert box is not None and box.isVisible()
    text = f"{box.text()} {box.informativeText()}"
    box.button(QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.Cancel).click()
    return text


def test_bulk_actions_on_everything_shown_ask_with_a_count(
    window: MainWindow, qasync_loop: Any
) -> None:
    window.table.setFocus()
    window.table.selectAll()  # Ctrl+A: every job the filters show
    assert len(window.table.selected_jobs()) == 4

    async def scenario() -> list[str]:
        window.commands.refresh.trigger()
        refresh = answer(window, yes=False)
        window.commands.download.trigger()
        download = answer(window, yes=False)
        await settle()
        return [refresh, download]

    refresh, download = qasync_loop.run_until_complete(scenario())
    assert "about 4 jobs" in refresh
    assert "2 jobs (2 files)" in download  # the two with results
    assert window.engine.calls == []  # Cancel sends nothing


def texts(actions: list[Any]) -> list[str]:
    return [action.text() for action in actions if not action.isSeparator()]


def test_bulk_actions_offer_the_selection_and_everything_the_filter_shows(
    window: MainWindow, qasync_loop: Any
) -> None:
    window.sidebar.select(("account", "acme"))  # job0001 (saved) and job0003 (queued)
    select(window, "job0003")
    menu = texts(window.build_table_menu().actions())
    assert "Re-submit" in menu and "Remove…" in menu  # one selected: the plain words
    assert {"Download all 2 shown…", "Refresh all 2 shown…", "Re-submit all 2 shown…",
            "Remove all 2 shown…"} <= set(menu)  # fmt: skip
    a = window.commands
    # Every job shown is in the rows: what fits none of them is disabled (job0001's file is
    # saved, job0003 has none yet; neither was submitted here).
    assert not a.download_shown.isEnabled() and not a.retry_shown.isEnabled()
    assert a.refresh_shown.isEnabled() and a.remove_shown.isEnabled()
    window.sidebar.select(Category.ALL)
    select(window, "job0001", "job0002", "job0004")
    menu = texts(window.build_table_menu().actions())
    assert {"Download 3 selected…", "Refresh 3 selected…", "Re-submit 3 selected…",
            "Remove 3 selected…", "Remove all 4 shown…"} <= set(menu)  # fmt: skip
    assert a.download_shown.isEnabled() and a.retry_shown.isEnabled()  # job0002 fits both
    window.sidebar.select(("account", "acme"))
    window.recount()  # the counts of a tick: what the last menu found still holds
    assert a.download_shown.text() == "Download all 2 shown…"
    window.job_menu.aboutToShow.emit()
    assert not a.download_shown.isEnabled() and not a.retry_shown.isEnabled()
    window.recount()
    assert not a.download_shown.isEnabled() and a.remove_shown.isEnabled()
    assert window.commands.retry_shown in window.job_menu.actions()
    (toolbar,) = window.findChildren(QToolBar, "main-toolbar")
    assert [b.text() for b in toolbar.findChildren(QToolButton)
            if b.defaultAction() in (window.commands.retry, window.commands.remove)] == [
        "Re-submit", "Remove…"]  # the toolbar keeps its short words  # fmt: skip
    window.sidebar.search.setText("no such job")
    assert not window.commands.remove_shown.isEnabled()
    assert window.commands.remove_shown.text() == "Remove all 0 shown…"


def test_everything_the_filter_shows_is_acted_on_after_a_confirmation_with_its_count(
    window: MainWindow, qasync_loop: Any
) -> None:
    window.sidebar.select(Category.SUCCEEDED, Category.FAILED)  # job0001, job0002, job0004
    select(window, "job0002")  # the selection does not matter to the "all shown" actions

    async def scenario() -> list[str]:
        asked = []
        window.build_table_menu()  # the actions as a menu opens: every job shown fits one
        window.commands.retry_shown.trigger()  # only job0002 has a request
        asked.append(answer(window, yes=False))
        window.commands.download_shown.trigger()  # job0001 is saved already
        asked.append(answer(window))
        window.commands.remove_shown.trigger()
        box = window.commands.confirmation
        assert box is not None and box.checkBox() is not None  # "also delete the saved files"
        asked.append(answer(window))
        await settle()
        window.feed.flush()
        return asked

    resubmit, download, remove = qasync_loop.run_until_complete(scenario())
    assert "Start 1 of the 3 jobs shown again?" in resubmit and "tracked" in resubmit
    assert "Download the files of 1 of the 3 jobs shown (1 not saved yet)?" in download
    assert "Stop tracking all 3 jobs shown?" in remove and "1 saved file" in remove
    assert "Shown: failed, succeeded." in remove  # which filters show them
    assert sorted(window.engine.calls) == [
        ("download", "job0002"),
        ("remove", "job0001"), ("remove", "job0002"), ("remove", "job0004"),
    ]  # fmt: skip
    assert window.model.row_of("job0003") is not None  # queued: not shown, not removed


def test_open_copy_and_remove(window: MainWindow, qasync_loop: Any, tmp_path: Path) -> None:
    select(window, "job0001")
    window.commands.open_file.trigger()
    window.commands.open_folder.trigger()
    assert [u.toLocalFile() for u in window.opened] == [
        str(tmp_path / "acme" / "job0001" / "r1.csv"),
        str(tmp_path / "acme" / "job0001"),
    ]
    window.commands.copy_link.trigger()
    assert QGuiApplication.clipboard().text() == "https://storage.example/r1.csv?signature=s3cr3t"
    window.commands.copy_id.trigger()
    assert QGuiApplication.clipboard().text() == "r1"

    async def scenario() -> None:
        window.commands.remove.trigger()
        box = window.commands.confirmation
        assert box is not None and box.isVisible()
        box.button(QMessageBox.StandardButton.Yes).click()
        await settle()
        window.feed.flush()  # the window merges engine batches for up to 100 ms

    qasync_loop.run_until_complete(scenario())
    assert ("remove", "job0001") in window.engine.calls
    assert window.model.row_of("job0001") is None
    assert window.detail.job_id is None


def test_sidebar_filters_and_counts(window: MainWindow) -> None:
    window.recount()
    assert window.sidebar.count_text(Category.ALL).endswith("(4)")
    assert window.sidebar.count_text(Category.DOWNLOADED).endswith("(1)")
    assert window.sidebar.count_text(("account", "acme")).endswith("(2)")
    window.sidebar.select(Category.FAILED, Category.QUEUED)
    assert window.proxy.rowCount() == 2
    window.sidebar.select(("account", "acme"))
    assert window.proxy.rowCount() == 2
    window.sidebar.select(Category.ALL)
    window.sidebar.search.setText("export 4")
    assert window.proxy.rowCount() == 1


def shown(win: MainWindow) -> list[str]:
    rows = range(win.proxy.rowCount())
    return sorted(win.proxy.index(row, 0).data(Role.JOB_ID.value) for row in rows)


def test_a_state_and_an_account_selected_together_show_their_intersection(
    window: MainWindow,
) -> None:
    # job0001 succeeded (acme), job0002 succeeded (globex), job0003 queued (acme), job0004
    # failed (globex)
    window.sidebar.select(Category.SUCCEEDED, ("account", "globex"))
    assert shown(window) == ["job0002"]  # not every succeeded job, not every globex job
    window.sidebar.select(Category.FAILED, Category.QUEUED, ("account", "acme"))
    assert shown(window) == ["job0003"]
    window.sidebar.select(Category.FAILED, ("account", "acme"))
    assert shown(window) == []
    window.sidebar.select(Category.SUCCEEDED, ("account", "acme"), ("account", "globex"))
    assert shown(window) == ["job0001", "job0002"]


def test_re_submitting_several_jobs_asks_first_with_their_count(
    window: MainWindow, qasync_loop: Any
) -> None:
    failed = window.engine.job("job0004")
    request = SubmitRequest(method="POST", path="exports")
    window.engine.publish(changed=(dataclasses.replace(failed, request=request),))
    window.feed.flush()
    select(window, "job0001", "job0002", "job0004")  # job0001 has no request to send again

    async def scenario() -> list[str]:
        window.commands.retry.trigger()
        cancelled = answer(window, yes=False)
        await settle()
        assert window.engine.calls == []  # Cancel sends nothing
        window.commands.retry.trigger()
        confirmed = answer(window)
        await settle()
        return [cancelled, confirmed]

    cancelled, confirmed = qasync_loop.run_until_complete(scenario())
    assert "Start 2 jobs again?" in cancelled and "Start 2 jobs again?" in confirmed
    assert sorted(window.engine.calls) == [("resubmit", "job0002"), ("resubmit", "job0004")]


def test_detail_pane_shows_fields_answer_log_and_history(window: MainWindow) -> None:
    select(window, "job0003")
    assert window.detail.job_id == "job0003"
    assert '"n": [\n    1,' in window.detail.answer.toPlainText()
    assert "export 3" in window.detail.fields.text()
    assert window.detail.history.topLevelItemCount() == 1
    select(window, "job0004")
    assert window.detail.log.toPlainText() == "line 1\nline 2"
    assert "server said no" in window.detail.fields.text()
    # a batch that changes the selected job refreshes the pane
    window.engine.publish(changed=(make_job(4, state=JobState.FAILED, log="line 3"),))
    assert window.detail.log.toPlainText() == "line 1\nline 2"  # merged for up to 100 ms
    window.feed.flush()
    assert window.detail.log.toPlainText() == "line 3"


def test_click_on_download_cell_downloads(window: MainWindow, qasync_loop: Any, qtbot: Any) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    async def scenario() -> None:
        rect = window.table.cell_rect("job0002", Column.DOWNLOAD)
        QTest.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        await settle()

    qasync_loop.run_until_complete(scenario())
    assert window.engine.calls == [("download", "job0002")]


def test_columns_hide_and_layout_is_remembered(window: MainWindow, tmp_path: Path) -> None:
    menu = window.table.build_header_menu()
    hide_account = next(a for a in menu.actions() if a.text() == "Account")
    hide_account.trigger()
    assert window.table.isColumnHidden(Column.ACCOUNT)
    window.table.horizontalHeader().moveSection(Column.STATE, 0)
    window.save_layout()
    again = MainWindow(window.engine, settings=window.settings)
    again.start()
    assert again.table.isColumnHidden(Column.ACCOUNT)
    assert again.table.horizontalHeader().visualIndex(Column.STATE) == 0
    again.feed.detach()
    again.deleteLater()


def test_ctrl_f_focuses_the_search_box(window: MainWindow, qtbot: Any) -> None:
    from PySide6.QtCore import Qt

    window.activateWindow()
    window.table.setFocus()
    window.sidebar.search.setText("acme")
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.sidebar.search.hasFocus())
    assert window.sidebar.search.selectedText() == "acme"  # typing replaces the old search


def test_splitter_positions_are_remembered(
    window: MainWindow, tmp_path: Path, qtbot: Any, qasync_loop: Any
) -> None:
    window.splitter.setSizes([333, 900])
    window.right_splitter.setSizes([250, 300])
    sizes = window.splitter.sizes(), window.right_splitter.sizes()
    assert sizes[0][0] == 333
    window.save_layout()
    engine = FakeEngine(window.engine.jobs(), download_dir=tmp_path)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    again = MainWindow(engine, settings=settings)
    qtbot.addWidget(again)
    again.start()  # restores the geometry, then the splitters
    again.show()
    try:
        qtbot.waitExposed(again)
        assert again.splitter.sizes()[0] == 333  # the sidebar's width, exactly
        # The table/detail split, in proportion (the offscreen plugin restores the window a few
        # pixels smaller than it was saved: no window frame to subtract).
        table, detail = again.right_splitter.sizes()
        assert detail / (table + detail) == pytest.approx(sizes[1][1] / sum(sizes[1]), abs=0.02)
    finally:
        qasync_loop.run_until_complete(again.aclose())


def test_main_controls_have_accessible_names(window: MainWindow) -> None:
    names = {
        widget.accessibleName()
        for widget in (window.table, window.sidebar, window.sidebar.search, window.detail)
    }
    assert names == {"Jobs", "Job categories and accounts", "Search jobs", "Selected job's details"}
    # What takes the focus or speaks for itself has a name too: the sidebar's tree, each of
    # the detail pane's tabs, the toolbar (its buttons carry their text), the status bar.
    (toolbar,) = window.findChildren(QToolBar, "main-toolbar")
    detail = window.detail
    named = [window.sidebar.tree, toolbar, window.health, window.transfer_status,
             detail.fields, detail.files, detail.answer, detail.log, detail.history]  # fmt: skip
    assert all(widget.accessibleName() for widget in named), [w.accessibleName() for w in named]
    buttons = [b for b in toolbar.findChildren(QToolButton) if b.defaultAction() is not None]
    assert buttons and all(b.text() for b in buttons)


def test_first_run_explains_jobdock_and_offers_three_ways_in(
    qtbot: Any, tmp_path: Path, qasync_loop: Any
) -> None:
    engine = FakeEngine([], download_dir=tmp_path)
    engine._accounts = {}  # a fresh install: no account, no job
    demos: list[bool] = []
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(engine, settings=settings, start_demo=lambda: demos.append(True))
    qtbot.addWidget(win)
    win.start()
    win.show()
    try:
        assert win.table_stack.currentWidget() is win.empty_state
        assert not win.detail.isVisible()
        assert win.health.text() == "No jobs to follow yet"
        buttons = [b.text() for b in (win.empty_state.add_account, win.empty_state.track,
                                      win.empty_state.demo)]  # fmt: skip
        assert buttons == ["Add an account…", "Track a job by URL…", "Try the demo"]
        win.resize(1280, 800)
        qasync_loop.run_until_complete(asyncio.sleep(0.05))  # the layout settles; paint
        shot = tmp_path / "screenshot-first-run.png"
        assert win.grab().save(str(shot))
        if os.environ.get("JOBDOCK_DOCS_SCREENSHOTS") == "1":
            shutil.copyfile(shot, REPO / "docs" / "screenshot-first-run.png")
        win.empty_state.demo.click()
        assert demos == [True]

        async def new_job_without_account() -> None:
            # New job with no account leads to the account form, with the reason.
            win.commands.new_job.trigger()
            dialog = win.dialogs.get("accounts")
            assert dialog is not None and "needs an account" in dialog.status.text()
            assert "new-job" not in win.dialogs
            dialog.done(0)
            await asyncio.sleep(0)

        qasync_loop.run_until_complete(new_job_without_account())
        # The first job replaces the explanation by the table.
        engine.publish(changed=(make_job(1),))
        qtbot.waitUntil(lambda: win.table_stack.currentWidget() is win.table)
        assert win.detail.isVisible()
    finally:
        qasync_loop.run_until_complete(win.aclose())


def test_first_run_add_an_account_and_track_a_job_open_their_dialogs(
    qtbot: Any, tmp_path: Path, qasync_loop: Any
) -> None:
    from jobdock.qt.dialogs.accounts import AccountsDialog
    from jobdock.qt.dialogs.track import TrackDialog

    engine = FakeEngine([], download_dir=tmp_path)
    accounts = engine._accounts
    engine._accounts = {}  # a fresh install: no account, no job
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(engine, settings=settings)
    qtbot.addWidget(win)
    win.start()
    win.show()

    async def close(key: str) -> None:
        win.dialogs[key].done(0)
        await asyncio.sleep(0)
        assert key not in win.dialogs

    async def scenario() -> None:  # the dialogs start their work on the running loop
        win.empty_state.add_account.click()
        dialog = win.dialogs.get("accounts")
        assert isinstance(dialog, AccountsDialog) and dialog.isVisible()
        await close("accounts")
        # Tracking needs the job's account: with none, the account form comes first, saying so.
        win.empty_state.track.click()
        dialog = win.dialogs.get("accounts")
        assert isinstance(dialog, AccountsDialog) and "needs its account" in dialog.status.text()
        assert "track" not in win.dialogs
        await close("accounts")
        engine._accounts = accounts  # an account, still no job: the explanation stays
        win.refresh_accounts()
        assert win.table_stack.currentWidget() is win.empty_state
        win.empty_state.track.click()
        track = win.dialogs.get("track")
        assert isinstance(track, TrackDialog) and track.isVisible()
        await close("track")

    try:
        qasync_loop.run_until_complete(scenario())
    finally:
        qasync_loop.run_until_complete(win.aclose())


# Showing the window again raises it; the offscreen plugin cannot, and says so.
@pytest.mark.qt_log_ignore("This plugin does not support raise")
@pytest.mark.parametrize("tray", [False, True], ids=["no-tray", "tray"])
def test_closing_the_window_quits_without_a_tray_and_hides_to_it_with_one(
    qtbot: Any, tmp_path: Path, qasync_loop: Any, tray: bool
) -> None:
    engine = FakeEngine([make_job(1), make_job(2)], download_dir=tmp_path)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(engine, settings=settings)
    qtbot.addWidget(win)
    win.tray.available = tray
    quits: list[bool] = []
    win.quit_requested.connect(lambda: quits.append(True))
    win.start()
    win.show()
    try:
        win.close()
        if not tray:
            assert quits == [True]  # the runner closes everything (app.py's quit event)
            return
        assert quits == [] and not win.isVisible()  # in the tray, the engine goes on
        win.show_normal()  # a second launch (SingleInstance.activated) or the tray icon
        assert win.isVisible()
        win.hide()
        win.desktop_notifications.clicked.emit("job0002")  # a click on a notification
        assert win.isVisible()
        selected = win.table.selectionModel().selectedRows()
        assert [i.data(Role.JOB_ID.value) for i in selected] == ["job0002"]
        win.settings.setValue("tray/close_to_tray", False)  # the setting says quit anyway
        win.close()
        assert quits == [True]
    finally:
        qasync_loop.run_until_complete(win.aclose())


def test_starting_in_the_tray_needs_a_tray(qtbot: Any, tmp_path: Path) -> None:
    from jobdock.qt.app import starts_hidden
    from jobdock.qt.dialogs.settings import START_IN_TRAY

    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(FakeEngine([], download_dir=tmp_path), settings=settings)
    qtbot.addWidget(win)
    settings.setValue(START_IN_TRAY, True)
    win.tray.available = False  # GNOME without an extension: the window shows all the same
    assert not starts_hidden(win)
    win.tray.available = True
    assert starts_hidden(win)
    settings.setValue(START_IN_TRAY, False)
    assert not starts_hidden(win)


def test_each_kind_of_notification_is_switched_off_in_settings(
    window: MainWindow, qasync_loop: Any
) -> None:
    from jobdock.qt.notices import NOTICE_LABELS, Notice

    shown: list[Notice] = []
    window.notices._show = lambda kind, *_rest: shown.append(kind)

    async def scenario() -> list[str]:
        dialog = window.open_settings()
        boxes = dialog.notices  # type: ignore[attr-defined]
        labels = [boxes[kind].text() for kind in Notice]
        boxes[Notice.FAILED].setChecked(False)
        dialog.accept()  # type: ignore[attr-defined]
        for _ in range(20):
            await asyncio.sleep(0)
            if "settings" not in window.dialogs:
                break
        return labels

    labels = qasync_loop.run_until_complete(scenario())
    assert labels == [NOTICE_LABELS[kind] for kind in Notice]  # one switch per kind
    assert window.notices.enabled == set(Notice) - {Notice.FAILED}
    for job in (make_job(3, state=JobState.FAILED, error="no"), make_job(5), succeeded(5)):
        window.engine.publish(changed=(job,))
        window.feed.flush()  # one batch each (the window merges them for up to 100 ms)
    assert shown == [Notice.SUCCEEDED]  # job0003's failure said nothing; job0005's success did


def test_try_the_demo_runs_the_bundles_own_program_when_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert demo_command() == ("/usr/bin/python3", ["-m", "jobdock", "--demo"])
    # A PyInstaller bundle: sys.executable is the bundle's jobdock (or jobdock-gui) program.
    monkeypatch.setattr(sys, "executable", "/opt/Jobdock/jobdock-gui")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert demo_command() == ("/opt/Jobdock/jobdock-gui", ["--demo"])


def test_a_demo_window_does_not_offer_the_demo(qtbot: Any, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(FakeEngine([], download_dir=tmp_path), settings=settings, demo=True)
    qtbot.addWidget(win)
    assert win.empty_state.demo.isHidden()


def test_new_job_defaults_to_the_selected_jobs_account(window: MainWindow) -> None:
    job = window.engine.jobs()[0]
    assert window.engine.accounts()[0].name == "acme"  # what the dialog offers first otherwise
    window.engine.publish(changed=(dataclasses.replace(job, account="globex"),))
    window.feed.flush()
    select(window, job.id)
    dialog = window.open_new_job()
    assert dialog.account.currentData() == "globex"
    dialog.done(0)


def test_remove_can_also_delete_the_saved_files(
    window: MainWindow, tmp_path: Path, qasync_loop: Any
) -> None:
    saved = tmp_path / "acme" / "job0001" / "r1.csv"
    outside = tmp_path / "keep.txt"
    outside.write_text("not Jobdock's")
    select(window, "job0001")

    async def scenario() -> str:
        window.commands.remove.trigger()
        box = window.commands.confirmation
        assert box is not None and box.checkBox() is not None
        text = f"{box.text()} {box.informativeText()} {box.checkBox().text()}"
        assert not box.checkBox().isChecked()  # keeping the files is the default
        box.checkBox().setChecked(True)
        box.button(QMessageBox.StandardButton.Yes).click()
        for _ in range(500):  # until the removal says it is done (files go in a worker thread)
            await asyncio.sleep(0.01)
            if "Removed job job0001 and 1 saved file" in window.statusBar().currentMessage():
                break
        return text

    text = qasync_loop.run_until_complete(scenario())
    assert "1 saved file" in text
    assert ("remove", "job0001") in window.engine.calls
    assert not saved.exists() and not saved.parent.exists()  # the emptied job folder went too
    assert outside.read_text() == "not Jobdock's"


def test_deleting_saved_files_never_follows_a_link(tmp_path: Path) -> None:
    from jobdock.qt.actions import delete_saved_files

    precious = tmp_path / "precious.csv"
    precious.write_text("mine")
    folder = tmp_path / "acme" / "job0001"
    folder.mkdir(parents=True)
    (folder / "r1.csv").symlink_to(precious)  # planted where the saved file was
    (folder / "r2.csv").write_text("saved")
    (folder / "notes.txt").write_text("the user's")
    assert delete_saved_files([folder / "r1.csv", folder / "r2.csv", folder / "gone.csv"]) == 1
    assert precious.read_text() == "mine" and (folder / "r1.csv").is_symlink()
    assert not (folder / "r2.csv").exists() and (folder / "notes.txt").exists()


def test_status_bar_sums_every_download(window: MainWindow) -> None:
    from jobdock.core.model.updates import DownloadProgress

    assert window.transfer_status.text() == ""
    downloading = [
        succeeded(5, state=DownloadState.DOWNLOADING),
        succeeded(6, state=DownloadState.DOWNLOADING),
    ]
    window.engine.publish(changed=tuple(downloading))
    window.engine.publish(progress=(
        DownloadProgress("job0005", 0, 1_000, 4_000, 1_572_864.0, 2.0),
        DownloadProgress("job0006", 0, 3_000, 4_000, 524_288.0, 1.0),
    ))  # fmt: skip
    window.feed.flush()
    assert window.transfer_status.text() == "Downloading 2 files · 2.0 MB/s"
    window.engine.publish(
        changed=(
            succeeded(5, state=DownloadState.DONE, path="/d/r5.csv"),
            succeeded(6, state=DownloadState.DONE, path="/d/r6.csv"),
        )
    )
    window.feed.flush()  # fmt: skip
    assert window.transfer_status.text() == ""


def test_progress_text_sits_beside_the_bar_never_over_it() -> None:
    from PySide6.QtCore import QRect

    from jobdock.qt.delegates import progress_layout

    for width in (60, 120, 200, 400):
        area = QRect(3, 3, width, 22)
        bar, text = progress_layout(area, 16)
        assert not bar.intersects(text)
        assert area.contains(bar) and (text.width() == 0 or area.contains(text))
        assert bar.width() >= 40 and bar.height() <= 16


def test_the_time_left_stays_beside_the_bar_at_the_columns_default_width(qapp: Any) -> None:
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    from jobdock.core.model.updates import DownloadProgress
    from jobdock.qt.delegates import button_rect, fitting_text, progress_layout
    from jobdock.qt.job_model import download_cell
    from jobdock.qt.job_view import DEFAULT_WIDTHS

    metrics = QFontMetrics(QApplication.font())
    job = succeeded(1, state=DownloadState.DOWNLOADING)
    progress = {0: DownloadProgress(job.id, 0, 1_200_000, 4_000_000, 393_216.0, 10_800.0)}
    cell = download_cell(job, progress)
    assert cell.text == "30% · 384.0 KB/s · 3 h 00 min left"  # whole in the tooltip and wide
    assert cell.shorter == ("384.0 KB/s · 3 h 00 min left", "384 KB/s · 3 h left", "3 h left")
    for width in (DEFAULT_WIDTHS[Column.DOWNLOAD], 150, 400):
        area = button_rect(QRect(0, 0, width, 26))
        _bar, text_rect = progress_layout(area, metrics.height())
        shown = fitting_text((cell.text, *cell.shorter), text_rect.width(),
                             metrics.horizontalAdvance)  # fmt: skip
        assert shown.endswith("left") and metrics.horizontalAdvance(shown) <= text_rect.width()
    assert fitting_text(("long", "short"), 1, len) == "short"  # none fits: the last, elided
