"""Fixtures for every test: real services started on demand, test keyrings, a qasync event loop.

Qt runs offscreen unless QT_QPA_PLATFORM says otherwise (set here, before pytest-qt makes the
QApplication). The building blocks live in tests/support/ (importable as `tests.support`:
tests/ is a package, so pytest puts the repo root on sys.path). The `simulator` fixture is the
simulator's owner's to add.

| fixture | scope | gives |
|---|---|---|
| `secret_service_env` | session | os.environ + a private, unlocked gnome-keyring on its own bus |
| `secret_service_keyring` | test | keyring's SecretService backend on it, in this process |
| `xvfb_display` | test | DISPLAY (":N") of a fresh 1280x800x24 Xvfb |
| `file_keyring_env` | test | os.environ + a JSON-file keyring and a data dir under tmp_path |
| `qasync_loop` | test | a qasync.QEventLoop on pytest-qt's `qapp`, closed afterwards |

Missing system tools (Xvfb, dbus-daemon, gnome-keyring-daemon) skip the tests that need them,
and fail them when CI is set (tests.support.tools).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from tests.support import file_keyring, secret_service, xvfb
from tests.support.tools import require_tools

REPO_ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "XDG_RUNTIME_DIR" not in os.environ:
    # Without one Qt warns "XDG_RUNTIME_DIR not set" whenever it looks for it, and Qt warnings
    # fail tests (qt_log_level_fail). Qt wants it private: 0700 and ours.
    _runtime = Path(tempfile.gettempdir()) / f"jobdock-tests-runtime-{os.getuid()}"
    _runtime.mkdir(mode=0o700, exist_ok=True)
    _runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)


def pytest_configure(config: pytest.Config) -> None:
    # The offscreen platform says this whenever a window's size constraints change (any
    # QMainWindow with a central widget): a limit of the plugin, not a bug in Jobdock.
    config.addinivalue_line("qt_log_ignore", "This plugin does not support propagateSizeHints")


@pytest.fixture(scope="session")
def secret_service_env() -> Iterator[dict[str, str]]:
    """os.environ plus a private Secret Service's variables, for `subprocess.run(env=...)`.

    One gnome-keyring for the whole session (it starts in well under a second, but keyring tests
    are many): use account names unique to your test. HOME and XDG_* point into its temporary
    directory; PYTHON_KEYRING_BACKEND selects keyring's SecretService backend. os.environ is as
    it was when the first test asked for this fixture.
    """
    require_tools(*secret_service.TOOLS, purpose="the real Secret Service")
    with secret_service.run_secret_service() as variables:
        yield {**os.environ, **variables}


@pytest.fixture
def secret_service_keyring(
    secret_service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> KeyringBackend:
    """keyring's SecretService backend on the private Secret Service, in this process.

    For the test's duration os.environ points at that bus, and keyring's module functions
    (`keyring.get_password`, and so KeyringCredentialStore) use the returned backend.
    """
    import keyring.core
    from keyring.backends.SecretService import Keyring

    for name in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND"):
        monkeypatch.setenv(name, secret_service_env[name])
    backend = Keyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    return backend


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """The DISPLAY (":N") of a fresh Xvfb (1280x800x24), stopped after the test.

    For subprocesses: `env={**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}`.
    """
    require_tools(*xvfb.TOOLS, purpose="the X server")
    with xvfb.run_xvfb() as display:
        yield display


@pytest.fixture
def file_keyring_env(tmp_path: Path) -> dict[str, str]:
    """os.environ plus a test-only JSON-file keyring and a data dir, for CLI subprocesses.

    Sets PYTHONPATH (repo root first, so keyring can load tests.support.file_keyring),
    PYTHON_KEYRING_BACKEND, JOBDOCK_TEST_KEYRING_FILE (tmp_path/keyring.json, made on first
    write) and JOBDOCK_DATA_DIR (tmp_path/data, left for Jobdock to create). For the
    keyring-unavailable paths, override PYTHON_KEYRING_BACKEND with `file_keyring.FAIL_BACKEND`
    or `file_keyring.BROKEN_BACKEND`.
    """
    python_path = [
        str(REPO_ROOT),
        *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)),
    ]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHON_KEYRING_BACKEND": file_keyring.FILE_BACKEND,
        file_keyring.FILE_VARIABLE: str(tmp_path / "keyring.json"),
        "JOBDOCK_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def qasync_loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync event loop on the QApplication, set as the current loop, closed afterwards.

    Run coroutines with `qasync_loop.run_until_complete(coro())`; inside them await Qt signals
    with `tests.support.qt_async.next_emission`, never with `qtbot.waitSignal` (a nested Qt loop
    inside the running qasync loop hangs). Like `asyncio.run`, teardown cancels the tasks still
    pending; an exception that reached the loop's handler (a task nobody awaited, a failing
    callback) fails the test, as it would otherwise vanish into a log line.
    """
    import qasync

    loop = qasync.QEventLoop(qapp)
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    asyncio.set_event_loop(loop)
    try:
        yield loop
        _cancel_pending_tasks(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    if unhandled:
        pytest.fail(
            "unhandled in the qasync loop:\n" + "\n".join(_describe(c) for c in unhandled),
            pytrace=False,
        )


def _cancel_pending_tasks(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _describe(context: dict[str, Any]) -> str:
    exception = context.get("exception")
    message = context.get("message", "")
    return f"- {message}: {exception!r}" if exception else f"- {message}"
