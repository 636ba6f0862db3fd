"""Track an existing job: choose the account, paste the provider's job id or status URL."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QWidget

from jobdock.qt.dialogs.base import AsyncDialog


class TrackDialog(AsyncDialog):
    def __init__(self, engine: Any, parent: QWidget | None = None) -> None:
        super().__init__("Track a job", parent)
        self._engine = engine
        self.account = QComboBox()
        self.account.addItems([a.name for a in engine.accounts()])
        self.ref = QLineEdit(placeholderText="job id, or the job's status URL")
        self.label = QLineEdit(placeholderText="optional")
        form = QFormLayout()
        form.addRow("Account", self.account)
        form.addRow("Job id or URL", self.ref)
        form.addRow("Label", self.label)
        self.layout_.addLayout(form)
        self.finish_layout()
        self.resize(520, self.sizeHint().height())

    def accept(self) -> None:
        account, ref = self.account.currentText(), self.ref.text().strip()
        if not account or not ref:
            self.show_error("Choose an account and paste a job id or status URL.")
            return
        label = self.label.text().strip()
        self.run(lambda: self._engine.track(account, ref, label=label))
