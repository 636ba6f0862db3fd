"""A dialog whose OK runs a coroutine: the button is disabled meanwhile, a `JobdockError` is
shown inline in red, success closes the dialog. The task is kept (no garbage-collected work)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from jobdock.core.model.errors import JobdockError


class AsyncDialog(QDialog):
    succeeded = Signal(object)  # what the coroutine returned
    failed = Signal(object)  # the JobdockError it raised (shown inline already)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.layout_ = QVBoxLayout(self)
        self.error = QLabel(wordWrap=True)
        self.error.setVisible(False)
        self.error.setStyleSheet("color: #d03b3b")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.task: asyncio.Task[Any] | None = None

    def finish_layout(self) -> None:
        """Call after adding the form: error line and buttons go last."""
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(self.buttons)

    def error_text(self, error: JobdockError) -> str:
        """How the dialog says `error` (a dialog may name its own fields instead)."""
        return error.user_message

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def run(self, work: Callable[[], Awaitable[Any]], *, close: bool = True) -> None:
        """Run `work()` as a kept task; close the dialog when it succeeds (if `close`)."""
        if self.task is not None and not self.task.done():
            return
        self.show_error("")
        self.buttons.setEnabled(False)
        self.task = asyncio.get_running_loop().create_task(self._guarded(work, close))

    async def _guarded(self, work: Callable[[], Awaitable[Any]], close: bool) -> None:
        try:
            result = await work()
        except JobdockError as exc:
            self.show_error(self.error_text(exc))
            self.failed.emit(exc)
            return
        finally:
            self.buttons.setEnabled(True)
        self.succeeded.emit(result)
        if close:
            self.done(QDialog.DialogCode.Accepted.value)
