"""The window while the job store cannot be written (the data disk is full): a banner above the
table says so — the reason, the data folder, that the changes wait in memory — for as long as
it lasts, and goes by itself once they are saved; never a dialog. A real SQLite file on a
2 MiB tmpfs under a real engine, with the simulator on 127.0.0.1 (as in
tests/core/store/test_writeback.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QUrl
from PySide6.QtWidgets import QApplication, QDialog

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.qt.main_window import MainWindow
from jobdock.qt.store_banner import store_problem_text
from jobdock.simulator import SimConfig, Simulator
from tests.qt.conftest import FakeEngine, make_job
from tests.support.qt_async import next_emission
from tests.support.tmpfs import fill, mounted_tmpfs


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "disk", "2m") as disk:
        yield disk.path


def _stored_ids(path: Path) -> set[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT id FROM jobs")}
    finally:
        db.close()


async def _until(
    window: MainWindow, condition: Callable[[], object], *, what: str, limit: float = 30.0
) -> None:
    """Checked after every update batch and every tick of the window's feed: the moments the
    banner is looked at."""
    try:
        async with asyncio.timeout(limit):
            while not condition():
                signals = (window.feed.batch_applied, window.feed.ticked)
                waits = [next_emission(signal) for signal in signals]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for wait in waits:
                        wait.cancel()
    except TimeoutError:
        raise AssertionError(f"not within {limit:g} s: {what}") from None


def _dialogs() -> list[str]:
    return [w.objectName() or type(w).__name__ for w in QApplication.topLevelWidgets()
            if isinstance(w, QDialog) and w.isVisible()]  # fmt: skip


def test_a_full_data_disk_shows_a_banner_until_the_changes_are_saved(
    qtbot: Any, qasync_loop: Any, tiny_disk: Path, tmp_path: Path
) -> None:
    config = SimConfig(queue_time=0.1, run_time=0.3, result_size=1024)
    paths = AppPaths(data_dir=tiny_disk / "data", default_download_dir=tmp_path / "dl")
    store = JobStore.open(paths.ensure().store_file)
    engine = Engine(store=store, credentials=MemoryCredentialStore(), paths=paths)
    engine.configure(auto_download=False)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings)
    qtbot.addWidget(window)
    banner = window.store_banner

    with Simulator(config) as sim:

        async def scenario() -> None:
            account = Account(
                name="v", provider="vainu", base_url=sim.base_url("vainu"),
                options={"poll_min": "0.05", "poll_max": "0.2"},
            )  # fmt: skip
            await engine.add_account(account, sim.secret("vainu"))
            request = engine.provider("vainu").default_request()
            window.start()
            window.resize(1100, 640)
            window.show()
            try:
                first = await engine.submit("v", request)
                await engine.start()  # the worker's lease is taken while there is room
                assert banner.isHidden()
                filler = fill(tiny_disk)
                second = await engine.submit("v", request)  # the store refuses it
                await _until(window, banner.isVisible, what="the banner")
                shown = banner.text.text()
                done = {first.id, second.id}
                await _until(window, lambda: engine.all_settled(done), what="both jobs ended")
                window.feed.tick()  # more refused writes, another second: the same banner
                assert banner.isVisible() and banner.text.text() == shown
                assert _stored_ids(paths.store_file) == {first.id}  # nothing written meanwhile
                assert not _dialogs()  # said in the window, not in a dialog
                text = banner.text.text()
                assert "cannot be saved: database or disk is full" in text, text
                assert str(paths.data_dir) in text and "saves them by itself" in text, text
                assert "Job changes cannot be saved" in banner.accessibleDescription()
                assert banner.accessibleName() == "Job changes not saved"
                banner_bottom = banner.mapTo(window, banner.rect().bottomLeft()).y()
                assert banner_bottom < window.table.mapTo(window, window.table.rect().topLeft()).y()
                window.feed.flush()
                window.recount()
                assert window.grab().save(str(tmp_path / "store-banner.png"))
                filler.unlink()
                await _until(window, banner.isHidden, what="the banner gone after the write")
                assert engine.store_problem is None
                assert _stored_ids(paths.store_file) == {first.id, second.id}
            finally:
                await window.aclose()
                await engine.aclose()

        try:
            qasync_loop.run_until_complete(scenario())
        finally:
            store.close()
    assert not _dialogs()


def test_the_banner_follows_the_engine_and_opens_the_data_folder(
    qtbot: Any, qasync_loop: Any, tmp_path: Path
) -> None:
    """Without a disk to fill: shown with the first update batch after a refused write, the
    same through every tick, hidden on the first tick after the store took the changes."""
    engine = FakeEngine([make_job(1)], download_dir=tmp_path)
    opened: list[QUrl] = []
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings, open_url=opened.append)
    qtbot.addWidget(window)
    window.start()
    window.show()
    banner = window.store_banner
    assert banner.isHidden()
    assert window.splitter.geometry().top() == 0  # a hidden banner takes no room
    store_file = engine.paths.store_file
    engine.store_problem = (
        f"cannot write the job store {store_file}: attempt to write a readonly database"
    )
    engine.publish(changed=(make_job(2),))
    window.feed.flush()
    assert banner.isVisible()
    assert "cannot be saved: attempt to write a readonly database" in banner.text.text()
    assert str(engine.paths.data_dir) in banner.text.text()
    assert banner.text.toolTip() == engine.store_problem  # the store's own words, file named
    banner.open_folder.click()
    assert opened == [QUrl.fromLocalFile(str(engine.paths.data_dir))]
    window.feed.tick()
    assert banner.isVisible()
    engine.store_problem = None
    window.feed.tick()
    assert banner.isHidden()
    assert not _dialogs()
    qasync_loop.run_until_complete(window.aclose())


def test_a_problem_worded_otherwise_is_shown_whole() -> None:
    headline, details = store_problem_text(
        "the disk went away", data_dir=Path("/d"), store_file=Path("/d/jobs.sqlite3")
    )
    assert headline == "Job changes cannot be saved: the disk went away"
    assert "/d" in details and "Quitting Jobdock before then loses them" in details
