"""The sidebar: job categories and accounts with live counts, multi-select, and the search box.

Selecting several categories shows jobs in any of them; selecting accounts narrows to those
accounts. The window refreshes the counts at most every 250 ms from the model, which keeps them
row by row (`JobTableModel.category_counts`); `count_jobs` counts the same from a list of jobs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jobdock.core.model.job import Job, JobState
from jobdock.qt.categories import Category, is_downloaded, is_expiring
from jobdock.qt.icons import icon, set_themed_icon

ROLE_KIND = Qt.ItemDataRole.UserRole.value
ROLE_VALUE = ROLE_KIND + 1
_CATEGORY_ICONS = {
    Category.ALL: "all",
    Category.QUEUED: "state-queued",
    Category.RUNNING: "state-running",
    Category.SUCCEEDED: "state-succeeded",
    Category.FAILED: "state-failed",
    Category.EXPIRING: "state-expiring",
    Category.DOWNLOADED: "state-downloaded",
}


def count_jobs(jobs: Iterable[Job], *, now: datetime, margin: float) -> Counter[Any]:
    """Jobs per category and per account (pure; the sidebar shows these).

    The same answers as `categories.matches` for every category, in one cheap pass: it runs
    every quarter second on tables of 10,000 jobs.
    """
    jobs = list(jobs)
    states = Counter(job.state for job in jobs)
    counts: Counter[Any] = Counter({("account", a): n for a, n in
                                    Counter(job.account for job in jobs).items()})  # fmt: skip
    counts[Category.ALL] = len(jobs)
    for category in (Category.QUEUED, Category.RUNNING, Category.SUCCEEDED):
        counts[category] = states[JobState(category.value)]
    counts[Category.FAILED] = states[JobState.FAILED] + states[JobState.CANCELLED]
    with_results = [job for job in jobs if job.results]
    counts[Category.DOWNLOADED] = sum(1 for job in with_results if is_downloaded(job))
    counts[Category.EXPIRING] = sum(
        1 for job in with_results if is_expiring(job, now=now, margin=margin)
    )
    return counts


class Sidebar(QWidget):
    filters_changed = Signal(object, object)  # list[Category], list[str] (account names)
    search_changed = Signal(str)
    account_menu_requested = Signal(str, QPoint)  # account name, global position

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search label, id, account…")
        self.search.setClearButtonEnabled(True)
        search_icon = self.search.addAction(
            icon("search"), QLineEdit.ActionPosition.LeadingPosition
        )
        set_themed_icon(search_icon, "search")
        self.search.textChanged.connect(self.search_changed)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setIndentation(10)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_tree_menu_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._states = self._group("Jobs")
        self._accounts = self._group("Accounts")
        self._items: dict[Any, QTreeWidgetItem] = {}
        for category in Category:
            self._add(self._states, ("category", category), category.value.capitalize())
            self._items[category].setIcon(0, icon(_CATEGORY_ICONS[category]))
        self.tree.expandAll()
        self.tree.itemSelectionChanged.connect(self._on_tree_selection_changed)
        self._items[Category.ALL].setSelected(True)

    def _group(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        return item

    def _add(self, group: QTreeWidgetItem, key: tuple[str, Any], text: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(group, [text])
        item.setData(0, ROLE_KIND, key[0])
        item.setData(0, ROLE_VALUE, key[1])
        item.setData(0, ROLE_VALUE + 1, text)
        self._items[key[1] if key[0] == "category" else key] = item
        return item

    def set_accounts(self, names: Iterable[str]) -> None:
        """Show these accounts (kept sorted); selection of remaining ones is kept."""
        wanted = sorted(set(names))
        for key in [k for k in self._items if isinstance(k, tuple) and k[1] not in wanted]:
            item = self._items.pop(key)
            self._accounts.removeChild(item)
        for name in wanted:
            if ("account", name) not in self._items:
                self._add(self._accounts, ("account", name), name).setIcon(0, icon("accounts"))
        self._accounts.sortChildren(0, Qt.SortOrder.AscendingOrder)

    def update_counts(self, counts: Counter[Any]) -> None:
        for key, item in self._items.items():
            base = item.data(0, ROLE_VALUE + 1)
            item.setText(0, f"{base}  ({counts.get(key, 0)})")

    def set_account_tooltip(self, name: str, text: str) -> None:
        item = self._items.get(("account", name))
        if item is not None:
            item.setToolTip(0, text)

    def count_text(self, key: Any) -> str:
        return self._items[key].text(0)

    def select(self, *keys: Any) -> None:
        """Select exactly these categories / ("account", name) keys (tests, shortcuts)."""
        self.tree.clearSelection()
        for key in keys:
            self._items[key].setSelected(True)

    def retint(self) -> None:
        """Icons again after a palette change (the icon cache is already cleared)."""
        for category in Category:
            self._items[category].setIcon(0, icon(_CATEGORY_ICONS[category]))
        for key, item in self._items.items():
            if isinstance(key, tuple):
                item.setIcon(0, icon("accounts"))

    def _on_tree_menu_requested(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is not None and item.data(0, ROLE_KIND) == "account":
            where = self.tree.viewport().mapToGlobal(pos)
            self.account_menu_requested.emit(item.data(0, ROLE_VALUE), where)

    def _on_tree_selection_changed(self) -> None:
        categories: list[Category] = []
        accounts: list[str] = []
        for item in self.tree.selectedItems():
            if item.data(0, ROLE_KIND) == "category":
                categories.append(Category(item.data(0, ROLE_VALUE)))
            elif item.data(0, ROLE_KIND) == "account":
                accounts.append(item.data(0, ROLE_VALUE))
        self.filters_changed.emit(categories, accounts)
