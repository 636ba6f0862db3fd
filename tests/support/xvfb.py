"""A private Xvfb X server for tests that need a real window system (the xcb platform, screenshots).

`run_xvfb()` lets Xvfb pick a free display number itself (`-displayfd`, so parallel runs never race
for one), waits until it accepts connections, yields the DISPLAY string (":N") and stops the
server afterwards. It listens on a unix socket only (`-nolisten tcp`).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import spawn_daemon

TOOLS = ("Xvfb",)
SCREEN = "1280x800x24"


@contextlib.contextmanager
def run_xvfb(*, screen: str = SCREEN, timeout: float = 15.0) -> Iterator[str]:
    """Run Xvfb with one screen of `screen` (WIDTHxHEIGHTxDEPTH); yield its DISPLAY (":N").

    Raises `tests.support.processes.DaemonError` when the server does not come up.
    """
    with (
        tempfile.TemporaryDirectory(prefix="jobdock-xvfb-") as tmp,
        contextlib.ExitStack() as daemons,
    ):
        server = spawn_daemon(
            daemons,
            ["Xvfb", "-displayfd", "1", "-screen", "0", screen, "-nolisten", "tcp", "-noreset"],
            log=Path(tmp) / "xvfb.log",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        # Xvfb prints the display number once its socket accepts connections.
        yield f":{server.read_line(timeout=timeout)}"
