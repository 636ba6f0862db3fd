"""A demo state on ports no other process is handed by the kernel meanwhile.

A test that stops the process serving a demo's simulator and expects the next one to serve it on
the same ports races every other process that binds port 0 (the other test workers): the kernel
may hand one of them a port just freed. Ports below the ephemeral range are never handed out.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from jobdock.simulator import SimConfig, Simulator, persist


def saved_below_the_ephemeral_range(folder: Path) -> None:
    """Leave a saved demo state in `folder` whose ports lie below the ephemeral range (where
    `bind(("", 0))` of another process, another test worker say, never lands), so a port the
    first demo frees is still free when the second takes the simulator over."""
    for _ in range(200):
        sim = Simulator(SimConfig())
        base = random.randrange(20_000, 32_000 - 100)
        wanted = {name: base + n for n, name in enumerate(sim.servers())}
        sim.start(ports=wanted)  # a port in use is replaced by a free one...
        if sim.ports() == wanted:
            break
        sim.stop()  # ...then try another stretch
    else:
        pytest.fail("no free stretch of ports below the ephemeral range")
    try:
        persist.save(sim, folder)
    finally:
        sim.stop()
