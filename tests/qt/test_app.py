"""Startup and shutdown of the real program, and the one-dialog error handler."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jobdock.qt.loop import ErrorReporter
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def _query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    store = data_dir / "jobs.sqlite3"
    if not store.exists():
        return []
    uri = store.as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # its tables are not made yet
        return []


def _lease_pid(data_dir: Path) -> int | None:
    rows = _query(data_dir, "SELECT pid FROM lease")
    return int(rows[0][0]) if rows else None


def _job_count(data_dir: Path) -> int:
    return int(_query(data_dir, "SELECT count(*) FROM jobs")[0][0])


def test_demo_window_starts_and_quits_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONWARNINGS": "error"}
    process = subprocess.Popen(
        [sys.executable, "-m", "jobdock", "--demo", "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Up once its engine holds the worker's lease: by then the demo has submitted its jobs and
    # the window is made (app.py starts the engine after the window).
    wait_until(lambda: _lease_pid(tmp_path) == process.pid, timeout=30, what="the demo's engine")
    assert _job_count(tmp_path) > 0
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    # The offscreen plugin's own limitation (see tests/conftest.py) is the only line allowed:
    # no other Qt warning, no "Task was destroyed but it is pending", no traceback.
    lines = [line for line in err.splitlines() if "propagateSizeHints" not in line]
    assert lines == [], err
    assert (tmp_path / "window.ini").exists()  # the layout was saved on the way out


def test_error_reporter_logs_and_shows_one_dialog(qtbot: Any, caplog: Any) -> None:
    reporter = ErrorReporter()
    for n in range(3):
        try:
            raise ValueError(f"bug {n}")
        except ValueError as exc:
            reporter.report(exc, context="testing")
    assert reporter.count == 3
    assert reporter.dialog is not None and reporter.dialog.isVisible()
    assert "bug 0" in reporter.dialog.informativeText()
    assert sum("unexpected error" in r.getMessage() for r in caplog.records) == 3
    reporter.dialog.close()
    assert reporter.dialog is None


def test_no_display_is_one_clear_line_not_a_qt_abort(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"  # what a desktop user has; the plugin would abort here
    done = subprocess.run(
        [sys.executable, "-m", "jobdock", "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("jobdock: no display") and "xcb-cursor" not in lines[0]
    assert "jobdock --help" in lines[0]
    assert not (tmp_path / "jobs.sqlite3").exists()  # nothing was started


def test_display_problem_only_where_a_display_server_is_needed() -> None:
    from jobdock.qt.app import display_problem

    assert display_problem({}, "linux") is not None
    assert display_problem({"QT_QPA_PLATFORM": "wayland"}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "win32") is None
    assert display_problem({}, "darwin") is None


def test_a_second_launch_raises_the_running_window_instead_of_a_second_engine(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONWARNINGS": "error"}
    command = [sys.executable, "-m", "jobdock", "--demo", "--data-dir", str(tmp_path)]
    first = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        log = tmp_path / "logs" / "jobdock.log"
        deadline = time.monotonic() + 30
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the first window's runtime is up (it has the data dir)
        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr and "brought to the front" in second.stderr
        deadline = time.monotonic() + 20
        while "another launch asked for the window" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert first.poll() is None  # the first window goes on
    finally:
        first.send_signal(signal.SIGINT)
        _out, err = first.communicate(timeout=20)
    assert first.returncode == 0, err


def test_only_one_instance_holds_the_lock_and_a_dead_holder_is_replaced(
    qtbot: Any, tmp_path: Path
) -> None:
    from jobdock.qt.single_instance import SingleInstance, instance_key

    key = instance_key(tmp_path)
    assert key != instance_key(tmp_path / "other")
    first, second = SingleInstance(key), SingleInstance(key)
    try:
        assert first.acquire()
        assert not second.acquire()
        # The asking side is another process, as in real use (its blocking wait must not
        # hold up this event loop, which has to accept the connection).
        code = (
            "import sys; from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]);"
            "from jobdock.qt.single_instance import SingleInstance;"
            f"sys.exit(0 if SingleInstance({key!r}).ask_running() else 3)"
        )
        # A launch from a Wayland desktop carries an activation token: it goes to the window.
        token = "gnome-shell/Jobdock/4107-1-host_TIME803245"
        env = {k: v for k, v in os.environ.items() if k != "DESKTOP_STARTUP_ID"}
        with qtbot.waitSignal(first.activated, timeout=20000) as raised:
            asker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO,
                                     env={**env, "XDG_ACTIVATION_TOKEN": token})  # fmt: skip
        assert asker.wait(timeout=20) == 0
        assert raised.args == [token]
        with qtbot.waitSignal(first.activated, timeout=20000) as raised:  # a launch without
            env.pop("XDG_ACTIVATION_TOKEN", None)
            asker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
        assert asker.wait(timeout=20) == 0
        assert raised.args == [""]
        first.release()
        assert second.acquire()  # the lock is free again once its holder let go
    finally:
        first.release()
        second.release()


def test_a_profile_given_on_the_command_line_is_loaded_in_the_window(
    qtbot: Any, qasync_loop: Any, tmp_path: Path
) -> None:
    """docs/cli.md: `--profile FILE` loads a profile for this run, the window's too."""
    from PySide6.QtCore import QSettings

    from jobdock.core.store.credentials import MemoryCredentialStore
    from jobdock.qt.app import parse_args, session_options, window_session
    from tests.core.providers.profiles.test_patterns import UNIPROT

    profile = tmp_path / "mine.toml"
    profile.write_text(UNIPROT.replace('id = "idmapping-like"', 'id = "my-own-profile"'))
    options = parse_args(["--profile", str(profile), "--data-dir", str(tmp_path / "data")])
    assert options.profile == [str(profile)] and options.qt_args == []
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)

    async def scenario() -> int:
        async with window_session(
            **session_options(options), settings=settings, credentials=MemoryCredentialStore()
        ) as (runtime, window):
            assert runtime.engine.provider("my-own-profile").display_name == "ID mapping"
            dialog = window.open_accounts()
            found = int(dialog.provider.findData("my-own-profile"))  # type: ignore[attr-defined]
            dialog.close()
            return found

    assert qasync_loop.run_until_complete(scenario()) >= 0


