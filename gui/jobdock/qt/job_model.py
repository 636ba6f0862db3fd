"""The job table: one row per job, as a `QAbstractTableModel` over immutable `Job` values.

The model only stores values and answers `data()`; `feed.py` decides which rows change and
emits the signals (one `dataChanged` per contiguous run of rows, one insert per block, never a
reset). Columns and custom roles are `IntEnum`s; `data()` only dispatches by role to small
helpers, one per concern (text, icon, tooltip, colour, sort key, download cell).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QIcon

from jobdock.core.model.job import DownloadState, Job, JobState, utcnow
from jobdock.core.model.updates import DownloadProgress
from jobdock.core.net.http import safe_url
from jobdock.qt import formatting as fmt
from jobdock.qt.categories import _STATE_CATEGORY as _STATE_CATEGORIES
from jobdock.qt.categories import Category, lasting_categories, unsaved_expiry

ModelIndex = QModelIndex | QPersistentModelIndex
DR = Qt.ItemDataRole


class Column(enum.IntEnum):
    LABEL = 0
    ACCOUNT = 1
    PROVIDER = 2
    STATE = 3
    PROGRESS = 4
    CREATED = 5
    DURATION = 6
    EXPIRES = 7
    RESULT = 8
    DOWNLOAD = 9


HEADERS = {
    Column.LABEL: "Label",
    Column.ACCOUNT: "Account",
    Column.PROVIDER: "Provider",
    Column.STATE: "State",
    Column.PROGRESS: "Progress",
    Column.CREATED: "Created",
    Column.DURATION: "Duration",
    Column.EXPIRES: "Expires in",
    Column.RESULT: "Result",
    Column.DOWNLOAD: "Download",
}
_COLUMNS = tuple(Column)  # by position: Column(n) is slow on hot paths
LIVE_COLUMNS = (Column.DURATION, Column.EXPIRES)  # contiguous: one dataChanged a second


class Role(enum.IntEnum):
    JOB = DR.UserRole.value + 1
    JOB_ID = enum.auto()
    SORT = enum.auto()
    DOWNLOAD = enum.auto()


class CellKind(enum.Enum):
    NONE = "none"  # nothing to download (yet)
    BUTTON = "button"  # results waiting: one click downloads
    PROGRESS = "progress"  # a download is running
    PAUSED = "paused"  # the user paused it: the text, and a Resume button
    DONE = "done"  # every result saved


@dataclass(frozen=True)
class DownloadCell:
    """What the download delegate paints: a button, a progress bar, or a short text."""

    kind: CellKind
    text: str = ""
    fraction: float | None = None
    shorter: tuple[str, ...] = ()  # shorter texts, best first, for a cell too narrow for `text`


HISTORY_PAGE = 2000  # settled jobs fetched at a time when the view scrolls to the bottom
_STATE_CATEGORY = {s.value: c for s, c in _STATE_CATEGORIES.items()}

AMBER = QColor("#c98a00")
RED = QColor("#d03b3b")
URGENT = 10 * 60.0


class JobTableModel(QAbstractTableModel):
    history_added = Signal(list)  # settled jobs paged in below the rows (`add_older`)

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utcnow,
        icon_for: Callable[[JobState], QIcon] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.clock = clock
        self.expiry_margin = 15 * 60.0
        self._icon_for = icon_for
        self._jobs: list[Job] = []
        self._positions: dict[str, int] = {}  # job id → index in `_jobs` (arrival order)
        self._expiries: dict[str, datetime] = {}  # job id → earliest unsaved link expiry
        self._phases: dict[str, int] = {}  # job id → 0 later, 1 expiring soon, 2 expired
        self._counts: Counter[Any] = Counter()  # lasting categories and accounts, kept current
        self._progress: dict[str, dict[int, DownloadProgress]] = {}
        self._history: Any = None  # the engine, while it holds settled history not shown yet
        self._roles: dict[int, Callable[[Job, Column], Any]] = {
            DR.DisplayRole.value: self._display,
            DR.DecorationRole.value: self._decoration,
            DR.ToolTipRole.value: self._tooltip,
            DR.ForegroundRole.value: self._foreground,
            DR.TextAlignmentRole.value: self._alignment,
            Role.JOB.value: lambda job, _column: job,
            Role.JOB_ID.value: lambda job, _column: job.id,
            Role.SORT.value: self._sort_key,
            Role.DOWNLOAD.value: self._download_cell,
        }

    # Qt overrides ----------------------------------------------------------------------------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_COLUMNS)

    def data(self, index: ModelIndex, role: int = DR.DisplayRole.value) -> Any:
        # The hot path of painting and sorting: plain bounds checks instead of checkIndex (which
        # calls back into rowCount/columnCount), columns by position instead of Column(n).
        handler = self._roles.get(int(role))
        row, column = index.row(), index.column()
        if handler is None or not (0 <= row < len(self._jobs) and 0 <= column < len(_COLUMNS)):
            return None
        return handler(self._jobs[len(self._jobs) - 1 - row], _COLUMNS[column])

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self.history_left() > 0

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid() and self._history is not None:
            self.add_older(self._history.history_page(HISTORY_PAGE))

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = DR.DisplayRole.value
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == DR.DisplayRole.value:
            if 0 <= section < len(Column):
                return HEADERS[Column(section)]
        return None

    # access for the feed, the proxy and the actions ------------------------------------------
    # Rows are newest first: row 0 is the job that arrived last. `_jobs` keeps arrival order
    # (oldest first), so a new block is a cheap append and row r is `_jobs[-1 - r]`. The proxy
    # shows this order as it is when no column is sorted: no sorting work at start.
    def job_at(self, row: int) -> Job:
        return self._jobs[len(self._jobs) - 1 - row]

    def row_of(self, job_id: str) -> int | None:
        position = self._positions.get(job_id)
        return None if position is None else len(self._jobs) - 1 - position

    def jobs(self) -> list[Job]:
        """The jobs in the rows (settled history not fetched yet is not there)."""
        return list(self._jobs)

    def accounts(self) -> set[str]:
        """The accounts of every job, fetched or not."""
        return {key[1] for key in self.category_counts() if isinstance(key, tuple)}

    def now(self) -> datetime:
        return self.clock()

    def sort_key(self, row: int, column: int) -> Any:
        """What `Role.SORT` gives for a cell, without the round trip through `data()`."""
        return _SORT[_COLUMNS[column]](self, self.job_at(row))

    def progress_of(self, job_id: str) -> dict[int, DownloadProgress]:
        return self._progress.get(job_id, {})

    def download_totals(self) -> tuple[int, float]:
        """Files downloading now, in every job, and their speed together (bytes a second)."""
        running = [p for per_job in self._progress.values() for p in per_job.values()
                   if p.total is None or p.done < p.total]  # fmt: skip
        return len(running), sum(p.speed for p in running)

    def add_jobs(self, jobs: Sequence[Job]) -> None:
        """Add a block of new jobs (oldest first) on top of the table: one rowsInserted (jobs
        it has already are left as they are)."""
        jobs = [j for j in jobs if j.id not in self._positions]
        if not jobs:
            return
        self.beginInsertRows(QModelIndex(), 0, len(jobs) - 1)
        for job in jobs:
            self._positions[job.id] = len(self._jobs)
            self._jobs.append(job)
            self._track_expiry(job)
            self._count(job, 1)
        self.endInsertRows()

    # settled history, paged in ------------------------------------------------------------
    def set_history(self, engine: Any) -> None:
        """Page in `engine`'s settled history (`history_page`, `history_left`,
        `history_counts`) below the rows shown: as the view scrolls to the bottom, or all of it
        at once (`fetch_all`) before a filter, a search, a sort or a "select all"."""
        self._history = engine

    def history_left(self) -> int:
        return 0 if self._history is None else int(self._history.history_left())

    def not_fetched(self) -> int:
        """The jobs not in the rows yet: the settled history not paged in and the unsettled
        jobs the engine has not read yet."""
        if self._history is None:
            return 0
        unread = getattr(self._history, "unread_left", None)
        return self.history_left() + (int(unread()) if unread is not None else 0)

    def fetch_all(self) -> None:
        """Every job in the rows: the unsettled jobs not read yet and the settled history not
        fetched yet, at once."""
        if self._history is not None and hasattr(self._history, "read_unsettled"):
            if self._history.unread_left():
                unread = self._history.read_unsettled(None)
                self.add_older(sorted(unread, key=lambda j: j.submitted_at))
        if self.history_left() > 0:
            self.add_older(self._history.history_page(self.history_left()))

    def add_older(self, jobs: Sequence[Job]) -> None:
        """Add a block of older jobs (oldest first) below the table: one rowsInserted."""
        jobs = [j for j in jobs if j.id not in self._positions]
        if not jobs:
            return
        count = len(self._jobs)
        self.beginInsertRows(QModelIndex(), count, count + len(jobs) - 1)
        self._jobs[:0] = jobs
        self._positions = {job.id: position for position, job in enumerate(self._jobs)}
        for job in jobs:
            self._track_expiry(job)
            self._count(job, 1)
        self.endInsertRows()
        self.history_added.emit(jobs)

    def remove_run(self, first: int, last: int) -> None:
        """Remove rows first..last: one rowsRemoved."""
        self.beginRemoveRows(QModelIndex(), first, last)
        low, high = len(self._jobs) - 1 - last, len(self._jobs) - 1 - first
        for job in self._jobs[low : high + 1]:
            self._positions.pop(job.id, None)
            self._progress.pop(job.id, None)
            self._expiries.pop(job.id, None)
            self._phases.pop(job.id, None)
            self._count(job, -1)
        del self._jobs[low : high + 1]
        for position in range(low, len(self._jobs)):
            self._positions[self._jobs[position].id] = position
        self.endRemoveRows()

    def store_job(self, row: int, job: Job) -> None:
        """Replace a row's value without signalling (the feed signals per run)."""
        position = len(self._jobs) - 1 - row
        self._count(self._jobs[position], -1)
        self._jobs[position] = job
        self._count(job, 1)
        self._track_expiry(job)
        if not any(r.download_state == DownloadState.DOWNLOADING for r in job.results):
            self._progress.pop(job.id, None)

    def refresh_icons(self) -> None:
        """Repaint the state icons (after a palette change)."""
        if self._jobs:
            self.emit_rows_changed(
                0, len(self._jobs) - 1, (Column.STATE,), (DR.DecorationRole.value,)
            )

    def _track_expiry(self, job: Job) -> None:
        # A new or changed row was just filtered at the current time: its phase starts afresh.
        self._phases.pop(job.id, None)
        expiry = unsaved_expiry(job)
        if expiry is None:
            self._expiries.pop(job.id, None)
        else:
            self._expiries[job.id] = expiry

    def _count(self, job: Job, step: int) -> None:
        self._counts[("account", job.account)] += step
        for category in lasting_categories(job):
            self._counts[category] += step

    def category_counts(self) -> Counter[Any]:
        """Jobs per sidebar category and per account, as `sidebar.count_jobs` counts them, kept
        up to date row by row; only "expiring soon" is counted now (over few jobs)."""
        counts = +self._counts  # a copy without the zero entries
        if self._history is not None:  # settled history not fetched yet: counted in SQL
            for (account, state, saved), n in self._history.history_counts().items():
                counts[("account", account)] += n
                counts[Category.ALL] += n
                counts[_STATE_CATEGORY[state]] += n
                if saved:
                    counts[Category.DOWNLOADED] += n
        now = self.clock()
        soon = now + timedelta(seconds=self.expiry_margin)
        counts[Category.EXPIRING] = sum(1 for e in self._expiries.values() if now < e <= soon)
        return counts

    def jobs_with_expiry(self) -> list[Job]:
        """The jobs with a result link not saved yet (the only ones the clock changes)."""
        return [self._jobs[self._positions[job_id]] for job_id in self._expiries]

    def expiry_flips(self) -> list[int]:
        """Rows whose link entered the expiry margin or expired since the last call."""
        now = self.clock()
        soon = now + timedelta(seconds=self.expiry_margin)
        rows = []
        for job_id, expiry in self._expiries.items():
            phase = 2 if expiry <= now else 1 if expiry <= soon else 0
            if self._phases.setdefault(job_id, phase) != phase:
                self._phases[job_id] = phase
                rows.append(len(self._jobs) - 1 - self._positions[job_id])
        return rows

    def store_progress(self, progress: DownloadProgress) -> None:
        self._progress.setdefault(progress.job_id, {})[progress.index] = progress

    def emit_rows_changed(
        self, first: int, last: int, columns: Iterable[Column] = tuple(Column), roles: Any = ()
    ) -> None:
        # createIndex, not index(): index() asks the Python rowCount/columnCount each time.
        cols = sorted(columns)
        top_left, bottom_right = self.createIndex(first, cols[0]), self.createIndex(last, cols[-1])
        self.dataChanged.emit(top_left, bottom_right, list(roles))

    # role helpers -----------------------------------------------------------------------------
    def _display(self, job: Job, column: Column) -> Any:
        return _DISPLAY[column](self, job)

    def _decoration(self, job: Job, column: Column) -> Any:
        if column == Column.STATE and self._icon_for is not None:
            return self._icon_for(job.state)
        return None

    def _tooltip(self, job: Job, column: Column) -> str | None:
        if column == Column.STATE:
            text = f"{job.state.value} — provider state: {job.remote_state or 'unknown'}"
            return text + (f"\n{job.error}" if job.error else "")
        if column == Column.DOWNLOAD and job.id in self._progress:
            progress = self._progress[job.id].values()
            eta = max((p.eta for p in progress if p.eta is not None), default=None)
            speed = fmt.speed_eta(sum(p.speed for p in progress), eta)
            return f"Downloading: {speed}\n{_results_tooltip(job)}"
        if column in (Column.RESULT, Column.DOWNLOAD):
            return _results_tooltip(job) or None
        if column == Column.CREATED:
            return fmt.local_time(job.created_at or job.submitted_at)
        if column == Column.LABEL:
            remote = f" · remote {job.remote_id}" if job.remote_id else ""
            return f"{job.label}\nid {job.id}{remote}"
        return None

    def _foreground(self, job: Job, column: Column) -> QColor | None:
        if column == Column.EXPIRES:
            left = self._seconds_left(job)
            if left is not None and left < URGENT:
                return RED
            if left is not None and left < self.expiry_margin:
                return AMBER
        if column == Column.STATE and job.state == JobState.FAILED:
            return RED
        return None

    def _alignment(self, _job: Job, column: Column) -> int | None:
        if column in (Column.PROGRESS, Column.DURATION, Column.EXPIRES):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _sort_key(self, job: Job, column: Column) -> Any:
        return _SORT[column](self, job)

    def _download_cell(self, job: Job, _column: Column) -> DownloadCell:
        return download_cell(job, self._progress.get(job.id, {}))

    # computed values -------------------------------------------------------------------------
    def _seconds_left(self, job: Job) -> float | None:
        expiry = unsaved_expiry(job)
        return None if expiry is None else (expiry - self.clock()).total_seconds()

    def _duration(self, job: Job) -> float | None:
        start = job.created_at or job.submitted_at
        end = job.finished_at or (None if job.state.is_terminal else self.clock())
        return None if end is None else max(0.0, (end - start).total_seconds())


