"""The local fake of every supported API, for `jobdock --demo` and the integration tests.

Real HTTP servers on 127.0.0.1 (one per API, two storage origins) implement the wire contract of
docs/simulator.md; `Simulator` starts them and is the handle for base URLs, secrets, faults, the
request record and the expected result bytes. Standard library only.
"""

from __future__ import annotations

from jobdock.simulator.config import DemoAccount, FakeClock, SimConfig, demo_config
from jobdock.simulator.faults import ResetFault, StatusFault, StorageFault
from jobdock.simulator.simulator import PROVIDERS, Simulator
from jobdock.simulator.wire import RecordedRequest

__all__ = [
    "PROVIDERS",
    "DemoAccount",
    "FakeClock",
    "RecordedRequest",
    "ResetFault",
    "SimConfig",
    "Simulator",
    "StatusFault",
    "StorageFault",
    "demo_config",
]
