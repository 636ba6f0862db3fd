"""Notifications reach the desktop's notification service over a real (private) session bus,
and a click on one shows its job; with no service they fall back to the tray or status bar."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from jobdock.core.model.job import DownloadState, JobState, utcnow
from jobdock.qt.desktop_notifications import NOTIFICATIONS, PORTAL, PORTAL_INTERFACE
from jobdock.qt.job_model import Role
from jobdock.qt.main_window import MainWindow
from tests.qt.conftest import NOW, FakeEngine, make_job, succeeded
from tests.support.session_bus import start_session_bus
from tests.support.tools import require_tools


class FakeNotificationService:
    """Owns a notification service's name on the bus and records every call it gets."""

    def __init__(self, address: str, *, portal: bool = False) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.portal = portal
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._connection = open_dbus_connection(bus=address)
        self._stop = threading.Event()
        self._next_id = 41
        name = PORTAL[0] if portal else NOTIFICATIONS[0]
        from jeepney.bus_messages import message_bus

        reply = self._connection.send_and_get_reply(message_bus.RequestName(name))
        assert reply.body[0] == 1, "could not own the notification service's name"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from jeepney import new_method_return

        while not self._stop.is_set():
            try:
                message = self._connection.receive(timeout=0.1)
            except TimeoutError:
                continue
            member = message.header.fields.get(3)  # HeaderFields.member
            if member in ("Notify", "AddNotification"):
                self.calls.append((member, tuple(message.body)))
                self._next_id += 1
                if member == "Notify":
                    self._connection.send(new_method_return(message, "u", (self._next_id,)))
                else:
                    self._connection.send(new_method_return(message))

    def click(self, notification: Any) -> None:
        """The user clicks the notification (its default action)."""
        from jeepney import DBusAddress, new_signal

        if self.portal:
            # As the portal documents it: an "app."-prefixed action is exported, activated
            # through org.freedesktop.Application.ActivateAction on the app's bus name (not
            # ActionInvoked); only a non-exported action comes back as the ActionInvoked signal,
            # its parameter the action's target then (version 2) the platform data.
            sent = next(body[1] for member, body in self.calls if body[0] == notification)
            action = sent.get("default-action", ("s", ""))[1]
            if not action or action.startswith("app."):
                return  # activates the app (by D-Bus activation), no signal to the app
            parameter: list[Any] = []
            if "default-action-target" in sent:
                parameter.append(sent["default-action-target"][1])
            parameter.append(("a{sv}", {"activation-token": ("s", "token-1")}))
            where = DBusAddress(PORTAL[1], interface=PORTAL_INTERFACE)
            body = (notification, action, parameter)
            self._connection.send(new_signal(where, "ActionInvoked", "ssav", body))
        else:
            where = DBusAddress(NOTIFICATIONS[1], interface=NOTIFICATIONS[0])
            self._connection.send(
                new_signal(where, "ActionInvoked", "us", (notification, "default"))
            )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._connection.close()


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    require_tools("dbus-daemon", purpose="a private session bus")
    with tempfile.TemporaryDirectory(prefix="jobdock-bus-") as tmp, contextlib.ExitStack() as stack:
        address = start_session_bus(stack, Path(tmp))
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


def window_for(qtbot: Any, tmp_path: Path, engine: FakeEngine, **options: Any) -> MainWindow:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, settings=settings, clock=options.get("clock", utcnow))
    qtbot.addWidget(window)
    if "portal" in options:
        window.desktop_notifications._portal = options["portal"]
    window.start()
    return window


