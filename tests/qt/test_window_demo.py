"""End to end: the real window on `Runtime.open(demo=True)` (the built-in simulator on
127.0.0.1): a short demo job succeeds, one click on its download cell saves the file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from jobdock.core.model.job import DownloadState, JobState
from jobdock.core.net.requests import build_request
from jobdock.qt.app import window_session
from jobdock.qt.job_model import CellKind, Column, Role


async def wait_for(predicate: Any, *, seconds: float = 20.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_demo_job_downloads_on_click(qasync_loop: Any, tmp_path: Path, qtbot: Any) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)

    async def scenario() -> Path:
        async with window_session(data_dir=str(tmp_path), demo=True, settings=settings) as (
            runtime,
            window,
        ):
            engine = runtime.engine
            # fast polls, no automatic download: the click must do it
            engine.configure(auto_download=False, poll_min=0.2, poll_max=0.5)
            runtime.simulator.config.retry_after = None
            window.show()
            assert window.model.rowCount() == len(engine.jobs()) > 0
            default = engine.provider("vainu").default_request()
            request = build_request(default, params=[*default.params, ("sim_duration", "0.5")])
            job = await engine.submit("demo-vainu", request, label="e2e quick")
            await wait_for(lambda: window.model.row_of(job.id) is not None, what="the new row")

            def cell() -> CellKind:
                index = window.model.index(window.model.row_of(job.id), Column.DOWNLOAD)
                return index.data(Role.DOWNLOAD.value).kind

            await wait_for(
                lambda: (
                    window.model.job_at(window.model.row_of(job.id)).state == JobState.SUCCEEDED
                ),
                what="success",
            )
            assert cell() == CellKind.BUTTON
            rect = window.table.cell_rect(job.id, Column.DOWNLOAD)
            viewport = window.table.viewport()
            QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
            await wait_for(
                lambda: engine.job(job.id).results[0].download_state == DownloadState.DONE,
                what="the download",
            )
            saved = Path(engine.job(job.id).results[0].path)
            await wait_for(lambda: cell() == CellKind.DONE, what="the table to show it saved")
            return saved

    saved = qasync_loop.run_until_complete(scenario())
    assert saved.is_file() and saved.stat().st_size > 0
    assert saved.is_relative_to(tmp_path / "downloads")
