"""Pause, resume and cancel of downloads in the window (fake engine): the actions follow the
selection and reach the engine, sit in the Job menu, the context menu and the toolbar; a paused
download's cell says "Paused" and its Resume button resumes it."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QToolBar

from jobdock.core.model.job import DownloadState, Job
from jobdock.qt.delegates import button_rect, paused_layout
from jobdock.qt.job_model import CellKind, Column, Role, download_cell
from jobdock.qt.main_window import MainWindow
from tests.qt.conftest import FakeEngine, succeeded
from tests.qt.test_window import select


def held(job: Job, state: DownloadState) -> Job:
    (result,) = job.results
    return job.replace(results=(dataclasses.replace(result, download_state=state, held=True),))


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, clock: Any, qasync_loop: Any) -> Any:
    saved = tmp_path / "r3.csv"
    saved.write_text("a\n")
    jobs = [
        succeeded(1, state=DownloadState.DOWNLOADING),
        held(succeeded(2), DownloadState.PAUSED),
        succeeded(3, state=DownloadState.DONE, path=str(saved)),
        held(succeeded(4), DownloadState.PENDING),  # cancelled: waits for Download now
    ]
    engine = FakeEngine(jobs, download_dir=tmp_path)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(engine, settings=settings, clock=clock, open_url=lambda _url: None)
    qtbot.addWidget(win)
    win.resize(1800, 700)
    win.start()
    win.show()
    yield win
    qasync_loop.run_until_complete(win.aclose())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def enabled(win: MainWindow) -> tuple[bool, bool, bool]:
    a = win.commands
    return a.pause.isEnabled(), a.resume.isEnabled(), a.cancel_download.isEnabled()


def test_pause_resume_cancel_follow_the_selection(window: MainWindow) -> None:
    select(window)
    assert enabled(window) == (False, False, False)
    select(window, "job0001")  # downloading
    assert enabled(window) == (True, False, True)
    select(window, "job0002")  # paused
    assert enabled(window) == (False, True, True)
    select(window, "job0003")  # saved
    assert enabled(window) == (False, False, False)
    select(window, "job0004")  # cancelled: only Download now brings it back
    assert enabled(window) == (False, False, False)
    assert window.commands.download.isEnabled()
    select(window, "job0001", "job0002")
    assert enabled(window) == (True, True, True)


def test_the_actions_reach_the_engine_for_the_jobs_they_fit(
    window: MainWindow, qasync_loop: Any
) -> None:
    select(window, "job0001", "job0002", "job0003")

    async def scenario() -> None:
        window.commands.pause.trigger()
        window.commands.resume.trigger()
        window.commands.cancel_download.trigger()
        await settle()

    qasync_loop.run_until_complete(scenario())
    assert sorted(window.engine.calls) == [
        ("cancel", "job0001"), ("cancel", "job0002"),
        ("pause", "job0001"), ("resume", "job0002"),
    ]  # fmt: skip


def test_the_actions_sit_in_the_job_menu_the_context_menu_and_the_toolbar(
    window: MainWindow,
) -> None:
    a = window.commands
    wanted = [a.pause, a.resume, a.cancel_download]
    (job_menu,) = [m.menu() for m in window.menuBar().actions() if m.text() == "&Job"]
    assert all(action in job_menu.actions() for action in wanted)
    assert all(action in a.job_actions() for action in wanted)  # the table's context menu
    (toolbar,) = window.findChildren(QToolBar, "main-toolbar")
    assert a.pause in toolbar.actions() and a.resume in toolbar.actions()


def test_a_paused_download_shows_paused_and_its_resume_button_resumes(
    window: MainWindow, qasync_loop: Any, qtbot: Any
) -> None:
    engine = window.engine
    assert download_cell(engine.job("job0002"), {}).kind == CellKind.PAUSED
    assert download_cell(engine.job("job0002"), {}).text == "Paused"
    assert download_cell(engine.job("job0004"), {}).text == "Download"
    proxy, table = window.proxy, window.table
    (row,) = [r for r in range(proxy.rowCount()) if proxy.index(r, 0).data(Role.JOB_ID.value)
              == "job0002"]  # fmt: skip
    index = proxy.index(row, Column.DOWNLOAD)
    assert index.data() == "Paused"
    table.scrollTo(index)
    rect = table.visualRect(index)
    width = table.fontMetrics().horizontalAdvance("Resume") + 18
    text, button = paused_layout(button_rect(rect), width)
    assert text.right() < button.left() and button.width() > 0  # never overlapping

    async def scenario() -> None:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=text.center())
        await settle()
        assert engine.calls == []  # the text is not the button
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=button.center())
        await settle()

    qasync_loop.run_until_complete(scenario())
    assert engine.calls == [("resume", "job0002")]


def test_a_paused_download_still_counts_as_unsaved_for_its_expiry() -> None:
    from jobdock.qt.categories import unsaved_expiry

    paused = held(succeeded(2, expires_in=60), DownloadState.PAUSED)
    assert unsaved_expiry(paused) == paused.results[0].expires_at


def test_one_files_pause_resume_cancel_and_download_reach_the_engine_for_that_file(
    window: MainWindow, qasync_loop: Any, tmp_path: Path
) -> None:
    select(window, "job0001")
    detail = window.detail
    assert detail.job_id == "job0001" and detail.files.topLevelItemCount() == 1

    async def scenario() -> None:
        for action in ("pause", "cancel", "download"):
            menu = detail.file_menu(0)
            assert menu is not None
            (item,) = [a for a in menu.actions() if a.objectName() == f"file-{action}"]
            item.trigger()
        await settle()
        select(window, "job0002")
        menu = detail.file_menu(0)
        assert menu is not None
        (resume,) = [a for a in menu.actions() if a.objectName() == "file-resume"]
        resume.trigger()
        (elsewhere,) = [a for a in menu.actions() if a.objectName() == "file-download-to"]
        elsewhere.trigger()
        dialog = window.commands.folder_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.fileSelected.emit(str(tmp_path / "other"))
        dialog.reject()
        await settle()

    qasync_loop.run_until_complete(scenario())
    assert window.engine.calls == [
        ("pause", "job0001", 0), ("cancel", "job0001", 0), ("download", "job0001", 0, "None"),
        ("resume", "job0002", 0), ("download", "job0002", 0, str(tmp_path / "other")),
    ]  # fmt: skip
    assert window.commands.folder_dialog is None
