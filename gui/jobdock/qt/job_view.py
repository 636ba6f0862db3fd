"""The job table widget: sortable, columns movable and hideable (header context menu), its
layout saved in QSettings, the download delegate installed, and row selection helpers.

Unsorted, it shows the model's own order, newest job first, which costs nothing to keep up; a
click on a header sorts by that column, a third click goes back to newest first.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from jobdock.core.model.job import Job
from jobdock.qt.delegates import DownloadDelegate
from jobdock.qt.job_model import HEADERS, Column, Role
from jobdock.qt.proxy import JobFilterProxy

LAYOUT_KEY = "table/header"
DEFAULT_WIDTHS = {  # together about 1,040 px: no horizontal scrolling on a 1280 px screen
    Column.LABEL: 150,
    Column.ACCOUNT: 90,
    Column.PROVIDER: 80,
    Column.STATE: 100,
    Column.PROGRESS: 65,
    Column.CREATED: 75,
    Column.DURATION: 80,
    Column.EXPIRES: 80,
    Column.RESULT: 130,
    Column.DOWNLOAD: 190,  # a bar and, beside it, percent, speed and time left
}


class JobTableView(QTableView):
    def __init__(self, proxy: JobFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proxy = proxy
        self.setModel(proxy)
        self.download_delegate = DownloadDelegate(self)
        self.setItemDelegateForColumn(Column.DOWNLOAD, self.download_delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicatorClearable(True)
        self.show_newest_first()
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setMouseTracking(True)  # hover state for the download buttons
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 14)
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_menu_requested)
        for column, width in DEFAULT_WIDTHS.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(Column.LABEL, QHeaderView.ResizeMode.Interactive)
        self.header_menu: QMenu | None = None

    def show_newest_first(self) -> None:
        """No sort column: the model's order (newest first), free for big tables."""
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)

    def visible_source_rows(self) -> list[int]:
        """The model rows on screen now (the feed refreshes live columns only for these)."""
        if not self.isVisible() or self.proxy.rowCount() == 0:
            return []
        top = max(0, self.rowAt(0))
        bottom = self.rowAt(self.viewport().height() - 1)
        bottom = self.proxy.rowCount() - 1 if bottom < 0 else bottom
        source = self.proxy.mapToSource
        return [source(self.proxy.index(row, 0)).row() for row in range(top, bottom + 1)]

    # selection --------------------------------------------------------------------------------
    def selected_jobs(self) -> list[Job]:
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        return [self.proxy.index(row, 0).data(Role.JOB.value) for row in rows]

    def selectAll(self) -> None:
        self.proxy.source_model().fetch_all()  # "everything the filter shows": history too
        super().selectAll()

    def select_job(self, job_id: str) -> bool:
        source = self.proxy.source_model()
        if source.row_of(job_id) is None:  # settled history not fetched yet
            source.fetch_all()
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(Role.JOB_ID.value) == job_id:
                self.selectRow(row)
                self.scrollTo(self.proxy.index(row, 0))
                return True
        return False

    def cell_rect(self, job_id: str, column: Column) -> Any:
        """The viewport rectangle of a job's cell (tests click on it)."""
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, column)
            if index.data(Role.JOB_ID.value) == job_id:
                self.scrollTo(index)
                return self.visualRect(index)
        return None

    # columns ----------------------------------------------------------------------------------
    def _on_header_menu_requested(self, pos: QPoint) -> None:
        self.header_menu = self.build_header_menu()
        self.header_menu.popup(self.horizontalHeader().mapToGlobal(pos))

    def build_header_menu(self) -> QMenu:
        menu = QMenu(self)
        header = self.horizontalHeader()
        for column in Column:
            action = menu.addAction(HEADERS[column])
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.setEnabled(column != Column.LABEL)  # one column always stays
            action.toggled.connect(lambda on, c=column: self.set_column_visible(c, on))
        menu.addSeparator()
        menu.addAction("Reset columns", self.reset_columns)
        return menu

    def set_column_visible(self, column: Column, visible: bool) -> None:
        self.horizontalHeader().setSectionHidden(column, not visible)

    def reset_columns(self) -> None:
        header = self.horizontalHeader()
        for column in Column:
            header.setSectionHidden(column, False)
            header.moveSection(header.visualIndex(column), column)
            header.resizeSection(column, DEFAULT_WIDTHS[column])

    def save_layout(self, settings: QSettings) -> None:
        settings.setValue(LAYOUT_KEY, self.horizontalHeader().saveState())

    def restore_layout(self, settings: QSettings) -> None:
        state = settings.value(LAYOUT_KEY)
        if state is not None:
            self.horizontalHeader().restoreState(state)
