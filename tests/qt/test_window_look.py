"""The window's look: a light ↔ dark palette switch re-tints the icons, the sync action follows
the accounts, and a dark screenshot of a busy table (saved to docs/screenshot-dark.png when
JOBDOCK_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from jobdock.core.model.job import Account, DownloadState, JobState
from jobdock.core.model.updates import DownloadProgress
from jobdock.qt.main_window import MainWindow
from tests.qt.conftest import NOW, FakeEngine, make_job, succeeded

REPO = Path(__file__).resolve().parents[2]


def dark_palette() -> QPalette:
    role, palette = QPalette.ColorRole, QPalette()
    colours = {
        role.Window: "#2b2d30", role.WindowText: "#e6e6e6", role.Base: "#1e1f22",
        role.AlternateBase: "#26282b", role.Text: "#e6e6e6", role.Button: "#35373b",
        role.ButtonText: "#e6e6e6", role.Highlight: "#2f65ca", role.HighlightedText: "#ffffff",
        role.ToolTipBase: "#35373b", role.ToolTipText: "#e6e6e6", role.PlaceholderText: "#8c8c8c",
        role.Mid: "#4a4c50", role.Dark: "#151618", role.Light: "#45474b", role.Link: "#6ea8fe",
    }  # fmt: skip
    for which, colour in colours.items():
        palette.setColor(which, QColor(colour))
    for which in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, which, QColor("#7a7a7a"))
    return palette


def lightness(icon: QIcon) -> int:
    """How light the drawn (opaque) pixels of a tool icon are, 0..255."""
    image = icon.pixmap(24, 24).toImage()
    values = [
        image.pixelColor(x, y).lightness()
        for x in range(24) for y in range(24) if image.pixelColor(x, y).alpha() > 200
    ]  # fmt: skip
    return round(sum(values) / len(values))


@pytest.fixture
def restore_palette(qapp: QApplication) -> Iterator[None]:
    before = qapp.palette()
    yield
    qapp.setPalette(before)


def busy_engine(tmp_path: Path) -> FakeEngine:
    saved = tmp_path / "r.csv"
    jobs = [
        succeeded(1, state=DownloadState.DONE, path=str(saved), label="Nightly devices export"),
        succeeded(2, expires_in=8 * 60, label="Orders snapshot"),
        succeeded(3, expires_in=13 * 60, label="Products snapshot"),
        succeeded(4, state=DownloadState.DOWNLOADING, label="Companies FI"),
        make_job(5, label="Companies SE", progress=62.0),
        make_job(6, state=JobState.QUEUED, progress=None, label="Alarms last week"),
        make_job(7, state=JobState.FAILED, error="HTTP 500 from the API", label="Companies NO"),
        succeeded(8, expires_in=5 * 3600, label="Measurements Q3"),
    ]
    engine = FakeEngine(jobs, download_dir=tmp_path)
    engine.publish(progress=(DownloadProgress("job0004", 0, 3_400_000, 8_000_000, 1.2e6, 4.0),))
    return engine


def test_palette_switch_retints_icons_and_dark_screenshot(
    qtbot: Any, qasync_loop: Any, tmp_path: Path, clock: Any, restore_palette: None
) -> None:
    engine = busy_engine(tmp_path)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings, clock=clock)
    qtbot.addWidget(window)
    window.start()
    engine.publish(progress=(DownloadProgress("job0004", 0, 3_400_000, 8_000_000, 1.2e6, 4.0),))
    window.feed.flush()
    window.resize(1280, 760)
    window.show()
    window.table.selectRow(window.proxy.mapFromSource(window.model.index(
        window.model.row_of("job0002"), 0)).row())  # fmt: skip
    light = lightness(window.commands.download.icon())
    QApplication.instance().setPalette(dark_palette())
    qasync_loop.run_until_complete(asyncio.sleep(0.05))  # the palette change event; paint
    dark = lightness(window.commands.download.icon())
    assert light < 100 < dark, (light, dark)  # dark strokes on light, light strokes on dark
    assert lightness(window.sidebar.search.actions()[0].icon()) > 100
    shot = tmp_path / "dark.png"
    assert window.grab().save(str(shot))
    if os.environ.get("JOBDOCK_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(shot, REPO / "docs" / "screenshot-dark.png")
    qasync_loop.run_until_complete(window.aclose())


def test_sync_action_follows_accounts_with_a_job_list(
    qtbot: Any, qasync_loop: Any, tmp_path: Path, clock: Any
) -> None:
    engine = FakeEngine([make_job(1)], download_dir=tmp_path)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings, clock=clock)
    qtbot.addWidget(window)
    window.start()
    assert not window.commands.sync.isEnabled()  # vainu and testo have no job list
    engine._accounts["shop"] = Account(name="shop", provider="shoptet",
                                       base_url="https://api.myshoptet.com")  # fmt: skip
    window.refresh_accounts()
    assert window.commands.sync.isEnabled()

    async def scenario() -> None:
        window.commands.sync.trigger()
        menu_sync = window.build_account_menu("acme").actions()[0]
        assert menu_sync.text() == "Sync acme" and not menu_sync.isEnabled()
        window.build_account_menu("shop").actions()[0].trigger()
        for _ in range(5):
            await asyncio.sleep(0)

    qasync_loop.run_until_complete(scenario())
    assert engine.calls == [("sync", "shop"), ("sync", "shop")]
    assert "Synced shop" in window.statusBar().currentMessage()
    qasync_loop.run_until_complete(window.aclose())


def test_expiry_colours_stay_readable(qapp: Any, clock: Any) -> None:
    # amber and red on the table's base colour, light or dark: the contrast of the text colours
    from jobdock.qt.job_model import AMBER, RED

    for base in (QColor("#ffffff"), QColor("#1e1f22")):
        for colour in (AMBER, RED):
            assert abs(colour.lightness() - base.lightness()) > 60, (colour.name(), base.name())
    assert NOW + timedelta(0) == clock()
    assert Qt.AlignmentFlag.AlignRight  # (the module imports stay used)
