"""Desktop notifications through the session bus: `org.freedesktop.Notifications` (GNOME, KDE,
XFCE, ... — no system tray needed), or the notification portal inside a Flatpak sandbox.

D-Bus is spoken with jeepney (pure Python, already what keyring's Secret Service backend uses)
on a thread of its own: a blocking connection that sends each `Notify` and listens for the
`ActionInvoked` signal, so a slow or absent notification daemon never holds up the window. A
click on a notification ("default" action) emits `clicked` with the job's id, queued to the GUI
thread by Qt. When there is no session bus, `notify` returns False and the caller falls back to
the tray's balloon or the status bar; when the bus is there but no service answers, every
notification not delivered comes back through `undelivered` for the same fallback.

Spec: https://specifications.freedesktop.org/notification-spec/latest/ (Notify `susssasa{sv}i`,
signals ActionInvoked `us` and NotificationClosed `uu`); portal:
https://flatpak.github.io/xdg-desktop-portal/docs/doc-org.freedesktop.portal.Notification.html
(AddNotification `sa{sv}`, ActionInvoked `ssav`). The portal sends ActionInvoked back only for
a "non-exported" action, one whose name does not start with "app."; an "app." action it delivers
by D-Bus-activating the application (org.freedesktop.Application.ActivateAction), which Jobdock
does not implement, so the click action is the plain PORTAL_ACTION.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("jobdock.qt")

APP_NAME = "Jobdock"
DESKTOP_ENTRY = "io.github.jobdock.Jobdock"
NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
PORTAL = ("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")
PORTAL_INTERFACE = "org.freedesktop.portal.Notification"
PORTAL_ACTION = "show-job"  # non-exported (no "app."): the portal answers with ActionInvoked


@dataclass(frozen=True)
class _Request:
    title: str
    text: str
    job_id: str
    urgent: bool


_STOP = _Request("", "", "", False)  # tells the D-Bus thread to end


def in_flatpak() -> bool:
    return Path("/.flatpak-info").exists()


class DesktopNotifications(QObject):
    """`notify()` from the GUI thread; `clicked(job_id)` when the user clicks a notification."""

    clicked = Signal(str)
    undelivered = Signal(str, str, bool)  # title, text, urgent: show them some other way

    def __init__(self, parent: QObject | None = None, *, portal: bool | None = None) -> None:
        super().__init__(parent)
        self._portal = in_flatpak() if portal is None else portal
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._broken = not sys.platform.startswith("linux") or not _has_session_bus()

    @property
    def available(self) -> bool:
        """False once the session bus or the notification service proved unreachable."""
        return not self._broken

    def notify(self, title: str, text: str, *, job_id: str, urgent: bool = False) -> bool:
        """Queue a notification; False when none can be shown (the caller falls back)."""
        if self._broken:
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="jobdock-notify", daemon=True)
            self._thread.start()
        self._requests.put(_Request(title, text, job_id, urgent))
        return True

    def close(self) -> None:
        if self._thread is not None:
            self._requests.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None

    # the D-Bus thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        session: _Session | None = None
        try:
            from jeepney.io.blocking import open_dbus_connection

            with open_dbus_connection(bus="SESSION") as connection:
                session = _Session(connection, self, portal=self._portal)
                session.serve(self._requests)
        except Exception as exc:  # no bus, no daemon, a daemon that misbehaves: fall back
            log.warning("desktop notifications unavailable: %s", exc)
            self._broken = True
            unsent = [session.sending] if session is not None and session.sending else []
            while not self._requests.empty():
                unsent.append(self._requests.get())
            for request in unsent:
                if request is not _STOP:
                    self.undelivered.emit(request.title, request.text, request.urgent)


class _Session:
    """One connection: sends notifications, turns ActionInvoked into `clicked`."""

    def __init__(self, connection: Any, owner: DesktopNotifications, *, portal: bool) -> None:
        from jeepney import DBusAddress, MatchRule, message_bus

        self._connection = connection
        self._owner = owner
        self._portal = portal
        service, path = PORTAL if portal else NOTIFICATIONS
        interface = PORTAL_INTERFACE if portal else NOTIFICATIONS[0]
        self._address = DBusAddress(path, bus_name=service, interface=interface)
        rule = MatchRule(type="signal", interface=interface, member="ActionInvoked", path=path)
        connection.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
        self._filter = connection.filter(rule, bufsize=64)  # kept for the connection's life
        self._jobs: dict[Any, str] = {}  # notification id (uint, or the portal's string) → job
        self._count = 0
        self.sending: _Request | None = None  # the request under way, if sending it fails

    def serve(self, requests: queue.SimpleQueue[_Request]) -> None:
        while True:
            try:
                request = requests.get(timeout=0.2)
            except queue.Empty:
                pass  # nothing to send: look for clicks
            else:
                if request is _STOP:
                    return
                self.sending = request
                self._send(request)
                self.sending = None
            self._read_signals()

    def _send(self, request: _Request) -> None:
        from jeepney import new_method_call

        if self._portal:
            self._count += 1
            key = f"jobdock-{os.getpid()}-{self._count}"
            body: dict[str, tuple[str, Any]] = {
                "title": ("s", request.title),
                "body": ("s", request.text),
                "priority": ("s", "high" if request.urgent else "normal"),
                "default-action": ("s", PORTAL_ACTION),
                "default-action-target": ("v", ("s", request.job_id)),
            }
            message = new_method_call(self._address, "AddNotification", "sa{sv}", (key, body))
            self._connection.send_and_get_reply(message, timeout=5)
            self._jobs[key] = request.job_id
            return
        urgency = 2 if request.urgent else 1  # critical / normal
        hints = {"desktop-entry": ("s", DESKTOP_ENTRY), "urgency": ("y", urgency)}
        message = new_method_call(
            self._address,
            "Notify",
            "susssasa{sv}i",
            (APP_NAME, 0, "io.github.jobdock.Jobdock", request.title, request.text,
             ["default", "Show job"], hints, -1),
        )  # fmt: skip
        reply = self._connection.send_and_get_reply(message, timeout=5)
        if reply.header.message_type.name == "error":
            raise RuntimeError(f"the notification service refused: {reply.body}")
        self._jobs[reply.body[0]] = request.job_id

    def _read_signals(self) -> None:
        while True:
            try:
                signal = self._connection.recv_until_filtered(self._filter.queue, timeout=0.01)
            except TimeoutError:
                return
            key = signal.body[0]
            if self._portal:
                # parameter: the action's target (the job id), then (version 2) platform data
                action, parameter = signal.body[1], signal.body[2]
                target = parameter[0] if parameter else None
                given = target[1] if target and target[0] == "s" else None
                job_id = (given or self._jobs.get(key)) if action == PORTAL_ACTION else None
            else:
                job_id = self._jobs.get(key) if signal.body[1] == "default" else None
            if job_id:
                self._owner.clicked.emit(job_id)


def _has_session_bus() -> bool:
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return bool(runtime) and Path(runtime, "bus").exists()
