"""Background daemons for tests (dbus, gnome-keyring, Xvfb): started, read from, always stopped.

`spawn_daemon` registers the stop on an ExitStack, so a fixture that fails half-way still stops
what it started; stderr goes to a log file whose tail is quoted when the daemon misbehaves.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DaemonError(RuntimeError):
    """A daemon did not start; the message carries what it said on stderr."""


@dataclass(frozen=True)
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def error(self, problem: str) -> DaemonError:
        """Stop the daemon and describe `problem` with the tail of its stderr."""
        stop_process(self.process)
        text = self.log.read_text(errors="replace").strip()
        detail = f":\n{text[-2000:]}" if text else " (it wrote nothing on stderr)"
        return DaemonError(f"{self.name}: {problem}{detail}")

    def read_line(self, *, timeout: float) -> str:
        """The next line the daemon prints on its stdout (started with stdout=PIPE)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise self.error(f"printed no line within {timeout}s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise self.error("exited before printing a line")
            line += chunk
        return line.decode().strip()


def spawn_daemon(
    stack: contextlib.ExitStack, args: list[str], *, log: Path, **popen_options: Any
) -> Daemon:
    """Start `args` with stderr to `log`; `stack` stops it when it unwinds."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(args, stderr=stderr, **popen_options)
    stack.callback(stop_process, process)
    return Daemon(args[0], process, log)


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """Terminate `process` (kill it after `grace` seconds), reap it and close its pipes."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
