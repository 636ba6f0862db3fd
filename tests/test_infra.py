"""Tests of the test infrastructure itself (tests/support, the fixtures in tests/conftest.py).

They prove on this machine what other tests rely on: a real Secret Service answers keyring in a
subprocess and in-process; the test-only file keyring round-trips across processes and the
failing ones refuse; Xvfb starts and Qt's xcb platform shows a window there (so the xcb libraries
are installed) that a screenshot can catch; the qasync loop runs coroutines that await Qt
signals; and every daemon started is gone afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import SIGNAL, QObject, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMainWindow

from tests.support import file_keyring, secret_service, xvfb
from tests.support.qt_async import next_emission
from tests.support.tools import require_tools

ROUND_TRIP = """
import keyring
keyring.set_password("jobdock", "{user}", "s3cret-{user}")
print(keyring.get_password("jobdock", "{user}"))
print(keyring.get_keyring())
"""
READ_BACK = 'import keyring; print(keyring.get_password("jobdock", "{user}"))'


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def child_pids() -> set[int]:
    """Live processes whose parent is this test process (read from /proc)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


@pytest.mark.keyring
def test_secret_service_round_trip_in_subprocesses(secret_service_env: dict[str, str]) -> None:
    wrote = run_python(ROUND_TRIP.format(user="infra-sub"), secret_service_env)
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout.splitlines() == [
        "s3cret-infra-sub",
        f"{secret_service.KEYRING_BACKEND} (priority: 5)",
    ]
    read = run_python(READ_BACK.format(user="infra-sub"), secret_service_env)
    assert read.stdout.strip() == "s3cret-infra-sub", read.stderr


@pytest.mark.keyring
def test_secret_service_in_process(secret_service_keyring: object) -> None:
    import keyring

    assert keyring.get_keyring() is secret_service_keyring
    keyring.set_password("jobdock", "infra-in-process", "s3cret")
    assert keyring.get_password("jobdock", "infra-in-process") == "s3cret"
    keyring.delete_password("jobdock", "infra-in-process")
    assert keyring.get_password("jobdock", "infra-in-process") is None


@pytest.mark.keyring
def test_secret_service_stops_its_daemons() -> None:
    require_tools(*secret_service.TOOLS, purpose="the real Secret Service")
    before = child_pids()
    with secret_service.run_secret_service() as variables:
        started = child_pids() - before
        assert len(started) == 2  # dbus-daemon and gnome-keyring-daemon
        home = Path(variables["HOME"])
        assert (home / ".local/share/keyrings").is_dir()
    assert not started & child_pids()
    assert not home.exists()


def test_file_keyring_round_trip_in_subprocesses(
    file_keyring_env: dict[str, str], tmp_path: Path
) -> None:
    wrote = run_python(ROUND_TRIP.format(user="infra-file"), file_keyring_env)
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout.splitlines() == [
        "s3cret-infra-file",
        f"{file_keyring.FILE_BACKEND} (priority: 20)",
    ]
    stored = json.loads((tmp_path / "keyring.json").read_text())
    assert stored == {"jobdock": {"infra-file": "s3cret-infra-file"}}
    read = run_python(READ_BACK.format(user="infra-file"), file_keyring_env)
    assert read.stdout.strip() == "s3cret-infra-file", read.stderr
    assert file_keyring_env["JOBDOCK_DATA_DIR"] == str(tmp_path / "data")


def test_file_keyring_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.errors import KeyringError, PasswordDeleteError

    backend = file_keyring.FileKeyring()
    monkeypatch.delenv(file_keyring.FILE_VARIABLE, raising=False)
    with pytest.raises(KeyringError, match=file_keyring.FILE_VARIABLE):
        backend.get_password("jobdock", "a")
    monkeypatch.setenv(file_keyring.FILE_VARIABLE, str(tmp_path / "k.json"))
    assert backend.get_password("jobdock", "a") is None
    backend.set_password("jobdock", "a", "1")
    backend.set_password("jobdock", "b", "2")
    backend.delete_password("jobdock", "a")
    assert (backend.get_password("jobdock", "a"), backend.get_password("jobdock", "b")) == (
        None,
        "2",
    )
    with pytest.raises(PasswordDeleteError):
        backend.delete_password("jobdock", "a")


@pytest.mark.parametrize(
    ("backend", "error"),
    [
        (file_keyring.FAIL_BACKEND, "keyring.errors.NoKeyringError"),
        (file_keyring.BROKEN_BACKEND, "keyring.errors.KeyringLocked"),
    ],
)
def test_failing_keyrings_refuse(
    file_keyring_env: dict[str, str], backend: str, error: str
) -> None:
    env = {**file_keyring_env, "PYTHON_KEYRING_BACKEND": backend}
    result = run_python(READ_BACK.format(user="infra-fail"), env)
    assert result.returncode == 1
    assert error in result.stderr


SHOW_WINDOW = """
import subprocess, sys
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel

app = QApplication(sys.argv)
label = QLabel("Jobdock on Xvfb")
label.setWindowTitle("jobdock-xvfb-probe")
label.resize(320, 120)
label.show()
assert QTest.qWaitForWindowExposed(label, 5000), "window never exposed"
print(app.platformName())
window = subprocess.run(["xwininfo", "-name", "jobdock-xvfb-probe"], capture_output=True, text=True)
print(window.stdout, window.stderr)
subprocess.run(["import", "-window", "root", sys.argv[1]], check=True)
"""


