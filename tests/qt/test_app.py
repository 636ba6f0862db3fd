"""Startup and shutdown of the real program, and the one-dialog error handler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jobdock.qt.loop import ErrorReporter

REPO = Path(__file__).resolve().parents[2]


def test_demo_window_starts_and_quits_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONWARNINGS": "error"}
    process = subprocess.Popen(
        [sys.executable, "-m", "jobdock", "--demo", "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    store = tmp_path / "jobs.sqlite3"
    deadline = time.monotonic() + 20
    while not store.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # the demo submits its jobs and the window shows
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
