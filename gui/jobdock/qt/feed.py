"""Applies the engine's update batches to the job table, with as few model signals as possible.

A batch becomes: one `rowsRemoved` per contiguous run of removed rows, one `dataChanged` per
contiguous run of changed rows (all columns), one `rowsInserted` for the block of new rows (they
go on top), and one `dataChanged` per run of rows whose download progress moved (download column
only). Batches arriving within `coalesce_ms` (the window: 100 ms) are merged first, so a busy
engine costs a few repaints a second, not one per batch. The model is never reset.

A 1 s timer refreshes the live columns (duration, expires in): only for the rows on screen
(`visible_rows`, when the window gives it) and the rows whose link just entered the "expiring
soon" window or expired, so filters and counts follow the clock. Per tick that is a few dozen
rows, not 10,000 (each would make the proxy re-filter it in Python).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from jobdock.core.model.job import DownloadState, Job
from jobdock.core.model.updates import DownloadProgress, UpdateBatch
from jobdock.qt.job_model import HISTORY_PAGE, LIVE_COLUMNS, Column, JobTableModel, Role

DR = Qt.ItemDataRole
LIVE_ROLES = (DR.DisplayRole.value, DR.ForegroundRole.value, Role.SORT.value)
PROGRESS_ROLES = (DR.DisplayRole.value, Role.DOWNLOAD.value, Role.SORT.value)


def contiguous_runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, de-duplicated rows grouped into (first, last) runs: [1,2,3,7] → [(1,3),(7,7)]."""
    runs: list[tuple[int, int]] = []
    for row in sorted(set(rows)):
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