@pytest.mark.xvfb
def test_xvfb_shows_a_qt_window_on_xcb(xvfb_display: str, tmp_path: Path) -> None:
    require_tools("xwininfo", "import", purpose="inspecting the X server")
    shot = tmp_path / "screen.png"
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    result = subprocess.run(
        [sys.executable, "-c", SHOW_WINDOW, str(shot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Qt names libxcb-cursor0 when the xcb plugin fails to load, whichever xcb library is missing.
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "xcb"
    assert '"jobdock-xvfb-probe"' in result.stdout
    assert "Width: 320" in result.stdout
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 800)


@pytest.mark.xvfb
def test_xvfb_stops_its_server() -> None:
    require_tools(*xvfb.TOOLS, purpose="the X server")
    before = child_pids()
    with xvfb.run_xvfb() as display:
        started = child_pids() - before
        assert len(started) == 1
        assert display.startswith(":")
        socket = Path(f"/tmp/.X11-unix/X{display[1:]}")
        assert socket.is_socket()
    assert not started & child_pids()
    assert not socket.exists()


class _Pinger(QObject):
    pinged = Signal(str)


def test_qasync_loop_awaits_qt_signals(qasync_loop: asyncio.AbstractEventLoop) -> None:
    """The pattern for async Qt tests: run a coroutine on the loop, await signals inside it."""
    pinger = _Pinger()

    async def scenario() -> tuple[tuple[object, ...], tuple[object, ...], str, int]:
        assert asyncio.get_running_loop() is qasync_loop
        emitted = next_emission(pinger.pinged)
        pinger.pinged.emit("now")  # fires before anything awaits: the future has it already
        now = await emitted

        later = next_emission(pinger.pinged)
        QTimer.singleShot(10, lambda: pinger.pinged.emit("later"))
        async with asyncio.timeout(5):
            from_timer = await later

        fired: asyncio.Future[str] = qasync_loop.create_future()
        QTimer.singleShot(10, lambda: fired.set_result("fired"))
        await asyncio.sleep(0.01)  # asyncio's own timers run on Qt's loop as well
        blocking = await asyncio.to_thread(sum, [1, 2, 3])  # and so does the default executor
        return now, from_timer, await asyncio.wait_for(fired, timeout=5), blocking

    assert qasync_loop.run_until_complete(scenario()) == (("now",), ("later",), "fired", 6)
    assert pinger.receivers(SIGNAL("pinged(QString)")) == 0  # both futures disconnected


def test_qasync_loop_times_out_a_signal_that_never_comes(
    qasync_loop: asyncio.AbstractEventLoop,
) -> None:
    pinger = _Pinger()

    async def wait_briefly() -> None:
        async with asyncio.timeout(0.05):
            await next_emission(pinger.pinged)

    with pytest.raises(TimeoutError):
        qasync_loop.run_until_complete(wait_briefly())
    assert pinger.receivers(SIGNAL("pinged(QString)")) == 0


def test_missing_tools_skip_locally_and_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-here"):
        require_tools("no-such-tool-here", purpose="this check")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-here"):
        require_tools("no-such-tool-here", purpose="this check")


def test_offscreen_main_window_shows_without_qt_warnings(qtbot: Any) -> None:
    """conftest makes the offscreen platform quiet: a runtime dir, and one known message ignored."""
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setCentralWidget(QLabel("Jobdock"))  # makes offscreen say "propagateSizeHints"
    window.show()
    qtbot.waitExposed(window)
    runtime = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)
    assert runtime == os.environ["XDG_RUNTIME_DIR"]


def test_dev_tools_are_pinned_and_installed_at_their_pins() -> None:
    """Every checkout lints, type-checks and tests with the same tools: the [dev] extra pins
    each exactly, and this venv has those versions (scripts/setup reinstalls when they move)."""
    with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as file:
        dev = tomllib.load(file)["project"]["optional-dependencies"]["dev"]
    pins = dict(requirement.split("==") for requirement in dev)
    assert {"pytest", "ruff", "mypy"} <= pins.keys(), dev
    installed = {name: metadata.version(name) for name in pins}
    assert installed == pins


@pytest.mark.parametrize(("ci", "outcome"), [("1", "failed"), ("", "skipped")])
def test_a_tmpfs_that_cannot_be_mounted_skips_or_under_ci_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    """Like a missing tool (`tools.skip_or_fail`): a disk-full test skipped under CI would
    hide a setup that cannot mount its tmpfs."""
    from tests.support import tmpfs

    refused = subprocess.CompletedProcess(["mount"], 32, "", "mount: permission denied")
    monkeypatch.setattr(tmpfs.subprocess, "run", lambda *a, **k: refused)
    monkeypatch.setenv("CI", ci)
    got = message = ""
    try:
        with tmpfs.mounted_tmpfs(tmp_path / "disk", "1m"):
            pass
    except (pytest.fail.Exception, pytest.skip.Exception) as exc:
        got = "failed" if isinstance(exc, pytest.fail.Exception) else "skipped"
        message = str(exc)
    assert got == outcome and "mounting a tmpfs is not permitted here" in message
