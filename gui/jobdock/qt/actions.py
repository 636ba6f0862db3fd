"""What a user can do to the selected jobs: the actions of the toolbar, context menu and keys.

Every action works on the whole selection. Four of them also have a twin that works on every
job the filters show, fetched or not ("Re-submit all 37 shown…"); those always ask first, with
the true count. Network and disk work runs as kept tasks (`Tasks`), so the window never
freezes; errors the engine names (`JobdockError`) go to the status bar. "Open file"/"open
folder" go through `QDesktopServices` (injectable for tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QCheckBox, QFileDialog, QMessageBox, QWidget

from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import DownloadState, Job
from jobdock.core.providers.base import SupportsJobList
from jobdock.qt.icons import set_themed_icon
from jobdock.qt.loop import Tasks

StdKey = QKeySequence.StandardKey


def saved_paths(job: Job) -> list[Path]:
    return [Path(r.path) for r in job.results if r.download_state == DownloadState.DONE and r.path]


def can_pause(job: Job) -> bool:
    return any(r.is_under_way for r in job.results)


def can_resume(job: Job) -> bool:
    return any(r.download_state == DownloadState.PAUSED for r in job.results)


def can_cancel(job: Job) -> bool:
    return can_pause(job) or can_resume(job)


def unsaved_files(job: Job) -> int:
    """The job's files not saved yet (what "Download" would fetch)."""
    return sum(1 for r in job.results if r.download_state != DownloadState.DONE)


def how_many(count: int, shown: int | None) -> str:
    """How many jobs, in words: "3 jobs" for a selection; "all 37 jobs shown" or "3 of the 37
    jobs shown" for the jobs the filters show."""
    jobs = f"{count} job" + ("" if count == 1 else "s")
    if shown is None:
        return jobs
    if count == shown:
        return f"the {jobs} shown" if count == 1 else f"all {jobs} shown"
    return f"{count} of the {shown} job{'' if shown == 1 else 's'} shown"


def delete_saved_files(paths: list[Path]) -> int:
    """Delete the files Jobdock saved for a job (never through a link, never a folder), then
    their folders if that left them empty; returns how many files went."""
    removed = 0
    for path in paths:
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                continue  # something else took the name since: not ours to delete
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        with contextlib.suppress(OSError):  # not empty (the user's own files), or gone
            path.parent.rmdir()
    return removed


