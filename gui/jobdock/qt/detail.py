"""The detail pane: the selected job's fields, its files, its last raw answer, the server log, its
history. The Files tab lists the job's result files; each one's context menu pauses, resumes,
cancels or downloads that file only (`file_requested`: the window's `JobActions` does it).

Everything shown passes the engine's redactor (secrets) and `safe_url` (signed links), and the
raw answer is pretty-printed when it is JSON or XML (parsed with defusedxml).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QPlainTextEdit,
    QScrollArea,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from jobdock.core.model.job import DownloadState, Job, JobEvent, Result, Verified
from jobdock.core.net.http import safe_url
from jobdock.qt import formatting as fmt


def pretty(text: str | None) -> str:
    """JSON indented, XML indented, anything else as it came."""
    if not text:
        return ""
    stripped = text.strip()
    try:
        return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    if stripped.startswith("<"):
        try:
            import defusedxml.minidom

            parsed = defusedxml.minidom.parseString(stripped)
            lines = parsed.toprettyxml(indent="  ").splitlines()
            return "\n".join(line for line in lines if line.strip())
        except Exception:  # malformed or forbidden XML: show it raw, never fail the pane
            return text
    return text


_ALGORITHMS = {"sha512": "SHA-512", "sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5"}


def verification(verified: Verified) -> str:
    """How a saved file was checked, in words (`core.integrity`)."""
    if verified == Verified.SIZE:
        return "verified: length only (the server stated no checksum)"
    if verified == Verified.UNVERIFIED:
        return "unverified: no checksum or length could be checked, or the ETag disagreed"
    name = _ALGORITHMS.get(verified.value, verified.value.upper())
    return f"verified: {name} matches the digest the server stated"


def job_fields(job: Job) -> list[tuple[str, str]]:
    """(name, value) rows for the fields tab."""
    rows = [
        ("Label", job.label),
        ("Job id", job.id),
        ("Remote id", job.remote_id or fmt.NONE),
        ("Account", job.account + (" (orphaned)" if job.orphaned else "")),
        ("Provider", job.provider),
        ("State", f"{job.state.value} (provider: {job.remote_state or 'unknown'})"),
        ("Progress", f"{job.progress:.0f}%" if job.progress is not None else fmt.NONE),
        ("Submitted", fmt.local_time(job.submitted_at)),
        ("Created", fmt.local_time(job.created_at)),
        ("Finished", fmt.local_time(job.finished_at)),
        ("Next poll", fmt.local_time(job.next_poll_at)),
        ("Polls", str(job.polls)),
        ("Status URL", safe_url(job.status_url) if job.status_url else fmt.NONE),
    ]
    if job.request is not None:
        rows.append(("Request", f"{job.request.method} {job.request.path}"))
    if job.error:
        rows.append(("Error", job.error))
    for n, result in enumerate(job.results, 1):
        text = f"{result.download_state.value} · {safe_url(result.url)}"
        text += f"\nexpires {fmt.local_time(result.expires_at)}"
        if result.path:
            text += f"\nsaved as {result.path} ({fmt.human_size(result.bytes)})"
        if result.sha256:
            text += f"\nsha256 {result.sha256}"
        if result.download_state == DownloadState.DONE and result.verified is not None:
            text += f"\n{verification(result.verified)}"
        if result.error:
            text += f"\n{result.error}"
        rows.append((f"Result {n}", text))
    return rows


# What a file's context menu offers: (action, text, whether it fits the file).
FILE_ACTIONS: tuple[tuple[str, str, Callable[[Result], bool]], ...] = (
    ("pause", "Pause download", lambda r: r.is_under_way),
    ("resume", "Resume download", lambda r: r.download_state == DownloadState.PAUSED),
    (
        "cancel",
        "Cancel download",
        lambda r: r.is_under_way or r.download_state == DownloadState.PAUSED,
    ),
    ("download", "Download now", lambda r: True),
    ("download-to", "Download to folder…", lambda r: True),
    ("open", "Open file", lambda r: r.download_state == DownloadState.DONE and bool(r.path)),
)


def file_state(result: Result) -> str:
    """A file's state in words, as the Files tab shows it."""
    state = result.download_state
    if state == DownloadState.PENDING and result.held:
        return "cancelled (waits for Download now)"
    if state == DownloadState.DOWNLOADING and result.bytes:
        return f"downloading {result.bytes_done * 100 // max(result.bytes, 1)}%"
    return state.value


