"""The About dialog: Jobdock's version and license, and every bundled component with its own.

Versions are read at run time (`jobdock.__version__`, itself read from the installed metadata, so
pyproject.toml stays the one source; importlib.metadata for the libraries; Qt's and Python's own),
so the dialog is right for a wheel, an editable checkout and the PyInstaller bundle alike (the
bundle ships the dist-info directories for this: packaging/pyinstaller/jobdock.spec). Licenses
are fixed SPDX expressions here, because package metadata spells them inconsistently or not at
all. Open it with `open()`, never `exec()` (the window's `_open_dialog` does).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jobdock import __version__
from jobdock.qt.icons import icon

HOMEPAGE = "https://github.com/jobdock/jobdock"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Component:
    """A piece of software Jobdock runs on, as the About dialog lists it."""

    name: str
    version: str
    license: str


# (name, distribution, SPDX license): what Jobdock depends on directly, always listed.
_DIRECT = (
    ("httpx", "httpx", "BSD-3-Clause"),
    ("qasync", "qasync", "BSD-2-Clause"),
    ("keyring", "keyring", "MIT"),
    ("platformdirs", "platformdirs", "MIT"),
    ("defusedxml", "defusedxml", "PSF-2.0"),
)
# Their own dependencies: listed when installed (which ones depends on the platform).
_INDIRECT = (
    ("httpcore", "httpcore", "BSD-3-Clause"),
    ("h11", "h11", "MIT"),
    ("anyio", "anyio", "MIT"),
    ("sniffio", "sniffio", "MIT OR Apache-2.0"),
    ("idna", "idna", "BSD-3-Clause"),
    ("certifi", "certifi", "MPL-2.0"),
    ("jeepney", "jeepney", "MIT"),
    ("SecretStorage", "SecretStorage", "BSD-3-Clause"),
    ("cryptography", "cryptography", "Apache-2.0 OR BSD-3-Clause"),
    ("cffi", "cffi", "MIT"),
    ("pywin32-ctypes", "pywin32-ctypes", "BSD-3-Clause"),
    ("jaraco.classes", "jaraco.classes", "MIT"),
    ("jaraco.context", "jaraco.context", "MIT"),
    ("jaraco.functools", "jaraco.functools", "MIT"),
    ("more-itertools", "more-itertools", "MIT"),
    ("backports.tarfile", "backports.tarfile", "MIT"),
    ("importlib_metadata", "importlib_metadata", "Apache-2.0"),
    ("zipp", "zipp", "MIT"),
    ("typing_extensions", "typing_extensions", "PSF-2.0"),
)


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def components() -> list[Component]:
    """Jobdock first, then the runtime (Python, Qt, PySide6), direct and indirect libraries."""
    listed = [
        Component("Jobdock", __version__, "GPL-3.0-or-later"),
        Component("Python", platform.python_version(), "PSF-2.0"),
        Component("Qt", qVersion(), "LGPL-3.0-only"),
        Component("PySide6", PySide6.__version__, "LGPL-3.0-only"),
        Component("shiboken6", _installed_version("shiboken6") or UNKNOWN, "LGPL-3.0-only"),
    ]
    listed += [
        Component(name, _installed_version(dist) or UNKNOWN, spdx) for name, dist, spdx in _DIRECT
    ]
    for name, dist, spdx in _INDIRECT:
        version = _installed_version(dist)
        if version is not None:
            listed.append(Component(name, version, spdx))
    return listed


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Jobdock")
        self.components = components()
        layout = QVBoxLayout(self)
        layout.addLayout(self._header())
        layout.addWidget(QLabel("Built with:"))
        self.table = self._component_table()
        layout.addWidget(self.table)
        notice = QLabel(
            "Qt and PySide6 are used under the LGPL-3.0 as separate shared libraries, which you "
            'may replace; their sources are at <a href="https://download.qt.io">download.qt.io</a>.',
            wordWrap=True,
            openExternalLinks=True,
        )
        layout.addWidget(notice)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 520)

    def _header(self) -> QHBoxLayout:
        logo = QLabel()
        logo.setPixmap(icon("jobdock").pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title = QLabel(f"<h2>Jobdock {__version__}</h2>")
        text = QLabel(
            "Watches jobs on asynchronous web APIs and saves their results before the links "
            f'expire.<br><a href="{HOMEPAGE}">{HOMEPAGE}</a><br><br>'
            "License: GPL-3.0-or-later. This program comes with ABSOLUTELY NO WARRANTY; it is "
            "free software, and you are welcome to redistribute it under its conditions.",
            wordWrap=True,
            openExternalLinks=True,
        )
        column = QVBoxLayout()
        column.addWidget(self.title)
        column.addWidget(text)
        header = QHBoxLayout()
        header.addWidget(logo)
        header.addLayout(column, 1)
        return header

    def _component_table(self) -> QTreeWidget:
        table = QTreeWidget()
        table.setRootIsDecorated(False)
        table.setUniformRowHeights(True)
        table.setHeaderLabels(["Component", "Version", "License"])
        for component in self.components:
            table.addTopLevelItem(
                QTreeWidgetItem([component.name, component.version, component.license])
            )
        for column in range(2):
            table.resizeColumnToContents(column)
        return table
