"""A private D-Bus session bus for tests: one unix socket under a test's folder, no service
activation, so nothing but what the test starts can answer on it (the Secret Service of
tests/support/secret_service.py, the notification service of
tests/qt/test_desktop_notifications.py).
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from tests.support.processes import spawn_daemon

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def start_session_bus(stack: contextlib.ExitStack, root: Path, *, timeout: float = 15.0) -> str:
    """Start `dbus-daemon` (stopped when `stack` unwinds); its address."""
    (root / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    config = root / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=root / "run" / "bus"))
    bus = spawn_daemon(
        stack,
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        log=root / "dbus.log",
        stdout=subprocess.PIPE,
    )
    return bus.read_line(timeout=timeout)