class JobFeed(QObject):
    """Keeps a `JobTableModel` in step with an engine (anything with `jobs()` and `subscribe`)."""

    batch_applied = Signal(object)  # the UpdateBatch, after the model has it
    ticked = Signal()  # the live columns were refreshed (once a second)

    def __init__(
        self,
        model: JobTableModel,
        *,
        interval_ms: int = 1000,
        coalesce_ms: int = 0,
        on_error: Callable[[BaseException], None] | None = None,
        visible_rows: Callable[[], Iterable[int]] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._on_error = on_error
        self.visible_rows = visible_rows  # source rows on screen; None: every row
        self._unsubscribe: Callable[[], None] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.tick)
        # Batches arriving within `coalesce_ms` are merged and applied together: the table
        # repaints (and the proxy re-filters) a few times a second, not once per batch.
        self._pending: _Merged | None = None
        self._coalesce = QTimer(self, singleShot=True, interval=coalesce_ms)
        self._coalesce.timeout.connect(self.flush)

    def attach(self, engine: Any) -> None:
        """First load (one insert), then follow the engine's batches and start the live timer.
        An engine with settled history it does not hold (`history_page`) gives the jobs it
        holds and the newest page of the history; the model pages the rest in
        (`JobTableModel.fetchMore`). Unsettled jobs it has not read yet (`read_unsettled`) come
        after the first paint, as batches."""
        pages = hasattr(engine, "history_page")
        if pages:
            if hasattr(engine, "read_unsettled"):  # the newest deferred ones; the rest follow
                engine.read_unsettled(HISTORY_PAGE)
            engine.history_page(HISTORY_PAGE)  # held from now on: among the live jobs
        jobs = engine.live_jobs() if pages else engine.jobs()
        self.model.add_jobs(sorted(jobs, key=lambda j: j.submitted_at))
        if pages:
            self.model.set_history(engine)
        self._unsubscribe = engine.subscribe(self._on_engine_batch)
        self._timer.start()

    def detach(self) -> None:
        self._timer.stop()
        self._coalesce.stop()
        self._pending = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def apply(self, batch: UpdateBatch) -> None:
        self._remove(batch.removed)
        self._add_read(batch.read)
        self._change(batch.changed)
        self._progress(batch)
        self.batch_applied.emit(batch)

    def _on_engine_batch(self, batch: UpdateBatch) -> None:
        if self._coalesce.interval() <= 0:
            self._apply_guarded(batch)
            return
        if self._pending is None:
            self._pending = _Merged()
            self._coalesce.start()
        self._pending.add(batch)

    def flush(self) -> None:
        """Apply the merged batches now (the coalescing timer does this; tests too)."""
        self._coalesce.stop()
        pending, self._pending = self._pending, None
        if pending is not None:
            self._apply_guarded(pending.batch())

    def _apply_guarded(self, batch: UpdateBatch) -> None:
        # The engine only logs listener errors; the window wants them in its one error dialog.
        try:
            self.apply(batch)
        except Exception as exc:
            if self._on_error is None:
                raise
            self._on_error(exc)

    def tick(self) -> None:
        flipped = self.model.expiry_flips()
        if self.visible_rows is None:
            count = self.model.rowCount()
            runs = [(0, count - 1)] if count else []
        else:
            runs = contiguous_runs([*self.visible_rows(), *flipped])
        for first, last in runs:
            self.model.emit_rows_changed(first, last, LIVE_COLUMNS, LIVE_ROLES)
        self.ticked.emit()

    def _remove(self, job_ids: Iterable[str]) -> None:
        rows = [r for r in (self.model.row_of(i) for i in job_ids) if r is not None]
        for first, last in reversed(contiguous_runs(rows)):  # bottom-up: indices stay valid
            self.model.remove_run(first, last)

    def _add_read(self, jobs: Iterable[Job]) -> None:
        """Jobs the engine read after the start (older than every unsettled job shown): below
        the rows, newest first, so the top of the table stays the newest work."""
        new = [j for j in jobs if self.model.row_of(j.id) is None]
        self.model.add_older(sorted(new, key=lambda j: j.submitted_at))

    def _change(self, jobs: Iterable[Job]) -> None:
        changed: list[int] = []
        new: list[Job] = []
        for job in jobs:
            row = self.model.row_of(job.id)
            if row is None:
                new.append(job)
            else:
                self.model.store_job(row, job)
                changed.append(row)
        for first, last in contiguous_runs(changed):
            self.model.emit_rows_changed(first, last)
        self.model.add_jobs(sorted(new, key=lambda j: j.submitted_at))

    def _progress(self, batch: UpdateBatch) -> None:
        rows = []
        for progress in batch.progress:
            row = self.model.row_of(progress.job_id)
            if row is not None and _downloading(self.model.job_at(row)):
                self.model.store_progress(progress)
                rows.append(row)
        for first, last in contiguous_runs(rows):
            self.model.emit_rows_changed(first, last, (Column.DOWNLOAD,), PROGRESS_ROLES)


def _downloading(job: Job) -> bool:
    return any(r.download_state == DownloadState.DOWNLOADING for r in job.results)


class _Merged:
    """Batches merged in arrival order: the latest value of each job wins, a removal drops the
    job's earlier changes (a later change after it brings the job back)."""

    def __init__(self) -> None:
        self.changed: dict[str, Job] = {}
        self.removed: set[str] = set()
        self.progress: dict[tuple[str, int], DownloadProgress] = {}
        self.read: dict[str, Job] = {}

    def add(self, batch: UpdateBatch) -> None:
        for job_id in batch.removed:
            self.changed.pop(job_id, None)
            self.read.pop(job_id, None)
            self.removed.add(job_id)
        for job in batch.read:
            if job.id not in self.changed:
                self.read[job.id] = job
        for job in batch.changed:
            self.read.pop(job.id, None)
            self.changed[job.id] = job
        for progress in batch.progress:
            self.progress[(progress.job_id, progress.index)] = progress

    def batch(self) -> UpdateBatch:
        return UpdateBatch(
            changed=tuple(self.changed.values()),
            removed=tuple(self.removed),
            progress=tuple(self.progress.values()),
            read=tuple(self.read.values()),
        )
