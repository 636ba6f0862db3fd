"""The tray icon: counts in its tooltip, a menu (show, new job, quit), and the notifications.

Only shown where a system tray exists; elsewhere notifications go to the status bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from jobdock.qt.icons import icon
from jobdock.qt.notices import Notice


class Tray(QObject):
    activated = Signal()

    def __init__(self, window: QWidget, *, fallback: Callable[[str], None]) -> None:
        super().__init__(window)
        self._fallback = fallback
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon = QSystemTrayIcon(icon("jobdock"), window)
        self.menu = QMenu(window)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_icon_activated)
        self.icon.setToolTip("Jobdock")
        if self.available:
            self.icon.show()

    def add_actions(self, actions: list[Any]) -> None:
        for action in actions:
            if action is None:
                self.menu.addSeparator()
            else:
                self.menu.addAction(action)

    def set_counts(self, running: int, queued: int, failed: int, expiring: int) -> None:
        self.icon.setToolTip(
            f"Jobdock — {running} running, {queued} queued, {failed} failed, "
            f"{expiring} expiring soon"
        )

    def notify(self, kind: Notice, title: str, text: str) -> None:
        if self.available and QSystemTrayIcon.supportsMessages():
            severity = (
                QSystemTrayIcon.MessageIcon.Warning
                if kind in (Notice.FAILED, Notice.EXPIRING)
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.icon.showMessage(title, text, severity, 8000)
        else:
            self._fallback(f"{title}: {text}")

    def _on_icon_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.activated.emit()

    def hide(self) -> None:
        self.icon.hide()
