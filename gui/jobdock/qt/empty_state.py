"""What the window shows in place of the job table while there is no job at all: what Jobdock
does, and the three ways to start (add an account, track a job by URL, try the demo)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from jobdock.qt.icons import icon

INTRO = (
    "<h2>Nothing to watch yet</h2>"
    "<p>Jobdock follows jobs on asynchronous web APIs: the ones that answer a heavy request "
    "with a job id, make you poll for its state, and finally hand you a download link that "
    "expires. It polls every job of all your accounts and saves each result to disk before "
    "its link dies, resuming and verifying the download.</p>"
    "<p>Add an account of an API you use, paste the status URL of a job you already started, "
    "or try everything on the built-in simulator first.</p>"
)


class EmptyState(QWidget):
    add_account_requested = Signal()
    track_requested = Signal()
    demo_requested = Signal()

    def __init__(self, parent: QWidget | None = None, *, demo_offered: bool = True) -> None:
        super().__init__(parent)
        self.setAccessibleName("No jobs yet")
        intro = QLabel(INTRO, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        intro.setMaximumWidth(560)
        intro.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.add_account = QPushButton(icon("accounts"), "Add an account…")
        self.add_account.setDefault(True)
        self.track = QPushButton(icon("track"), "Track a job by URL…")
        self.demo = QPushButton(icon("jobdock"), "Try the demo")
        self.demo.setToolTip("Opens a second window on the built-in simulator; nothing is sent out")
        self.demo.setVisible(demo_offered)
        self.add_account.clicked.connect(self.add_account_requested)
        self.track.clicked.connect(self.track_requested)
        self.demo.clicked.connect(self.demo_requested)
        buttons = QHBoxLayout()
        for button in (self.add_account, self.track, self.demo):
            buttons.addWidget(button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(intro)
        column.addSpacing(12)
        column.addLayout(buttons)
        column.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column)
        outer.addStretch(1)