def _progress_text(job: Job) -> str:
    if job.progress is None:
        return "100%" if job.state == JobState.SUCCEEDED else fmt.NONE
    return f"{job.progress:.0f}%"


def _state_text(job: Job) -> str:
    return job.state.value + (" (orphaned)" if job.orphaned else "")


def _expires_text(model: JobTableModel, job: Job) -> str:
    left = model._seconds_left(job)
    return fmt.NONE if left is None else fmt.countdown(left)


def _result_text(job: Job) -> str:
    if not job.results:
        if not job.state.is_terminal:
            return "none yet"
        return "no files" if job.state == JobState.SUCCEEDED else "none"
    saved = [r for r in job.results if r.download_state == DownloadState.DONE and r.path]
    size = sum(r.bytes or 0 for r in job.results if r.bytes)
    size_text = f" · {fmt.human_size(size)}" if size else ""
    if len(job.results) == 1:
        if saved and saved[0].path:
            return f"{Path(saved[0].path).name}{size_text}"
        return f"1 file, not saved{size_text}"
    return f"{len(saved)}/{len(job.results)} saved{size_text}"


def _results_tooltip(job: Job) -> str:
    lines = []
    for r in job.results:
        where = r.path if r.download_state == DownloadState.DONE else safe_url(r.url)
        line = f"{r.download_state.value}: {where}"
        lines.append(line + (f"\n  {r.error}" if r.error else ""))
    return "\n".join(lines)


