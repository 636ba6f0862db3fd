"""Running asyncio work from the window: kept tasks, and one place for unexpected errors.

`Tasks.spawn` starts a coroutine on the qasync loop and keeps a reference until it ends (the
loop only keeps weak ones). A `JobdockError` is a known condition: it goes to `on_known` (the
status bar and a non-modal message). Anything else is a bug: `ErrorReporter` logs it with its
traceback and shows *one* dialog (further errors while it is open are only logged), opened with
`open()`, never `exec()`. The reporter is also the asyncio loop's exception handler and
`sys.excepthook`, so exceptions escaping Qt slots end up in the same place instead of a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from jobdock.core.model.errors import JobdockError

log = logging.getLogger("jobdock.qt")


class ErrorReporter(QObject):
    """Logs unexpected exceptions and shows one dialog about them at a time."""

    reported = Signal(str)  # the summary line, after logging

    def __init__(self, parent_widget: Callable[[], QWidget | None] = lambda: None) -> None:
        super().__init__()
        self._parent_widget = parent_widget
        self.dialog: QMessageBox | None = None
        self.count = 0

    def set_parent_widget(self, parent_widget: Callable[[], QWidget | None]) -> None:
        self._parent_widget = parent_widget

    def report(self, exc: BaseException, *, context: str = "") -> None:
        self.count += 1
        summary = f"{context}: {type(exc).__name__}: {exc}" if context else f"{exc!r}"
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("unexpected error %s\n%s", context or "", details)
        self.reported.emit(summary)
        if self.dialog is not None:
            return  # one dialog: the rest is in the log
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "Jobdock: unexpected error",
            "Something went wrong inside Jobdock. It keeps running; the details are in the log.",
            QMessageBox.StandardButton.Close,
            self._parent_widget(),
        )
        box.setInformativeText(summary[:500])
        box.setDetailedText(details)
        box.finished.connect(self._on_dialog_finished)
        self.dialog = box
        box.open()

    def _on_dialog_finished(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    # hooks -----------------------------------------------------------------------------------
    def excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self.report(exc.with_traceback(tb), context="in a Qt slot")

    def loop_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        exc = context.get("exception")
        if exc is None or isinstance(exc, asyncio.CancelledError):
            loop.default_exception_handler(context)
            return
        self.report(exc, context=str(context.get("message", "in the event loop")))


class Tasks:
    """Starts coroutines and keeps them until they end; routes their errors."""

    def __init__(
        self, reporter: ErrorReporter, *, on_known: Callable[[str, JobdockError], None]
    ) -> None:
        self._reporter = reporter
        self._on_known = on_known
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, what: str) -> asyncio.Task[Any]:
        """Run `coro` ("what" names it for error messages: "download job 1a2b")."""
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, JobdockError):
            self._on_known(task.get_name(), exc)
        elif exc is not None:
            self._reporter.report(exc, context=task.get_name())

    def pending(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks if not t.done()]

    async def aclose(self) -> None:
        """Cancel what still runs and wait for it (on quit)."""
        tasks = self.pending()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
