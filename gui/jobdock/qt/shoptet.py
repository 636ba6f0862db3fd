"""Shoptet in the window: the missing-webhook explanation with its "Register webhook…" button,
the registration dialog, the accounts' rate-limit quota (sidebar tooltip and status bar), and the
local webhook receiver while the window runs (when the settings enable it).

`ShoptetSupport` belongs to the main window and calls the same core functions as the CLI:
`Engine.register_webhook` (`jobdock webhooks register ACCOUNT URL`), `WebhookReceiver` (as `watch`
runs it) and `engine.account_status` (`accounts list --json`). Dialogs open with `open()`, never
`exec()`, and every task is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from jobdock.core.model.errors import JobdockError
from jobdock.core.providers.shoptet import webhooks
from jobdock.core.providers.shoptet.api import WebhookRequiredError
from jobdock.core.providers.shoptet.quota import QuotaStatus, ReportsAccountQuota
from jobdock.qt.dialogs.base import AsyncDialog

SHOPTET = "shoptet"
URL_PLACEHOLDER = "https://<host reachable by Shoptet>/shoptet/<token>"


def quota_text(status: QuotaStatus | None, *, now: datetime) -> str:
    """ "Shoptet bucket 37/200 · rate limited until 12:00:05" (parts only when known)."""
    if status is None:
        return ""
    parts = []
    if status.bucket_filling is not None and status.bucket_size:
        parts.append(f"Shoptet bucket {status.bucket_filling}/{status.bucket_size}")
    if status.not_before is not None and status.not_before > now:
        parts.append(f"rate limited until {status.not_before.astimezone():%H:%M:%S}")
    return " · ".join(parts)


class WebhookNotice(QFrame):
    """Why Shoptet refused the job, and the button that fixes it."""

    register_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel(wordWrap=True)
        self.button = QPushButton("Register webhook…")
        self.button.clicked.connect(self.register_requested)
        layout = QHBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.button)

    def explain(self, message: str) -> None:
        self.text.setText(message)
        self.text.setStyleSheet("color: #d03b3b")
        self.button.setEnabled(True)
        self.show()

    @Slot(str, str)
    def registered(self, _account: str, url: str) -> None:
        self.text.setText(f"Webhook registered ({url}): submit the job again.")
        self.text.setStyleSheet("")
        self.button.setEnabled(False)


class RegisterWebhookDialog(AsyncDialog):
    """Asks for the URL Shoptet delivers job:finished to and registers it for one account."""

    def __init__(self, engine: Any, account: str, parent: QWidget | None = None) -> None:
        super().__init__("Register Shoptet webhook", parent)
        self._engine = engine
        self.account = account
        self.url = QLineEdit(placeholderText=URL_PLACEHOLDER)
        self.url.setText(_prefill(engine))
        self.result_label = QLabel(wordWrap=True)
        self.result_label.setVisible(False)
        form = QFormLayout()
        form.addRow("Account", QLabel(account))
        form.addRow("Public URL", self.url)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.result_label)
        self.finish_layout()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Register")
        self.succeeded.connect(self._on_succeeded)
        self.resize(520, self.sizeHint().height())

    def accept(self) -> None:
        url = self.url.text().strip() or None
        self.result_label.hide()
        self.run(lambda: self._engine.register_webhook(self.account, url), close=False)

    def _on_succeeded(self, url: object) -> None:
        self.result_label.setText(f"Registered {url} for {self.account}.")
        self.result_label.show()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).hide()
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")


def _prefill(engine: Any) -> str:
    """The receiver's public URL (base from settings plus its path), when a base is set."""
    if not engine.settings.webhook_public_url.strip():
        return ""
    return engine.webhook_public_url() or ""


class ShoptetSupport(QObject):
    """The window's Shoptet parts; `window` is the MainWindow (engine, sidebar, status bar)."""

    webhook_registered = Signal(str, str)  # account, url

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        self._engine = window.engine
        self.quota_label = QLabel()
        self.quota_label.hide()
        window.statusBar().addPermanentWidget(self.quota_label)
        self.register_dialog: RegisterWebhookDialog | None = None
        self.receiver: webhooks.WebhookReceiver | None = None

    # submit errors ---------------------------------------------------------------------------
    def watch_submit(self, dialog: Any) -> None:
        """Explain a missing webhook in the new-job dialog, with the button that registers one."""
        dialog.failed.connect(lambda error: self._on_submit_failed(dialog, error))

    def _on_submit_failed(self, dialog: Any, error: JobdockError) -> None:
        if not isinstance(error, WebhookRequiredError):
            return
        notice = dialog.findChild(WebhookNotice)
        if notice is None:
            notice = WebhookNotice(dialog)
            dialog.layout_.insertWidget(dialog.layout_.indexOf(dialog.error), notice)
            notice.register_requested.connect(
                lambda: self.open_register(dialog.account.currentData(), dialog)
            )
            # A slot of the notice: Qt disconnects it when the dialog (and notice) goes.
            self.webhook_registered.connect(notice.registered)
        dialog.show_error("")  # the notice says it, once
        notice.explain(error.user_message)

    def open_register(self, account: str, parent: QWidget | None = None) -> RegisterWebhookDialog:
        """The registration dialog for `account` (one at a time), opened with `open()`."""
        if self.register_dialog is not None:
            self.register_dialog.raise_()
            return self.register_dialog
        dialog = RegisterWebhookDialog(self._engine, account, parent or self._window)
        dialog.succeeded.connect(lambda url: self.webhook_registered.emit(account, str(url)))
        dialog.finished.connect(lambda _result: self._on_register_finished(dialog))
        self.register_dialog = dialog
        dialog.open()
        return dialog

    def _on_register_finished(self, dialog: RegisterWebhookDialog) -> None:
        if self.register_dialog is dialog:
            self.register_dialog = None
        dialog.deleteLater()

    # quota -----------------------------------------------------------------------------------
    def refresh_quota(self) -> None:
        """Each Shoptet account's bucket in its sidebar tooltip; all of them in the status bar."""
        engine = self._engine
        if not isinstance(engine, ReportsAccountQuota):
            return
        now = self._window.model.now()
        lines = []
        for account in self._engine.accounts():
            if account.provider != SHOPTET:
                continue
            text = quota_text(engine.account_status(account.name), now=now)
            self._window.sidebar.set_account_tooltip(account.name, text)
            if text:
                lines.append(f"{account.name}: {text}")
        self.quota_label.setText("  |  ".join(lines))
        self.quota_label.setVisible(bool(lines))

    # the receiver ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the webhook receiver (a kept task) when the settings enable it."""
        if self._engine.settings.webhook_enabled:
            self._window.tasks.spawn(self._start_receiver(), what="start the webhook receiver")

    async def _start_receiver(self) -> None:
        receiver = self._engine.webhook_receiver()
        await receiver.start()  # a ConfigError reaches the status bar through the window's Tasks
        self.receiver = receiver
        self._window.statusBar().showMessage(f"Receiving webhooks at {receiver.url}", 10000)

    async def aclose(self) -> None:
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            await receiver.aclose()
        if self.register_dialog is not None:
            self.register_dialog.close()