def download_cell(job: Job, progress: dict[int, DownloadProgress]) -> DownloadCell:
    """Decide what the download column shows for `job` (pure: tested without widgets)."""
    if not job.results:
        if not job.state.is_terminal:
            return DownloadCell(CellKind.NONE, "waiting for the job")
        return DownloadCell(
            CellKind.NONE, "no files" if job.state == JobState.SUCCEEDED else fmt.NONE
        )
    states = {r.download_state for r in job.results}
    if DownloadState.DOWNLOADING in states:
        done = sum(p.done for p in progress.values())
        totals = [p.total for p in progress.values()]
        total = sum(t for t in totals if t) if totals and all(totals) else None
        fraction = done / total if total else None
        speed = sum(p.speed for p in progress.values())
        eta = max((p.eta for p in progress.values() if p.eta is not None), default=None)
        percent = f"{fraction * 100:.0f}% · " if fraction is not None else ""
        # Beside the bar: in a narrow cell the percent goes first (the bar shows it), then the
        # words get shorter, the time left staying longest (the tooltip has it all).
        shorter = [fmt.speed_eta(speed, eta), fmt.compact_speed_eta(speed, eta)]
        if eta is not None:
            shorter.append(f"{fmt.compact_duration(eta)} left")
        text = percent + fmt.speed_eta(speed, eta)
        shorter = [t for t in shorter if t != text]
        return DownloadCell(CellKind.PROGRESS, text, fraction, tuple(shorter))
    if DownloadState.PAUSED in states:
        return DownloadCell(CellKind.PAUSED, "Paused")
    if states == {DownloadState.DONE}:
        return DownloadCell(CellKind.DONE, "Saved")
    if states & {DownloadState.FAILED, DownloadState.EXPIRED}:
        return DownloadCell(CellKind.BUTTON, "Retry download")
    return DownloadCell(CellKind.BUTTON, "Download")


