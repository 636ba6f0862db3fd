"""The real program on a real X server: `jobdock --demo` under Xvfb (the xcb platform), its window
found with xwininfo, a screenshot taken with ImageMagick's `import`, then a clean stop by SIGTERM.

Set JOBDOCK_DOCS_SCREENSHOTS=1 to also refresh docs/screenshot.png from this run (it then waits
until the demo jobs have finished, so the picture shows saved results):

    JOBDOCK_DOCS_SCREENSHOTS=1 .venv/bin/pytest tests/qt/test_window_xvfb.py
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QImage

from jobdock.core.model.job import JobState
from tests.support.tools import require_tools
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
WINDOW = re.compile(r'^\s*(0x[0-9a-f]+) "Jobdock — demo": \(.*\)\s+(\d+)x(\d+)\+', re.MULTILINE)
DOCS = os.environ.get("JOBDOCK_DOCS_SCREENSHOTS") == "1"


def find_window(display: str, process: subprocess.Popen[str], *, timeout: float) -> str:
    """The X id of the mapped main window, once xwininfo lists it at its full size."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"jobdock exited early:\n{process.communicate()[1]}")
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        for window_id, width, height in WINDOW.findall(tree):
            if int(width) >= 800 and int(height) >= 500:
                return window_id
        time.sleep(0.2)
    raise AssertionError(f"no Jobdock window within {timeout} s")


def demo_jobs_shown(data: Path, *, finished: bool) -> bool:
    """Every job in the demo's store has been polled (`finished`: has ended)."""
    store = data / "jobs.sqlite3"
    if not store.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(store.as_uri() + "?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT polls, state FROM jobs").fetchall()
    except sqlite3.OperationalError:  # its tables are not made yet
        return False
    return bool(rows) and all(polls > 0 and (JobState(state).is_terminal or not finished)
                              for polls, state in rows)  # fmt: skip


def distinct_colours(path: Path) -> tuple[QImage, int, float]:
    """The image, its number of distinct colours, and the share of its commonest colour."""
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    pixels = memoryview(bytes(image.constBits())).cast("I")
    counts: dict[int, int] = {}
    for value in pixels[::7]:  # a sample is plenty, and quick
        counts[value] = counts.get(value, 0) + 1
    return image, len(counts), max(counts.values()) / sum(counts.values())


@pytest.mark.xvfb
def test_demo_window_under_xvfb_screenshot_and_clean_stop(
    xvfb_display: str, tmp_path: Path, qapp: Any
) -> None:
    require_tools("xwininfo", "import", purpose="finding and photographing the window")
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
           "PYTHONWARNINGS": "error"}  # fmt: skip
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "jobdock", "--demo", "--data-dir", str(data)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        window = find_window(xvfb_display, process, timeout=30)
        # The demo's jobs have been polled, so the table shows them under way (and for the docs
        # picture every one has finished).
        wait_until(lambda: demo_jobs_shown(data, finished=DOCS), timeout=120 if DOCS else 30,
                   what="the demo's jobs polled" + (" to their end" if DOCS else ""))  # fmt: skip
        shot = tmp_path / "screenshot.png"
        subprocess.run(
            ["import", "-window", window, str(shot)],
            env={**os.environ, "DISPLAY": xvfb_display}, check=True, timeout=30,
        )  # fmt: skip
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    image, colours, commonest = distinct_colours(shot)
    assert (image.width(), image.height()) >= (800, 500), image.size()
    assert colours > 100, f"only {colours} colours: a blank or broken window?"
    assert commonest < 0.9, f"one colour covers {commonest:.0%} of the picture"
    assert process.returncode == 0, err
    # On xcb nothing is expected on stderr at all: no Qt warning, no traceback, no
    # "Task was destroyed but it is pending".
    assert "Traceback" not in err
    assert err.strip() == "", err
    assert (data / "window.ini").exists()  # the layout was saved on the way out
    if DOCS:
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")
