"""The main window: sidebar | job table over the detail pane, toolbar, menus, tray, status bar.

It wires the pieces together and owns nothing the engine owns: jobs come in through the feed,
actions go out as kept tasks. `start()` does the first load; `aclose()` (on quit) stops the feed,
cancels the window's tasks and saves the layout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QProcess, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import utcnow
from jobdock.core.model.updates import UpdateBatch
from jobdock.qt.about import AboutDialog
from jobdock.qt.actions import JobActions, saved_paths
from jobdock.qt.categories import Category
from jobdock.qt.desktop_notifications import DesktopNotifications
from jobdock.qt.detail import DetailPane
from jobdock.qt.dialogs.accounts import AccountsDialog
from jobdock.qt.dialogs.new_job import NewJobDialog
from jobdock.qt.dialogs.settings import SettingsDialog, load_notice_toggles
from jobdock.qt.dialogs.track import TrackDialog
from jobdock.qt.empty_state import EmptyState
from jobdock.qt.feed import JobFeed
from jobdock.qt.icons import icon, icon_color, retint, set_themed_icon, state_icon
from jobdock.qt.job_model import JobTableModel
from jobdock.qt.job_view import JobTableView
from jobdock.qt.loop import ErrorReporter, Tasks
from jobdock.qt.notices import Notice, Notices
from jobdock.qt.proxy import JobFilterProxy
from jobdock.qt.shoptet import ShoptetSupport
from jobdock.qt.sidebar import Sidebar
from jobdock.qt.single_instance import TOKEN_ENV, use_activation_token
from jobdock.qt.status import health_text, transfer_text
from jobdock.qt.store_banner import StoreBanner
from jobdock.qt.tray import Tray

COALESCE_MS = 100  # job updates reach the table at most ten times a second
_LEVEL_STYLE = {"ok": "", "warn": "color: #c98a00", "error": "color: #d03b3b"}


class MainWindow(QMainWindow):
    quit_requested = Signal()

    def __init__(
        self,
        engine: Any,
        *,
        settings: QSettings,
        clock: Callable[[], datetime] = utcnow,
        open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl,
        reporter: ErrorReporter | None = None,
        title: str = "Jobdock",
        demo: bool = False,
        start_demo: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.setWindowTitle(title)
        self.setWindowIcon(icon("jobdock"))
        self.reporter = reporter or ErrorReporter(lambda: self)
        self.tasks = Tasks(self.reporter, on_known=self._on_known_error)
        self.model = JobTableModel(clock=clock, icon_for=state_icon, parent=self)
        self.model.expiry_margin = engine.settings.expiry_margin
        self.feed = JobFeed(
            self.model,
            coalesce_ms=COALESCE_MS,
            on_error=lambda exc: self.reporter.report(exc, context="applying job updates"),
            parent=self,
        )
        self.proxy = JobFilterProxy(self.model, parent=self)
        self.table = JobTableView(self.proxy)
        self.feed.visible_rows = self.table.visible_source_rows
        self.sidebar = Sidebar()
        self.detail = DetailPane(redact=engine.redactor)
        self.empty_state = EmptyState(demo_offered=not demo)
        self.store_banner = StoreBanner()  # while the job store cannot be written
        self._open_url = open_url
        self._start_demo = start_demo or _start_demo_process
        self.commands = JobActions(
            engine=engine, tasks=self.tasks, selection=self.table.selected_jobs, parent=self,
            open_url=open_url, shown=self.proxy.shown_jobs, shown_by=self.proxy.describe,
        )  # fmt: skip
        self.transfer_status = QLabel()  # every download together: count and speed
        self.transfer_status.setAccessibleName("Downloads now")
        self.transfer_status.setContentsMargins(0, 0, 16, 0)  # apart from the polling line
        self.statusBar().addPermanentWidget(self.transfer_status)
        self.health = QLabel()
        self.statusBar().addPermanentWidget(self.health)
        self.shoptet = ShoptetSupport(self)
        self.tray = Tray(self, fallback=lambda text: self.statusBar().showMessage(text, 10000))
        self.desktop_notifications = DesktopNotifications(self)
        self.notices = Notices(self.notify)
        self.notices.enabled = load_notice_toggles(settings)
        self.dialogs: dict[str, QDialog] = {}
        self._icon_color = icon_color()
        self._counts_timer = QTimer(self, singleShot=True, interval=250)
        self._counts_timer.timeout.connect(self.recount)
        self._build_layout()
        self._build_menus()
        self._connect()

    # construction -----------------------------------------------------------------------------
    def _build_layout(self) -> None:
        right = QSplitter(Qt.Orientation.Vertical)
        # The job table, or while there is no job at all the first-run explanation instead.
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty_state)
        right.addWidget(self.table_stack)
        right.addWidget(self.detail)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([210, 1000])
        self.right_splitter = right
        self.splitter.setObjectName("main-splitter")
        right.setObjectName("table-detail-splitter")
        # The store banner spans the window under the toolbar, above sidebar and table.
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.store_banner)
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        # Screen readers name the main controls (the toolbar's actions carry their text).
        self.table.setAccessibleName("Jobs")
        self.table.setAccessibleDescription("One row a job: state, progress, results and files")
        self.sidebar.setAccessibleName("Job categories and accounts")
        self.sidebar.tree.setAccessibleName("Show jobs by state and account")  # it takes focus
        self.sidebar.search.setAccessibleName("Search jobs")
        self.health.setAccessibleName("Polling")
        self.detail.setAccessibleName("Selected job's details")
        # The preferred size, but never larger than the screen (a 1280x800 laptop).
        screen = self.screen().availableGeometry()
        self.resize(min(1320, screen.width()), min(820, screen.height()))

    def _build_menus(self) -> None:
        a = self.commands
        self.accounts_action = self._window_action("Accounts…", "accounts", self.open_accounts)
        self.settings_action = self._window_action("Settings…", "settings", self.open_settings)
        self.settings_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        self.quit_action = self._window_action("Quit", "quit", self.quit_requested.emit)
        self.quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        toolbar = QToolBar("Main", movable=False)
        toolbar.setObjectName("main-toolbar")
        toolbar.setAccessibleName("Job actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (a.new_job, a.track, None, a.download, a.pause, a.resume, a.open_file,
                       a.open_folder, None,
                       a.refresh, a.retry, a.remove, None, self.accounts_action,
                       self.settings_action):  # fmt: skip
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.addToolBar(toolbar)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([a.new_job, a.track, a.sync])
        file_menu.addSeparator()
        file_menu.addActions([self.accounts_action, self.settings_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        job_menu = menu.addMenu("&Job")
        job_menu.addActions(a.job_actions())
        job_menu.addSeparator()
        job_menu.addActions(a.shown_actions())
        job_menu.addSeparator()
        job_menu.addAction(a.sync)
        job_menu.aboutToShow.connect(self.fit_shown_actions)
        self.job_menu = job_menu
        view_menu = menu.addMenu("&View")
        find = self._window_action("Find…", "search", self.focus_search)
        find.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))  # Ctrl+F, Cmd+F
        view_menu.addAction(find)
        view_menu.addSeparator()
        view_menu.addAction("Columns…", self._show_column_menu)
        view_menu.addAction("Reset columns", self.table.reset_columns)
        view_menu.addAction("Newest first (no sorting)", self.table.show_newest_first)
        menu.addMenu("&Help").addAction(icon("jobdock"), "About Jobdock…", self.open_about)
        self.tray.add_actions([self._window_action("Show Jobdock", "jobdock", self.show_normal),
                               a.new_job, None, self.quit_action])  # fmt: skip

    def _window_action(self, text: str, icon_name: str, slot: Callable[[], Any]) -> QAction:
        action = set_themed_icon(QAction(text, self), icon_name)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _connect(self) -> None:
        self.feed.batch_applied.connect(self._on_feed_batch_applied)
        self.feed.ticked.connect(self._on_feed_ticked)
        self.sidebar.filters_changed.connect(self._on_sidebar_filters_changed)
        self.sidebar.search_changed.connect(self._on_sidebar_search_changed)
        self.sidebar.account_menu_requested.connect(self._on_sidebar_account_menu_requested)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._on_table_menu_requested)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.table.download_delegate.download_requested.connect(self.commands.download_job)
        self.table.download_delegate.resume_requested.connect(self.commands.resume_job)
        self.detail.file_requested.connect(self.commands.file_action)
        self.commands.new_job_requested.connect(self.open_new_job)
        self.commands.track_requested.connect(self.open_track)
        self.commands.message.connect(lambda text: self.statusBar().showMessage(text, 4000))
        self.tray.activated.connect(self.show_normal)
        self.desktop_notifications.clicked.connect(self.show_job)
        self.empty_state.add_account_requested.connect(self.open_accounts)
        self.empty_state.track_requested.connect(self.open_track)
        self.empty_state.demo_requested.connect(self._on_empty_state_demo_requested)
        self.desktop_notifications.undelivered.connect(self._on_notification_undelivered)
        self.store_banner.open_folder_requested.connect(self._on_store_banner_open_folder)

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """First load from the engine, restore the layout, start following batches."""
        self.feed.attach(self.engine)
        self.notices.seed(self.model.jobs())
        self.model.history_added.connect(self.notices.seed)
        self.refresh_accounts()
        self.table.restore_layout(self.settings)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        for key, splitter in self._splitters():
            state = self.settings.value(key)
            if state is not None:
                splitter.restoreState(state)
        self.recount()
        self._on_feed_ticked()
        self.shoptet.start()

    async def aclose(self) -> None:
        self.feed.detach()
        self.save_layout()
        await self.tasks.aclose()
        await self.shoptet.aclose()
        for dialog in list(self.dialogs.values()):
            dialog.close()
        self.tray.hide()
        self.desktop_notifications.close()

    def save_layout(self) -> None:
        self.table.save_layout(self.settings)
        self.settings.setValue("window/geometry", self.saveGeometry())
        for key, splitter in self._splitters():
            self.settings.setValue(key, splitter.saveState())
        self.settings.sync()

    def _splitters(self) -> list[tuple[str, QSplitter]]:
        return [("window/splitter", self.splitter), ("window/detail_splitter", self.right_splitter)]

    def focus_search(self) -> None:
        """Ctrl+F: into the sidebar's search box, its text selected to type over."""
        if not self.isVisible():
            self.show_normal()
        self.sidebar.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.sidebar.search.selectAll()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.tray.available and self.settings.value("tray/close_to_tray", True, type=bool):
            event.ignore()
            self.hide()
            return
        event.ignore()  # the app quits through one path: the runner closes everything
        self.quit_requested.emit()

    def notify(self, kind: Notice, title: str, text: str, job_id: str) -> None:
        """The desktop's notification service first; the tray's balloon or the status bar when
        the session has none (the tray is never the only way to hear of a job)."""
        urgent = kind in (Notice.FAILED, Notice.EXPIRING)
        if not self.desktop_notifications.notify(title, text, job_id=job_id, urgent=urgent):
            self.tray.notify(kind, title, text)

    def _on_notification_undelivered(self, title: str, text: str, urgent: bool) -> None:
        self.tray.notify(Notice.FAILED if urgent else Notice.SUCCEEDED, title, text)

    def show_job(self, job_id: str) -> None:
        """A click on a notification: the window to the front, the job selected and in view."""
        self.show_normal()
        if not self.table.select_job(job_id):  # hidden by the filters: show everything
            self.sidebar.search.clear()
            self.sidebar.select(Category.ALL)
            self.table.select_job(job_id)

    def show_normal(self, activation_token: str = "") -> None:
        """Show, raise and activate the window; `activation_token`: a later launch's (see
        single_instance: on Wayland, Qt activates with it from the environment)."""
        handed = use_activation_token(activation_token, platform_name())
        self.show()
        self.raise_()
        self.activateWindow()
        if handed:  # Qt unset it as it used it; Python's copy goes too (no child inherits it)
            os.environ.pop(TOKEN_ENV, None)

    # slots ------------------------------------------------------------------------------------
    def _on_feed_batch_applied(self, batch: UpdateBatch) -> None:
        self.transfer_status.setText(transfer_text(*self.model.download_totals()))
        self.show_store_problem()  # a refused write comes with the batch it refused
        self.notices.seed(batch.read)  # read from the store after the start: not news
        self.notices.on_changed(batch.changed, batch.removed)
        if batch.changed or batch.removed or batch.read:
            self._schedule_recount()
            self.commands.update_enabled()
            self._refresh_detail({job.id for job in batch.changed})
            if any(
                job.account not in self._known_accounts for job in (*batch.changed, *batch.read)
            ):
                self.refresh_accounts()
        self.shoptet.refresh_quota()

    def _on_feed_ticked(self) -> None:
        now = self.model.now()
        text, level = health_text(self.engine.health, now=now)
        if self.table_stack.currentWidget() is self.empty_state:
            text, level = "No jobs to follow yet", "ok"  # not "Polling: waiting" on first run
        self.health.setText(text)
        self.health.setStyleSheet(_LEVEL_STYLE[level])
        self.show_store_problem()  # the engine's retries succeed without a batch: looked at here
        margin = self.engine.settings.expiry_margin
        self.model.expiry_margin = margin
        self.notices.on_tick(self.model.jobs_with_expiry(), now=now, margin=margin)
        self._schedule_recount()
        self.shoptet.refresh_quota()

    def show_store_problem(self) -> None:
        """The banner while the engine keeps job changes in memory (the store refuses them);
        gone once they are written."""
        paths = self.engine.paths
        self.store_banner.show_problem(
            self.engine.store_problem, data_dir=paths.data_dir, store_file=paths.store_file
        )

    def _on_store_banner_open_folder(self) -> None:
        self._open_url(QUrl.fromLocalFile(str(self.engine.paths.data_dir)))

    def _schedule_recount(self) -> None:
        # At most every 250 ms, also under a steady stream of batches: restarting the timer on
        # every batch would postpone the counts for as long as the stream lasts.
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def recount(self) -> None:
        counts = self.model.category_counts()
        self.sidebar.update_counts(counts)
        empty = counts[Category.ALL] == 0
        self.table_stack.setCurrentWidget(self.empty_state if empty else self.table)
        self.detail.setVisible(not empty)
        self.tray.set_counts(counts[Category.RUNNING], counts[Category.QUEUED],
                             counts[Category.FAILED], counts[Category.EXPIRING])  # fmt: skip
        self.update_shown_count()

    def update_shown_count(self) -> None:
        """The "… all 37 shown" actions say how many jobs the filters show now."""
        self.commands.update_shown(self.proxy.shown_count())

    def fit_shown_actions(self) -> None:
        """As a menu with the "… all 37 shown" actions opens: their counts, and with every job
        shown in the rows, only those that fit some of them enabled."""
        jobs = None if self.model.not_fetched() else self.proxy.shown_jobs()
        self.commands.fit_shown(self.proxy.shown_count(), jobs)

    def refresh_accounts(self) -> None:
        names = {a.name for a in self.engine.accounts()} | self.model.accounts()
        self._known_accounts = names
        self.sidebar.set_accounts(names)
        self.commands.update_sync_enabled()
        self.shoptet.refresh_quota()

    def _on_sidebar_filters_changed(self, categories: list[Category], accounts: list[str]) -> None:
        self.proxy.set_categories(categories)
        self.proxy.set_accounts(accounts)
        self.update_shown_count()

    def _on_sidebar_search_changed(self, text: str) -> None:
        self.proxy.set_search(text)
        self.update_shown_count()

    def _on_sidebar_account_menu_requested(self, name: str, where: QPoint) -> None:
        self.context_menu = self.build_account_menu(name)
        self.context_menu.popup(where)

    def build_account_menu(self, name: str) -> QMenu:
        """The sidebar's menu for one account: sync its job list (where the API has one)."""
        menu = QMenu(self)
        sync = menu.addAction(
            icon("sync"), f"Sync {name}", lambda: self.commands.sync_account(name)
        )
        sync.setEnabled(self.commands.can_sync(name))
        menu.addAction(self.accounts_action)
        return menu

    def changeEvent(self, event: QEvent) -> None:
        # A light ↔ dark switch: the tool icons are drawn in the palette's text colour.
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if self._icon_color != icon_color():
                self._icon_color = icon_color()
                retint(self)
                self.sidebar.retint()
                self.model.refresh_icons()
        super().changeEvent(event)

    def _on_selection_changed(self, *_args: Any) -> None:
        self.commands.update_enabled()
        self._refresh_detail()

    def _refresh_detail(self, changed: set[str] | None = None) -> None:
        """Show the single selected job; with `changed`, only if that job is among them."""
        jobs = self.table.selected_jobs()
        job = jobs[0] if len(jobs) == 1 else None
        if job is None:
            if self.detail.job_id is not None or changed is None:
                self.detail.show_job(None, [])
        elif changed is None or job.id in changed or job.id != self.detail.job_id:
            self.detail.show_job(job, self.engine.events(job.id))

    def _on_table_menu_requested(self, pos: Any) -> None:
        self.context_menu = self.build_table_menu()
        self.context_menu.popup(self.table.viewport().mapToGlobal(pos))

    def build_table_menu(self) -> QMenu:
        """The table's context menu: the actions on the selection ("Re-submit 3 selected…"),
        then the same on every job the filters show ("Re-submit all 37 shown…")."""
        self.fit_shown_actions()
        menu = QMenu(self)
        menu.addActions(self.commands.job_actions())
        menu.addSeparator()
        menu.addActions(self.commands.shown_actions())
        menu.addSeparator()
        menu.addActions([self.commands.new_job, self.commands.track])
        return menu

    def _on_table_double_clicked(self, _index: Any) -> None:
        if any(saved_paths(j) for j in self.table.selected_jobs()):
            self.commands.open_files()

    def _show_column_menu(self) -> None:
        menu = self.table.build_header_menu()
        self.table.header_menu = menu
        menu.popup(self.table.mapToGlobal(self.table.rect().topLeft()))

    def _on_known_error(self, what: str, error: JobdockError) -> None:
        self.statusBar().showMessage(f"Could not {what}: {error.user_message}", 15000)

    # dialogs ----------------------------------------------------------------------------------
    def _open_dialog(self, key: str, factory: Callable[[], QDialog]) -> QDialog:
        existing = self.dialogs.get(key)
        if existing is not None:
            existing.raise_()
            return existing
        dialog = factory()
        self.dialogs[key] = dialog
        dialog.finished.connect(lambda _result: self._on_dialog_finished(key))
        dialog.open()
        return dialog

    def _on_dialog_finished(self, key: str) -> None:
        dialog = self.dialogs.pop(key, None)
        if dialog is not None:
            dialog.deleteLater()
        if key == "accounts":
            self.refresh_accounts()
        if key == "settings":
            self.notices.enabled = load_notice_toggles(self.settings)
            self.model.expiry_margin = self.engine.settings.expiry_margin

    def open_new_job(self) -> QWidget:
        if not self.engine.accounts():  # a job needs an account: start there, not at an error
            return self._open_accounts_first("A new job needs an account: add one first.")
        return self._open_dialog("new-job", self._new_job_dialog)

    def _new_job_dialog(self) -> NewJobDialog:
        dialog = NewJobDialog(self.engine, self)
        selected = self.table.selected_jobs()
        if selected:  # the account of the job the user is looking at
            index = dialog.account.findData(selected[0].account)
            if index >= 0:
                dialog.account.setCurrentIndex(index)
        self.shoptet.watch_submit(dialog)  # a missing Shoptet webhook: explain, offer to register
        return dialog

    def open_track(self) -> QWidget:
        if not self.engine.accounts():
            return self._open_accounts_first("Tracking a job needs its account: add it first.")
        return self._open_dialog("track", lambda: TrackDialog(self.engine, self))

    def _open_accounts_first(self, why: str) -> QWidget:
        dialog = self.open_accounts()
        if isinstance(dialog, AccountsDialog):
            dialog.status.setText(why)
        return dialog

    def _on_empty_state_demo_requested(self) -> None:
        self._start_demo()
        self.statusBar().showMessage("Starting the demo in a window of its own…", 8000)

    def open_accounts(self) -> QWidget:
        return self._open_dialog("accounts", lambda: AccountsDialog(self.engine, self))

    def open_about(self) -> QWidget:
        return self._open_dialog("about", lambda: AboutDialog(self))

    def open_settings(self) -> QWidget:
        return self._open_dialog(
            "settings", lambda: SettingsDialog(self.engine, self.settings, self)
        )


def platform_name() -> str:
    """Qt's windowing platform: "wayland", "xcb", "offscreen", ..."""
    return QGuiApplication.platformName()


def demo_command() -> tuple[str, list[str]]:
    """The program and arguments of `jobdock --demo`: in a frozen bundle (PyInstaller)
    sys.executable is the bundle's own program, which takes `--demo` itself (`-m jobdock` would
    be a CLI call that fails); otherwise it is Python, which runs the package."""
    if getattr(sys, "frozen", False):
        return sys.executable, ["--demo"]
    return sys.executable, ["-m", "jobdock", "--demo"]


def _start_demo_process() -> None:
    """`jobdock --demo` as a process of its own (its own data dir, simulator and window)."""
    program, arguments = demo_command()
    QProcess.startDetached(program, arguments)