_DISPLAY: dict[Column, Callable[[JobTableModel, Job], str]] = {
    Column.LABEL: lambda m, j: j.label or j.remote_id or j.id,
    Column.ACCOUNT: lambda m, j: j.account,
    Column.PROVIDER: lambda m, j: j.provider,
    Column.STATE: lambda m, j: _state_text(j),
    Column.PROGRESS: lambda m, j: _progress_text(j),
    Column.CREATED: lambda m, j: fmt.short_time(j.created_at or j.submitted_at, now=m.now()),
    Column.DURATION: lambda m, j: fmt.human_duration(m._duration(j)),
    Column.EXPIRES: _expires_text,
    Column.RESULT: lambda m, j: _result_text(j),
    Column.DOWNLOAD: lambda m, j: download_cell(j, m.progress_of(j.id)).text,
}

_STATE_ORDER = {s: i for i, s in enumerate(JobState)}
_FAR = 10.0**12

_SORT: dict[Column, Callable[[JobTableModel, Job], Any]] = {
    Column.LABEL: lambda m, j: (j.label or j.id).casefold(),
    Column.ACCOUNT: lambda m, j: j.account.casefold(),
    Column.PROVIDER: lambda m, j: j.provider,
    Column.STATE: lambda m, j: float(_STATE_ORDER[j.state]),
    Column.PROGRESS: lambda m, j: float(j.progress if j.progress is not None else -1),
    Column.CREATED: lambda m, j: (j.created_at or j.submitted_at).timestamp(),
    Column.DURATION: lambda m, j: m._duration(j) or 0.0,
    Column.EXPIRES: lambda m, j: m._seconds_left(j) if unsaved_expiry(j) else _FAR,
    Column.RESULT: lambda m, j: float(sum(r.bytes or 0 for r in j.results)),
    Column.DOWNLOAD: lambda m, j: download_cell(j, m.progress_of(j.id)).kind.value,
}