class DetailPane(QTabWidget):
    # (action of FILE_ACTIONS, job id, the file's index in the job's results)
    file_requested = Signal(str, str, int)

    def __init__(self, *, redact: Callable[[str], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._redact = redact
        self.fields = QLabel(textFormat=Qt.TextFormat.RichText, wordWrap=True)
        self.fields.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.fields.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fields.setContentsMargins(8, 8, 8, 8)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.fields)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.answer = QPlainTextEdit(readOnly=True)
        self.answer.setFont(mono)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setFont(mono)
        self.history = QTreeWidget()
        self.history.setRootIsDecorated(False)
        self.history.setHeaderLabels(["Time", "Event", "Message"])
        self.files = QTreeWidget()
        self.files.setRootIsDecorated(False)
        self.files.setHeaderLabels(["#", "File", "State", "Size", "Folder"])
        self.files.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.files.customContextMenuRequested.connect(self._on_files_menu_requested)
        self.files.setAccessibleName("The selected job's result files")
        for widget, name in ((self.fields, "The selected job's details"),
                             (self.answer, "The selected job's last answer"),
                             (self.log, "The selected job's server log"),
                             (self.history, "The selected job's history")):  # fmt: skip
            widget.setAccessibleName(name)
        self.files.setToolTip("Right-click a file to pause, resume, cancel or download it alone")
        self._job: Job | None = None
        self.addTab(scroll, "Details")
        self.addTab(self.files, "Files")
        self.addTab(self.answer, "Last answer")
        self.addTab(self.log, "Server log")
        self.addTab(self.history, "History")
        self.job_id: str | None = None
        self.show_job(None, [])

    def show_job(self, job: Job | None, events: Sequence[JobEvent]) -> None:
        self.job_id = job.id if job is not None else None
        self._job = job
        self._show_files(job)
        if job is None:
            self.fields.setText("<i>Select a job to see its details.</i>")
            self.answer.setPlainText("")
            self.log.setPlainText("")
            self.history.clear()
            return
        rows = "".join(
            f"<tr><td style='padding-right:12px'><b>{escape(name)}</b></td>"
            f"<td>{escape(self._redact(value)).replace(chr(10), '<br>')}</td></tr>"
            for name, value in job_fields(job)
        )
        self.fields.setText(f"<table>{rows}</table>")
        self._set_text(self.answer, pretty(self._redact(job.last_response or "")) or "(none yet)")
        self._set_text(self.log, self._redact(job.log or "") or "(the server sent no log)")
        self._show_events(events)

    def _show_files(self, job: Job | None) -> None:
        current = self.files.currentItem()
        row = self.files.indexOfTopLevelItem(current) if current is not None else -1
        self.files.clear()
        for n, result in enumerate(job.results if job is not None else ()):
            path = Path(result.path) if result.path else None
            name = path.name if path else (result.filename_hint or safe_url(result.url))
            size = fmt.human_size(result.bytes) if result.bytes is not None else fmt.NONE
            item = QTreeWidgetItem([str(n + 1), self._redact(name), file_state(result), size,
                                    str(path.parent) if path else fmt.NONE])  # fmt: skip
            item.setData(0, Qt.ItemDataRole.UserRole, n)
            if result.error:
                item.setToolTip(2, self._redact(result.error))
            self.files.addTopLevelItem(item)
        again = self.files.topLevelItem(row) if row >= 0 else None
        if again is not None:
            self.files.setCurrentItem(again)

    def file_menu(self, index: int) -> QMenu | None:
        """The context menu of the job's file at `index` (None: no such file): each action
        fits the file or is disabled, and asks for it through `file_requested`."""
        job = self._job
        if job is None or not 0 <= index < len(job.results):
            return None
        result = job.results[index]
        menu = QMenu(self)
        for action, text, fits in FILE_ACTIONS:
            item = menu.addAction(text)
            item.setObjectName(f"file-{action}")
            item.setEnabled(fits(result))
            item.triggered.connect(
                lambda _checked=False, a=action, j=job.id: self.file_requested.emit(a, j, index)
            )
        return menu

    def _on_files_menu_requested(self, pos: QPoint) -> None:
        item = self.files.itemAt(pos)
        if item is None:
            return
        menu = self.file_menu(int(item.data(0, Qt.ItemDataRole.UserRole)))
        if menu is not None:
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(self.files.viewport().mapToGlobal(pos))

    def _set_text(self, edit: QPlainTextEdit, text: str) -> None:
        if edit.toPlainText() != text:  # keep the scroll position when nothing changed
            edit.setPlainText(text)

    def _show_events(self, events: Sequence[JobEvent]) -> None:
        self.history.clear()
        items = [
            QTreeWidgetItem([fmt.local_time(e.at), e.kind, self._redact(e.message)]) for e in events
        ]
        self.history.addTopLevelItems(items)
        for column in range(2):
            self.history.resizeColumnToContents(column)