# Showing the window raises it; the offscreen plugin cannot, and says so.
@pytest.mark.qt_log_ignore("This plugin does not support raise")
@pytest.mark.parametrize("portal", [False, True], ids=["freedesktop", "flatpak-portal"])
def test_a_finished_job_sends_notify_and_a_click_shows_the_job(
    qtbot: Any, qasync_loop: Any, tmp_path: Path, session_bus: str, portal: bool
) -> None:
    service = FakeNotificationService(session_bus, portal=portal)
    engine = FakeEngine([make_job(1, state=JobState.RUNNING), make_job(2)])
    window = window_for(qtbot, tmp_path, engine, portal=portal)
    try:
        window.hide()  # as if behind other windows, or in the tray
        engine.publish(changed=(succeeded(1),))
        qtbot.waitUntil(lambda: len(service.calls) == 1, timeout=10000)
        member, body = service.calls[0]
        if portal:
            assert member == "AddNotification"
            key, notification = body
            assert notification["title"] == ("s", "Job succeeded")
            assert notification["default-action-target"] == ("v", ("s", "job0001"))
            service.click(key)
        else:
            assert member == "Notify"
            app_name, _replaces, _icon, summary, text, actions, hints, _timeout = body
            assert (app_name, summary) == ("Jobdock", "Job succeeded")
            assert "acme" in text and actions[:1] == ["default"]
            assert hints["desktop-entry"] == ("s", "io.github.jobdock.Jobdock")
            service.click(42)
        qtbot.waitUntil(window.isVisible, timeout=10000)
        selected = window.table.selectionModel().selectedRows()
        assert [i.data(Role.JOB_ID.value) for i in selected] == ["job0001"]
    finally:
        qasync_loop.run_until_complete(window.aclose())
        service.close()


# Showing the window raises it; the offscreen plugin cannot, and says so.
@pytest.mark.qt_log_ignore("This plugin does not support raise")
@pytest.mark.parametrize("portal", [False, True], ids=["freedesktop", "flatpak-portal"])
def test_failed_saved_and_expiring_jobs_are_notified_too(
    qtbot: Any, qasync_loop: Any, tmp_path: Path, session_bus: str, portal: bool
) -> None:
    """Every kind of notice goes through the bus; a failure and an expiring link are urgent."""
    service = FakeNotificationService(session_bus, portal=portal)
    saved = tmp_path / "acme" / "job0002" / "r2.csv"
    engine = FakeEngine([
        make_job(1, state=JobState.RUNNING),
        succeeded(2),  # its file is being saved
        succeeded(3, expires_in=300),  # its link expires in 5 minutes, not saved
    ])  # fmt: skip
    window = window_for(qtbot, tmp_path, engine, portal=portal, clock=lambda: NOW)

    def sent(n: int) -> tuple[str, str, bool]:
        """The n-th notification: its title, text and whether it is urgent."""
        qtbot.waitUntil(lambda: len(service.calls) > n, timeout=10000)
        member, body = service.calls[n]
        if portal:
            assert member == "AddNotification"
            notification = body[1]
            priority = notification["priority"][1]
            return notification["title"][1], notification["body"][1], priority == "high"
        assert member == "Notify"
        hints = body[6]
        return body[3], body[4], hints["urgency"] == ("y", 2)

    try:
        window.hide()
        # The window looks for expiring links at start and on every tick.
        title, text, urgent = sent(0)
        assert title == "Result link expires soon" and urgent
        assert text == "export 3: link expires in 5 min and is not saved yet"
        engine.publish(changed=(make_job(1, state=JobState.FAILED, error="server said no"),))
        title, text, urgent = sent(1)
        assert (title, text, urgent) == ("Job failed", "export 1: server said no", True)
        engine.publish(changed=(succeeded(2, state=DownloadState.DONE, path=str(saved)),))
        title, text, urgent = sent(2)
        assert (title, text, urgent) == ("Result saved", f"export 2 → {saved}", False)
        window._on_feed_ticked()  # once per job: the expiring link is not said again,
        engine.publish(changed=(make_job(4, state=JobState.FAILED, error="quota"),))
        assert sent(3)[:2] == ("Job failed", "export 4: quota")  # the next one sent is this
    finally:
        qasync_loop.run_until_complete(window.aclose())
        service.close()


def test_without_a_notification_service_the_status_bar_says_it(
    qtbot: Any, qasync_loop: Any, tmp_path: Path, session_bus: str
) -> None:
    engine = FakeEngine([make_job(1, state=JobState.RUNNING)])
    window = window_for(qtbot, tmp_path, engine)
    window.tray.available = False  # no tray either: the status bar is the last resort
    try:
        engine.publish(changed=(succeeded(1),))
        qtbot.waitUntil(
            lambda: "Job succeeded" in window.statusBar().currentMessage(), timeout=10000
        )
        assert not window.desktop_notifications.available
    finally:
        qasync_loop.run_until_complete(window.aclose())
