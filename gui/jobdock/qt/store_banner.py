"""The banner above the job table while the job store cannot be written (the data disk is full,
the file read-only): the engine keeps every job change in memory meanwhile (`WriteBack`).

It names the reason and the data folder, says that the changes will be saved by themselves and
that quitting before then loses them, and offers to open the folder. It is shown and hidden by
the window as the engine's `store_problem` comes and goes: never a dialog, never repeated.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

from jobdock.qt.icons import icon

# Fixed colours (text included) so that it reads the same in light and dark themes.
_STYLE = (
    "#store-banner { background: #fff4ce; border: 1px solid #d9a400; border-radius: 4px; }"
    " #store-banner QLabel { color: #3d3000; background: transparent; }"
)


def store_problem_text(problem: str, *, data_dir: Path, store_file: Path) -> tuple[str, str]:
    """(headline, details) for the banner. The store says "cannot write the job store FILE:
    REASON"; the headline gives the reason alone (the whole text when it reads otherwise)."""
    _, found, reason = problem.partition(f"{store_file}: ")
    reason = reason.strip() if found and reason.strip() else problem
    headline = f"Job changes cannot be saved: {reason}"
    details = (
        f"Jobdock keeps them in memory and saves them by itself as soon as its data folder "
        f"can be written again: {data_dir}. Quitting Jobdock before then loses them."
    )
    return headline, details


class StoreBanner(QWidget):
    """The framed message with a margin around it: hidden, it takes no room at all."""

    open_folder_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = QFrame()
        self.box.setObjectName("store-banner")
        self.box.setStyleSheet(_STYLE)
        self.setAccessibleName("Job changes not saved")
        self.problem: str | None = None
        self.icon_label = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self.icon_label.setPixmap(warning.pixmap(size, size))
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setAccessibleName("Why job changes are not saved")
        self.open_folder = QPushButton(icon("open-folder"), "Open data folder")
        self.open_folder.setAccessibleName("Open the data folder")
        self.open_folder.clicked.connect(self.open_folder_requested)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 4)
        outer.addWidget(self.box)
        layout = QHBoxLayout(self.box)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(10)
        layout.addWidget(self.icon_label)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.open_folder, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    def show_problem(self, problem: str | None, *, data_dir: Path, store_file: Path) -> None:
        """Show why the store refuses writes, or hide (`problem` None). Nothing happens while
        the problem stays the same: this runs on every update batch and every second."""
        if problem == self.problem:
            return
        self.problem = problem
        if problem is None:
            self.hide()
            self.text.clear()
            self.setAccessibleDescription("")
            return
        headline, details = store_problem_text(problem, data_dir=data_dir, store_file=store_file)
        self.text.setText(f"<b>{html.escape(headline)}</b><br>{html.escape(details)}")
        self.text.setToolTip(problem)
        self.setAccessibleDescription(f"{headline}. {details}")
        self.show()
