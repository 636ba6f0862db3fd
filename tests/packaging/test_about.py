"""The version has one source (pyproject.toml) and shows in `jobdock --version` and the About
dialog, which lists every bundled component with its version and license."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

import jobdock
from jobdock.qt.about import AboutDialog, components
from jobdock.qt.main_window import MainWindow
from tests.qt.conftest import FakeEngine

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "Jobdock": "GPL-3.0-or-later",
    "Python": "PSF-2.0",
    "Qt": "LGPL-3.0-only",
    "PySide6": "LGPL-3.0-only",
    "httpx": "BSD-3-Clause",
    "qasync": "BSD-2-Clause",
    "keyring": "MIT",
    "platformdirs": "MIT",
    "defusedxml": "PSF-2.0",
}


def pyproject_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def test_version_comes_from_pyproject() -> None:
    assert jobdock.__version__ == metadata.version("jobdock") == pyproject_version()


def test_version_flag_prints_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobdock", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"jobdock {pyproject_version()}"


def test_components_have_versions_and_licenses() -> None:
    listed = {c.name: c for c in components()}
    for name, spdx in REQUIRED.items():
        assert listed[name].license == spdx
        assert listed[name].version not in ("", "unknown"), name
    assert listed["Jobdock"].version == pyproject_version()
    assert listed["httpx"].version == metadata.version("httpx")


def test_about_dialog_lists_them(qtbot: Any) -> None:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.open()
    assert pyproject_version() in dialog.title.text()
    rows = [
        tuple(dialog.table.topLevelItem(i).text(c) for c in range(3))
        for i in range(dialog.table.topLevelItemCount())
    ]
    assert rows[0] == ("Jobdock", pyproject_version(), "GPL-3.0-or-later")
    assert {name for name, _version, _license in rows} >= REQUIRED.keys()


def test_help_menu_opens_it_without_exec(qtbot: Any, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(FakeEngine(download_dir=tmp_path), settings=settings)
    qtbot.addWidget(window)
    help_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Help"
    )
    about = next(a for a in help_menu.actions() if a.text().startswith("About"))
    about.trigger()  # returns at once: open() is window-modal, not a nested event loop
    dialog = window.dialogs["about"]
    assert isinstance(dialog, AboutDialog) and dialog.isVisible()
    dialog.reject()
    assert "about" not in window.dialogs
