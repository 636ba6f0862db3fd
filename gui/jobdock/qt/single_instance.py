"""One window per data dir: a second `jobdock` launch raises the running window and exits.

The first window takes a lock file (`QLockFile`: a crashed holder's lock is taken over, since Qt
checks whether the holder's pid still runs) and listens on a local socket (`QLocalServer`: a Unix
socket, a named pipe on Windows) named after the data dir. A later launch that finds the lock
held connects to that socket and asks for the window; the running one shows and raises it. The
lock, not the socket, decides who is first, so two launches at once never both listen and a
socket left behind by a crash is simply replaced.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("jobdock.qt")
_RAISE = b"raise\n"


def instance_key(data_dir: Path) -> str:
    """The socket's name: per user and per resolved data dir, short enough for any OS."""
    digest = hashlib.sha256(f"{getpass.getuser()}\0{data_dir}".encode()).hexdigest()[:20]
    return f"jobdock-{digest}"


class SingleInstance(QObject):
    """`acquire()` once at start; `activated` fires when a later launch asks for the window."""

    activated = Signal()

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

    def ask_running(self, *, timeout: float = 5.0) -> bool:
        """From a later launch: ask the first window to show itself; True once it was told.

        The first window may still be starting (it takes the lock before it listens), so this
        tries again for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            socket = QLocalSocket()
            socket.connectToServer(self.key)
            if socket.waitForConnected(500):
                socket.write(_RAISE)
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
            if socket.bytesAvailable() or socket.waitForReadyRead(1000):
                if bytes(socket.readAll().data()).startswith(_RAISE.strip()):
                    log.info("another launch asked for the window: raising it")
                    self.activated.emit()
            socket.disconnectFromServer()
            socket.deleteLater()
