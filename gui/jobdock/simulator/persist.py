"""The demo simulator's memory between runs: `jobdock --demo submit …` and a later
`jobdock --demo watch` are two processes, and the second must find the first one's simulator
where its accounts and jobs expect it. `save` writes the ports, secrets, URL-signing key, fake jobs
and stored result files to the demo data dir when a run ends; `restore` puts them back into a
new simulator before it starts (`Simulator.start(ports=…)` listens on the same ports when they
are free). The file is the demo's own state in the user's own data dir, written and read only by
Jobdock (pickle: the fake jobs and objects are plain dataclasses); one that cannot be read is
ignored and the demo starts afresh.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from pathlib import Path
from typing import Any

from jobdock.simulator.cisco import CiscoApi
from jobdock.simulator.shoptet import ShoptetApi
from jobdock.simulator.simulator import Simulator

log = logging.getLogger("jobdock.simulator")
STATE_FILE = "simulator.state"
_VERSION = 1


def _snapshot(sim: Simulator) -> dict[str, Any]:
    cisco = sim.apis["cisco-cce"]
    shoptet = sim.apis["shoptet"]
    assert isinstance(cisco, CiscoApi) and isinstance(shoptet, ShoptetApi)
    next_item = next(cisco._ids)
    cisco._ids = itertools.count(next_item)  # reading a count consumes one: put it back
    storage = sim.storage.api
    return {
        "version": _VERSION,
        "ports": sim.ports(),
        "secrets": dict(sim._secrets),
        "signer_key": storage.signer._key,
        "jobs": {name: api.jobs.all() for name, api in sim.apis.items()},
        "objects": dict(storage.store._objects),
        "cisco_items": dict(cisco._items),
        "cisco_next": next_item,
        "shoptet_oauth": shoptet.guard.oauth_token,
        "shoptet_signature_key": shoptet.webhooks.signature_key,
    }


def save(sim: Simulator, folder: Path) -> None:
    """Write the simulator's state to `folder` (atomically: a crash leaves the last one)."""
    target = folder / STATE_FILE
    temporary = target.with_name(target.name + ".tmp")
    try:
        with temporary.open("wb") as handle:
            pickle.dump(_snapshot(sim), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, target)
    except OSError as exc:
        log.warning("the demo simulator's state was not saved: %s", exc)


def restore(sim: Simulator, folder: Path) -> dict[str, int] | None:
    """Load an earlier run's state into `sim` (not started yet); returns the ports to start
    on, or None when there is no usable state (a fresh demo)."""
    try:
        with (folder / STATE_FILE).open("rb") as handle:
            state = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # an older or damaged file: the demo starts afresh
        log.warning("the demo simulator's saved state is unusable (%s); starting afresh", exc)
        return None
    if not isinstance(state, dict) or state.get("version") != _VERSION:
        return None
    for provider, secret in state["secrets"].items():
        sim._secrets[provider] = secret
        api = sim.apis[provider]
        if isinstance(api, ShoptetApi):
            api.guard.private_token = secret
        else:
            api.secret = secret
    sim.storage.api.signer._key = state["signer_key"]
    for name, jobs in state["jobs"].items():
        book = sim.apis[name].jobs
        for job in jobs:
            book._jobs[job.id] = job
    sim.storage.api.store._objects.update(state["objects"])
    cisco = sim.apis["cisco-cce"]
    shoptet = sim.apis["shoptet"]
    assert isinstance(cisco, CiscoApi) and isinstance(shoptet, ShoptetApi)
    cisco._items.update(state["cisco_items"])
    cisco._ids = itertools.count(state["cisco_next"])
    shoptet.guard.oauth_token = state["shoptet_oauth"]
    shoptet.webhooks.signature_key = state["shoptet_signature_key"]
    ports: dict[str, int] = state["ports"]
    return ports
