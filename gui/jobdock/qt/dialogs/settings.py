"""Settings: the engine's (download dir, auto-download, parallel downloads, expiry margin, poll
interval bounds, kept in the store through `engine.configure(persist=True)`) and the window's own
(notification toggles, start minimised to tray, kept in QSettings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from jobdock.core.download.jobfolder import writable_problem
from jobdock.qt.dialogs.base import AsyncDialog
from jobdock.qt.notices import NOTICE_LABELS, Notice

START_IN_TRAY = "tray/start_minimised"
MAX_PARALLEL = 32


def load_notice_toggles(settings: QSettings) -> set[Notice]:
    return {n for n in Notice if settings.value(f"notify/{n.value}", True, type=bool)}


class SettingsDialog(AsyncDialog):
    def __init__(self, engine: Any, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        self._engine = engine
        self._settings = settings
        current = engine.settings
        self.download_dir = QLineEdit(str(current.download_dir))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.addWidget(self.download_dir)
        row.addWidget(browse)
        self.auto_download = QCheckBox("Save results as soon as jobs succeed")
        self.auto_download.setChecked(current.auto_download)
        self.max_downloads = QSpinBox(minimum=1, maximum=MAX_PARALLEL)
        self.max_downloads.setValue(max(1, min(MAX_PARALLEL, current.max_downloads)))
        self.max_downloads.setToolTip(
            "Files downloaded at once, those of one job included; each server also gets at "
            f"most {current.max_per_origin} at a time"
        )
        self.margin = QSpinBox(suffix=" min", minimum=1, maximum=24 * 60)
        self.margin.setValue(round(current.expiry_margin / 60))
        self.poll_min = _seconds(current.poll_min)
        self.poll_max = _seconds(current.poll_max)
        engine_box = QGroupBox("Jobs and downloads")
        form = QFormLayout(engine_box)
        form.addRow("Download folder", row)
        form.addRow("", self.auto_download)
        form.addRow("Parallel downloads", self.max_downloads)
        form.addRow("Expiry margin", self.margin)
        form.addRow("Shortest poll interval", self.poll_min)
        form.addRow("Longest poll interval", self.poll_max)
        window_box = QGroupBox("Notifications and tray")
        window_form = QVBoxLayout(window_box)
        self.notices: dict[Notice, QCheckBox] = {}
        enabled = load_notice_toggles(settings)
        for notice in Notice:
            box = QCheckBox(NOTICE_LABELS[notice])
            box.setChecked(notice in enabled)
            self.notices[notice] = box
            window_form.addWidget(box)
        self.start_in_tray = QCheckBox("Start minimised to the tray")
        self.start_in_tray.setChecked(bool(settings.value(START_IN_TRAY, False, type=bool)))
        window_form.addWidget(self.start_in_tray)
        self.layout_.addWidget(engine_box)
        self.layout_.addWidget(window_box)
        self.finish_layout()
        self.folder_dialog: QFileDialog | None = None

    def _on_browse_clicked(self) -> None:
        dialog = QFileDialog(self, "Download folder", self.download_dir.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.download_dir.setText)
        self.folder_dialog = dialog
        dialog.open()  # not getExistingDirectory(): that runs a nested event loop

    def accept(self) -> None:
        folder = self.download_dir.text().strip()
        if not folder:
            self.show_error("Choose a download folder.")
            return
        problem = writable_problem(Path(folder).expanduser())
        if problem is not None:
            self.show_error(f"The download folder cannot be used: {problem}.")
            return
        low, high = self.poll_min.value() or None, self.poll_max.value() or None
        if low and high and low > high:
            self.show_error("The shortest poll interval is longer than the longest.")
            return
        for notice, box in self.notices.items():
            self._settings.setValue(f"notify/{notice.value}", box.isChecked())
        self._settings.setValue(START_IN_TRAY, self.start_in_tray.isChecked())
        changes = {
            "download_dir": Path(folder).expanduser(),
            "auto_download": self.auto_download.isChecked(),
            "max_downloads": self.max_downloads.value(),
            "expiry_margin": self.margin.value() * 60.0,
            "poll_min": low,
            "poll_max": high,
        }
        self.run(lambda: self._save(changes))

    async def _save(self, changes: dict[str, Any]) -> Any:
        # One small settings row in the store, and configure() wakes the scheduler (an
        # asyncio.Event): both belong on the loop thread, so no to_thread here.
        return self._engine.configure(persist=True, **changes)


def _seconds(value: float | None) -> QDoubleSpinBox:
    box = QDoubleSpinBox(suffix=" s", minimum=0.0, maximum=24 * 3600.0, decimals=1)
    box.setSpecialValueText("provider default")
    box.setValue(value or 0.0)
    return box
