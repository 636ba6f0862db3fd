"""One window per data dir: a second `jobdock` launch raises the running window and exits.

The first window takes a lock file (`QLockFile`: a crashed holder's lock is taken over, since Qt
checks whether the holder's pid still runs) and listens on a local socket (`QLocalServer`: a Unix
socket, a named pipe on Windows) named after the data dir. A later launch that finds the lock
held connects to that socket and asks for the window; the running one shows and raises it. The
lock, not the socket, decides who is first, so two launches at once never both listen and a
socket left behind by a crash is simply replaced.

On Wayland a window may only take the focus with an activation token (xdg-activation) from
whoever launched the new program: the desktop gives it to the second launch as
XDG_ACTIVATION_TOKEN (GNOME also as DESKTOP_STARTUP_ID). The second launch sends it along
(`raise TOKEN`), and the running window puts it in its own environment before it shows and
activates itself: Qt's wayland plugin activates with XDG_ACTIVATION_TOKEN when it finds one (and
unsets it), and PySide6 offers no other way to hand it a token (QWaylandWindow's
setXdgActivationToken is private). On X11 the token is not needed to raise a window.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("jobdock.qt")
_RAISE = b"raise"
TOKEN_ENV = "XDG_ACTIVATION_TOKEN"
_MAX_TOKEN = 512  # tokens are short printable strings (GNOME: "gnome-shell/...-TIME1234")


def launch_token(environ: Mapping[str, str]) -> str:
    """The activation token this launch was given (XDG_ACTIVATION_TOKEN, else GNOME's
    DESKTOP_STARTUP_ID), or "" when it has none or none fit to send on one line."""
    token = environ.get(TOKEN_ENV) or environ.get("DESKTOP_STARTUP_ID") or ""
    return token if _fits(token) else ""


def _fits(token: str) -> bool:
    return len(token) <= _MAX_TOKEN and token.isascii() and token.isprintable() and " " not in token


def use_activation_token(
    token: str, platform: str, environ: MutableMapping[str, str] = os.environ
) -> bool:
    """Before the window shows and activates itself on Wayland: the token where Qt's wayland
    plugin looks for it. True when it was put there."""
    if not token or not platform.startswith("wayland") or not _fits(token):
        return False
    environ[TOKEN_ENV] = token
    return True


def instance_key(data_dir: Path) -> str:
    """The socket's name: per user and per resolved data dir, short enough for any OS."""
    digest = hashlib.sha256(f"{getpass.getuser()}\0{data_dir}".encode()).hexdigest()[:20]
    return f"jobdock-{digest}"


class SingleInstance(QObject):
    """`acquire()` once at start; `activated` fires when a later launch asks for the window."""

    activated = Signal(str)  # the later launch's activation token, "" when it had none

    def __init__(self, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._lock = QLockFile(str(Path(tempfile.gettempdir()) / f"{key}.lock"))
        self._lock.setStaleLockTime(0)  # only a dead holder makes it stale, never its age
        self._server: QLocalServer | None = None

    def acquire(self) -> bool:
        """True when this is the first window for the data dir (it then listens)."""
        if not self._lock.tryLock(0):
            return False
        QLocalServer.removeServer(self.key)  # a socket file a crashed window left behind
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        server.newConnection.connect(self._on_server_new_connection)
        if not server.listen(self.key):
            log.warning("cannot listen for other launches: %s", server.errorString())
        self._server = server
        return True

    def ask_running(self, *, timeout: float = 5.0, token: str | None = None) -> bool:
        """From a later launch: ask the first window to show itself, handing it this launch's
        activation token (`token`, by default from the environment); True once it was told.

        The first window may still be starting (it takes the lock before it listens), so this
        tries again for up to `timeout` seconds."""
        token = launch_token(os.environ) if token is None else token
        line = _RAISE + (b" " + token.encode() if _fits(token) and token else b"") + b"\n"
        deadline = time.monotonic() + timeout
        while True:
            socket = QLocalSocket()
            socket.connectToServer(self.key)
            if socket.waitForConnected(500):
                socket.write(line)
                sent = socket.waitForBytesWritten(1000)
                socket.disconnectFromServer()
                if sent:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            # A later launch writes one short line and waits until it is sent: read it whole.
            while not socket.canReadLine() and socket.waitForReadyRead(1000):
                pass
            words = bytes(socket.readLine(_MAX_TOKEN + 16).data()).decode("ascii", "replace")
            command, _, token = words.strip().partition(" ")
            if command == _RAISE.decode():
                log.info("another launch asked for the window: raising it%s",
                         " (with its activation token)" if token else "")  # fmt: skip
                self.activated.emit(token if _fits(token) else "")
            socket.disconnectFromServer()
            socket.deleteLater()