def test_a_command_line_profile_that_cannot_be_used_is_said_before_the_window(
    tmp_path: Path, capsys: Any
) -> None:
    from jobdock.qt.app import main

    profile = tmp_path / "broken.toml"
    profile.write_text('id = "broken"\n')
    assert main(["--profile", str(profile), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jobdock: ") and "broken.toml" in err and err.count("\n") == 1
    assert not (tmp_path / "jobs.sqlite3").exists()  # nothing was started


def test_the_activation_token_is_read_from_the_launch_and_handed_to_qt_on_wayland_only() -> None:
    from jobdock.qt.single_instance import launch_token, use_activation_token

    assert launch_token({"XDG_ACTIVATION_TOKEN": "kwin-12", "DESKTOP_STARTUP_ID": "x"}) == "kwin-12"
    assert launch_token({"DESKTOP_STARTUP_ID": "gnome-shell/Jobdock/1_TIME2"}) == (
        "gnome-shell/Jobdock/1_TIME2")  # fmt: skip
    assert launch_token({}) == ""
    assert launch_token({"XDG_ACTIVATION_TOKEN": "two words"}) == ""  # not one safe word
    assert launch_token({"XDG_ACTIVATION_TOKEN": "x" * 600}) == ""
    environ: dict[str, str] = {}
    assert not use_activation_token("kwin-12", "xcb", environ) and environ == {}
    assert not use_activation_token("", "wayland", environ) and environ == {}
    assert use_activation_token("kwin-12", "wayland", environ)
    assert environ == {"XDG_ACTIVATION_TOKEN": "kwin-12"}


# The offscreen plugin cannot raise a window, and says so.
@pytest.mark.qt_log_ignore("This plugin does not support raise")
def test_the_window_activates_with_a_later_launchs_token_in_its_environment(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import QSettings

    from jobdock.qt import main_window
    from tests.qt.conftest import FakeEngine

    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = main_window.MainWindow(FakeEngine(download_dir=tmp_path), settings=settings)
    qtbot.addWidget(win)
    monkeypatch.delenv("XDG_ACTIVATION_TOKEN", raising=False)
    monkeypatch.setattr(main_window, "platform_name", lambda: "wayland")
    seen: list[str | None] = []

    def activate() -> None:  # what Qt's wayland plugin reads as it activates the window
        seen.append(os.environ.get("XDG_ACTIVATION_TOKEN"))

    win.activateWindow = activate  # type: ignore[method-assign]
    win.show_normal("kwin-1234")  # what SingleInstance.activated hands it (app.run_window)
    assert seen == ["kwin-1234"] and win.isVisible()
    assert "XDG_ACTIVATION_TOKEN" not in os.environ  # Qt took it; no child process inherits it
    win.show_normal()  # the tray icon: no token
    assert seen == ["kwin-1234", None]