class JobActions(QObject):
    """The per-job actions, enabled according to the current selection."""

    new_job_requested = Signal()
    track_requested = Signal()
    message = Signal(str)  # a short confirmation for the status bar

    def __init__(
        self,
        *,
        engine: Any,
        tasks: Tasks,
        selection: Callable[[], list[Job]],
        parent: QWidget,
        open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl,
        shown: Callable[[], list[Job]] = list,
        shown_by: Callable[[], str] = str,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._tasks = tasks
        self._selection = selection
        self._shown = shown  # every job the filters show (the history not fetched yet too)
        self._shown_by = shown_by  # the filters, in words ("failed · account acme")
        self._parent = parent
        self._open_url = open_url
        self.confirmation: QMessageBox | None = None
        self.folder_dialog: QFileDialog | None = None
        add = self._action
        self.new_job = add("New job…", "new-job", self.new_job_requested.emit, StdKey.New)
        self.track = add("Track job…", "track", self.track_requested.emit, "Ctrl+T")
        self.download = add("Download now", "download", self.download_selected, "Ctrl+D")
        self.pause = add("Pause download", "pause", self.pause_selected, "Ctrl+P")
        self.resume = add("Resume download", "resume", self.resume_selected, "Ctrl+Shift+P")
        self.cancel_download = add(
            "Cancel download", "cancel-download", self.cancel_selected, "Ctrl+Shift+X"
        )
        self.cancel_download.setStatusTip(
            "Stop the download and delete its partial file; it waits for Download now"
        )
        self.open_file = add("Open file", "open-file", self.open_files, "Ctrl+O")
        self.open_folder = add("Open folder", "open-folder", self.open_folders, "Ctrl+Shift+O")
        self.copy_link = add("Copy result link", "copy-link", self.copy_links, "Ctrl+Shift+C")
        self.copy_id = add("Copy job id", "copy-id", self.copy_ids, StdKey.Copy)
        self.refresh = add("Refresh now", "refresh", self.refresh_selected, StdKey.Refresh)
        self.retry = add("Re-submit", "retry", self.resubmit_selected, "Ctrl+R")
        self.remove = add("Remove…", "remove", self.confirm_remove, StdKey.Delete)
        self.sync = add("Sync job lists", "sync", self.sync_all, "Ctrl+Shift+S")
        self.sync.setStatusTip("Import the job lists of the accounts whose API has one (Shoptet)")
        # Shorter words on the toolbar (menus keep the full text), so that at 1280 px every
        # toolbar button fits without the overflow arrow hiding Accounts and Settings.
        for action, short in ((self.pause, "Pause"), (self.resume, "Resume"),
                              (self.open_file, "Open"), (self.open_folder, "Folder"),
                              (self.refresh, "Refresh"), (self.download, "Download now"),
                              (self.retry, "Re-submit"), (self.remove, "Remove…")):  # fmt: skip
            action.setIconText(short)
        # In the menus, a bulk action on several selected jobs says how many ("Re-submit 3
        # selected…"); its twin below acts on every job the filters show.
        self._selected_texts = {self.download: ("Download now", "Download"),
                                self.refresh: ("Refresh now", "Refresh"),
                                self.retry: ("Re-submit", "Re-submit"),
                                self.remove: ("Remove…", "Remove")}  # fmt: skip
        self.download_shown = self._shown_action("download", self.download_all_shown)
        self.refresh_shown = self._shown_action("refresh", self.refresh_all_shown)
        self.retry_shown = self._shown_action("retry", self.resubmit_all_shown)
        self.remove_shown = self._shown_action("remove", self.remove_all_shown)
        self._shown_verbs = {self.download_shown: "Download", self.refresh_shown: "Refresh",
                             self.retry_shown: "Re-submit",
                             self.remove_shown: "Remove"}  # fmt: skip
        self.update_enabled()
        self.update_sync_enabled()
        self.update_shown(0)

    def _action(self, text: str, icon_name: str, slot: Callable[[], Any], key: Any) -> QAction:
        action = set_themed_icon(QAction(text, self._parent), icon_name)
        action.setShortcut(QKeySequence(key))
        action.setToolTip(f"{text.rstrip('…')} ({action.shortcut().toString()})")
        action.triggered.connect(lambda _checked=False: slot())
        self._parent.addAction(action)
        return action

    def _shown_action(self, icon_name: str, slot: Callable[[], Any]) -> QAction:
        action = set_themed_icon(QAction(self._parent), icon_name)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def shown_actions(self) -> list[QAction]:
        """The bulk actions on every job the filters show (menus only: no key, no button)."""
        return [self.download_shown, self.refresh_shown, self.retry_shown, self.remove_shown]

    def update_shown(self, count: int) -> None:
        """Say how many jobs the filters show (`count`: the true number, history not fetched
        yet included). Download and re-submit keep what `fit_shown` last found, unless no job
        is shown at all."""
        for action, verb in self._shown_verbs.items():
            action.setText(f"{verb} all {count} shown…")
        self.refresh_shown.setEnabled(count > 0)
        self.remove_shown.setEnabled(count > 0)
        if count == 0:
            self.download_shown.setEnabled(False)
            self.retry_shown.setEnabled(False)

    def fit_shown(self, count: int, jobs: list[Job] | None) -> None:
        """As a menu opens: `update_shown`, and download and re-submit enabled when they fit
        some of the `jobs` shown (None: not all of them are in the rows; a click fetches
        them and says so when none fits)."""
        self.update_shown(count)
        fits = (count > 0, count > 0) if jobs is None else (
            any(unsaved_files(job) for job in jobs),
            any(job.request is not None for job in jobs),
        )  # fmt: skip
        self.download_shown.setEnabled(fits[0])
        self.retry_shown.setEnabled(fits[1])

    def _about_shown(self, detail: str) -> str:
        """A question's detail for the "all shown" actions: which filters show the jobs."""
        shown_by = self._shown_by()
        return f"Shown: {shown_by}. {detail}" if shown_by else detail

    def job_actions(self) -> list[QAction]:
        return [
            self.download, self.pause, self.resume, self.cancel_download, self.open_file,
            self.open_folder, self.copy_link, self.copy_id, self.refresh, self.retry, self.remove,
        ]  # fmt: skip

    def update_enabled(self) -> None:
        jobs = self._selection()
        with_results = any(j.results for j in jobs)
        self.download.setEnabled(with_results)
        self.pause.setEnabled(any(can_pause(j) for j in jobs))
        self.resume.setEnabled(any(can_resume(j) for j in jobs))
        self.cancel_download.setEnabled(any(can_cancel(j) for j in jobs))
        self.copy_link.setEnabled(with_results)
        self.open_file.setEnabled(any(saved_paths(j) for j in jobs))
        self.retry.setEnabled(any(j.request is not None for j in jobs))
        for action in (self.open_folder, self.copy_id, self.refresh, self.remove):
            action.setEnabled(bool(jobs))
        for action, (text, verb) in self._selected_texts.items():
            action.setText(f"{verb} {len(jobs)} selected…" if len(jobs) > 1 else text)

    def update_sync_enabled(self) -> None:
        """After the accounts changed (this reads them from the store)."""
        self.sync.setEnabled(bool(self.syncable_accounts()))

    def syncable_accounts(self) -> list[str]:
        """Accounts whose provider has a job list (`engine.sync` imports it)."""
        return [a.name for a in self._engine.accounts() if self.can_sync(a.name)]

    def can_sync(self, account: str) -> bool:
        try:
            provider = self._engine.provider(self._engine.account(account).provider)
        except JobdockError:  # an orphaned job's account, an unknown provider
            return False
        return isinstance(provider, SupportsJobList)

    # handlers -------------------------------------------------------------------------------
    def download_selected(self) -> None:
        jobs = [job for job in self._selection() if job.results]
        if len(jobs) <= 1:
            self._download_all(jobs)
            return
        files = sum(len(job.results) for job in jobs)
        self._ask("Download results", f"Download the results of {len(jobs)} jobs ({files} files)?",
                  "Expired links are refreshed first; files already saved are kept.",
                  lambda _checked: self._download_all(jobs))  # fmt: skip

    def download_all_shown(self) -> None:
        shown = self._shown()
        jobs = [job for job in shown if unsaved_files(job)]
        if not jobs:
            self.message.emit(f"No file to download among the {len(shown)} job(s) shown")
            return
        files = sum(unsaved_files(job) for job in jobs)
        self._ask("Download results",
                  f"Download the files of {how_many(len(jobs), len(shown))} "
                  f"({files} not saved yet)?",
                  self._about_shown("Failed and expired ones are tried again, expired links "
                                    "refreshed first; files already saved are kept."),
                  lambda _checked: self._download_all(jobs))  # fmt: skip

    def _download_all(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.download_job(job.id)

    def download_job(self, job_id: str) -> None:
        self._tasks.spawn(self._engine.download(job_id), what=f"download job {job_id}")

    def pause_selected(self) -> None:
        for job in self._selection():
            if can_pause(job):
                self._tasks.spawn(self._engine.pause_download(job.id), what=f"pause job {job.id}")

    def resume_selected(self) -> None:
        for job in self._selection():
            if can_resume(job):
                self.resume_job(job.id)

    def resume_job(self, job_id: str) -> None:
        self._tasks.spawn(self._engine.resume_download(job_id), what=f"resume job {job_id}")

    def cancel_selected(self) -> None:
        for job in self._selection():
            if can_cancel(job):
                self._tasks.spawn(
                    self._engine.cancel_download(job.id), what=f"cancel download of job {job.id}"
                )

    # one file of a job (the detail pane's Files tab) ------------------------------------------
    def file_action(self, action: str, job_id: str, index: int) -> None:
        """Do `action` (one of `detail.FILE_ACTIONS`) to the job's file at `index` only."""
        what = f"{action} file {index + 1} of job {job_id}"
        engine = self._engine
        if action == "pause":
            self._tasks.spawn(engine.pause_download(job_id, index=index), what=what)
        elif action == "resume":
            self._tasks.spawn(engine.resume_download(job_id, index=index), what=what)
        elif action == "cancel":
            self._tasks.spawn(engine.cancel_download(job_id, index=index), what=what)
        elif action == "download":
            self._tasks.spawn(engine.download(job_id, index=index), what=what)
        elif action == "download-to":
            self.choose_folder(job_id, index)
        elif action == "open":
            path = engine.job(job_id).results[index].path
            if path:
                self._open_url(QUrl.fromLocalFile(path))

    def choose_folder(self, job_id: str, index: int) -> None:
        """Ask for a folder, then download the file there (a `.part` begun elsewhere is moved
        there and resumed)."""
        start = self._engine.folder_for(self._engine.job(job_id))
        if not start.is_dir():
            start = Path(self._engine.settings.download_dir)
        dialog = QFileDialog(self._parent, f"Download file {index + 1} to folder", str(start))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda folder: self.download_file_to(job_id, index, folder))
        self.folder_dialog = dialog
        dialog.open()  # not getExistingDirectory(): that runs a nested event loop

    def download_file_to(self, job_id: str, index: int, folder: str) -> None:
        self.folder_dialog = None
        if not folder:
            return
        self._tasks.spawn(
            self._engine.download(job_id, to=Path(folder), index=index),
            what=f"download file {index + 1} of job {job_id} to {folder}",
        )

    def open_files(self) -> None:
        for job in self._selection():
            for path in saved_paths(job)[:1]:
                self._open_url(QUrl.fromLocalFile(str(path)))

    def open_folders(self) -> None:
        for job in self._selection():
            paths = saved_paths(job)
            folder = paths[0].parent if paths else self._engine.folder_for(job)
            if not folder.is_dir():
                folder = Path(self._engine.settings.download_dir)
            self._open_url(QUrl.fromLocalFile(str(folder)))

    def copy_links(self) -> None:
        links = [r.url for job in self._selection() for r in job.results]
        QGuiApplication.clipboard().setText("\n".join(links))
        self.message.emit(f"Copied {len(links)} result link(s)")

    def copy_ids(self) -> None:
        ids = [job.remote_id or job.id for job in self._selection()]
        QGuiApplication.clipboard().setText("\n".join(ids))
        self.message.emit(f"Copied {len(ids)} job id(s)")

    def refresh_selected(self) -> None:
        jobs = self._selection()
        if len(jobs) <= 1:
            self._refresh_all(jobs)
            return
        self._ask("Refresh jobs", f"Ask the APIs about {len(jobs)} jobs now?",
                  "Each job is polled once, ahead of its schedule (this spends API quota).",
                  lambda _checked: self._refresh_all(jobs))  # fmt: skip

    def refresh_all_shown(self) -> None:
        shown = self._shown()
        if not shown:
            return
        self._ask("Refresh jobs", f"Ask the APIs about {how_many(len(shown), len(shown))} now?",
                  self._about_shown("Each job is polled once, ahead of its schedule (this "
                                    "spends API quota)."),
                  lambda _checked: self._refresh_all(shown))  # fmt: skip

    def _refresh_all(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._tasks.spawn(self._engine.refresh(job.id), what=f"refresh job {job.id}")

    def resubmit_selected(self) -> None:
        jobs = [job for job in self._selection() if job.request is not None]
        if len(jobs) <= 1:
            self._resubmit_all(jobs)
            return
        self._ask("Re-submit jobs", f"Start {len(jobs)} jobs again?",
                  "Each request is sent to its API once more and followed as a new job.",
                  lambda _checked: self._resubmit_all(jobs))  # fmt: skip

    def resubmit_all_shown(self) -> None:
        shown = self._shown()
        jobs = [job for job in shown if job.request is not None]
        if not jobs:
            self.message.emit(f"None of the {len(shown)} job(s) shown was submitted here: "
                              "nothing to re-submit")  # fmt: skip
            return
        self._ask("Re-submit jobs", f"Start {how_many(len(jobs), len(shown))} again?",
                  self._about_shown(
                      "Each request is sent to its API once more and followed as a new job."
                      + ("" if len(jobs) == len(shown) else " The others were tracked, not "
                         "submitted here: they have no request to send again.")),
                  lambda _checked: self._resubmit_all(jobs))  # fmt: skip

    def _resubmit_all(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._tasks.spawn(self._engine.resubmit(job.id), what=f"re-submit job {job.id}")

    def sync_all(self) -> None:
        for name in self.syncable_accounts():
            self.sync_account(name)

    def sync_account(self, name: str) -> None:
        self._tasks.spawn(self._sync(name), what=f"sync account {name}")

    async def _sync(self, name: str) -> None:
        self.message.emit(f"Syncing {name}…")
        jobs = await self._engine.sync(name)
        self.message.emit(f"Synced {name}: {len(jobs)} job(s) in its list")

    def confirm_remove(self) -> None:
        self._confirm_remove(self._selection(), shown=None)

    def remove_all_shown(self) -> None:
        shown = self._shown()
        self._confirm_remove(shown, shown=len(shown))

    def _confirm_remove(self, jobs: list[Job], *, shown: int | None) -> None:
        if not jobs:
            return
        files = sum(len(saved_paths(job)) for job in jobs)
        targets = {j.id: saved_paths(j) for j in jobs}

        def remove(delete_files: bool) -> None:
            for job_id, paths in targets.items():
                self._tasks.spawn(self._remove(job_id, paths if delete_files else []),
                                  what=f"remove job {job_id}")  # fmt: skip

        detail = (f"Their {files} saved file(s) stay on disk unless you say so." if files
                  else "No file of theirs has been saved.")  # fmt: skip
        self._ask(
            "Remove jobs",
            f"Stop tracking {how_many(len(jobs), shown)}?",
            detail if shown is None else self._about_shown(detail),
            remove,
            checkbox=f"Also delete the {files} saved file(s)" if files else None,
        )  # fmt: skip

    def _ask(
        self,
        title: str,
        question: str,
        detail: str,
        then: Callable[[bool], None],
        *,
        checkbox: str | None = None,
    ) -> None:
        """A Yes/Cancel question (never exec(): the qasync loop keeps running); on Yes, `then`
        gets whether the checkbox, if any, was ticked. One question at a time."""
        if self.confirmation is not None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question, title, question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self._parent,
        )  # fmt: skip
        box.setInformativeText(detail)
        if checkbox is not None:
            # Parented to the box: setCheckBox alone leaves the Python wrapper its only owner.
            box.setCheckBox(QCheckBox(checkbox, box))
        box.finished.connect(lambda _result: self._on_answered(then))
        self.confirmation = box
        box.open()

    def _on_answered(self, then: Callable[[bool], None]) -> None:
        box, self.confirmation = self.confirmation, None
        if box is None:
            return
        box.deleteLater()
        if box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes:
            then(box.checkBox() is not None and box.checkBox().isChecked())

    async def _remove(self, job_id: str, paths: list[Path]) -> None:
        await self._engine.remove(job_id)
        if paths:
            removed = await asyncio.to_thread(delete_saved_files, paths)
            self.message.emit(f"Removed job {job_id} and {removed} saved file(s)")
