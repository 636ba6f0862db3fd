"""A real Secret Service for tests: gnome-keyring on a private dbus session bus, in a fresh HOME.

`run_secret_service()` starts `dbus-daemon` (its own config: one unix socket, no service activation,
so nothing but our keyring daemon can answer) and `gnome-keyring-daemon --foreground --unlock
--components=secrets`, which reads the password on stdin and creates an unlocked `login` keyring
under the fresh HOME. It yields the environment variables that point a process at this session;
on exit both daemons are stopped and the directory removed. Nothing of the developer's own
keyring or session bus is touched.

keyring and secretstorage read DBUS_SESSION_BUS_ADDRESS when they connect, so the yielded
variables work for subprocesses (`env={**os.environ, **variables}`) and, set in os.environ for a
test's duration, in-process too (the `secret_service_keyring` fixture in tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import Daemon, spawn_daemon
from tests.support.session_bus import start_session_bus

TOOLS = ("dbus-daemon", "gnome-keyring-daemon")
KEYRING_BACKEND = "keyring.backends.SecretService.Keyring"
SECRETS_BUS_NAME = "org.freedesktop.secrets"


@contextlib.contextmanager
def run_secret_service(
    *, password: str = "jobdock-tests", timeout: float = 15.0
) -> Iterator[dict[str, str]]:
    """Run a private Secret Service; yield the variables that point a process at it.

    They are HOME, XDG_{DATA,CONFIG,CACHE}_HOME, XDG_RUNTIME_DIR (all inside a fresh temporary
    directory), DBUS_SESSION_BUS_ADDRESS and PYTHON_KEYRING_BACKEND (keyring's SecretService
    backend, so keyring never settles for another one silently). Raises
    `tests.support.processes.DaemonError` when a daemon does not come up.
    """
    with (
        tempfile.TemporaryDirectory(prefix="jobdock-secrets-") as tmp,
        contextlib.ExitStack() as daemons,
    ):
        root = Path(tmp)
        variables = _session_dirs(root)
        variables["DBUS_SESSION_BUS_ADDRESS"] = start_session_bus(daemons, root, timeout=timeout)
        variables["PYTHON_KEYRING_BACKEND"] = KEYRING_BACKEND
        keyring_daemon = spawn_daemon(
            daemons,
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            log=root / "gnome-keyring.log",
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **variables},
        )
        assert keyring_daemon.process.stdin is not None
        with keyring_daemon.process.stdin:  # the daemon reads the password up to end of file
            keyring_daemon.process.stdin.write(password.encode())
        _wait_for_owner(variables["DBUS_SESSION_BUS_ADDRESS"], keyring_daemon, timeout=timeout)
        yield variables


def _session_dirs(root: Path) -> dict[str, str]:
    home = root / "home"
    variables = {
        "HOME": home,
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_RUNTIME_DIR": root / "run",
    }
    (home / ".local" / "share" / "keyrings").mkdir(parents=True)
    for path in variables.values():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {name: str(path) for name, path in variables.items()}


def _wait_for_owner(address: str, daemon: Daemon, *, timeout: float) -> None:
    """Wait until `daemon` owns the Secret Service name on the bus at `address`."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
    question = new_method_call(bus, "NameHasOwner", "s", (SECRETS_BUS_NAME,))
    deadline = time.monotonic() + timeout
    with open_dbus_connection(bus=address) as connection:
        while not connection.send_and_get_reply(question).body[0]:
            if daemon.process.poll() is not None:
                raise daemon.error("exited before taking the Secret Service name")
            if time.monotonic() > deadline:
                raise daemon.error(f"did not take {SECRETS_BUS_NAME} within {timeout}s")
            time.sleep(0.02)
