"""The demo simulator's memory between runs: `jobdock --demo submit …` and a later
`jobdock --demo watch` are two processes, and the second must find the first one's simulator
where its accounts and jobs expect it. `save` writes the ports, secrets, URL-signing key, fake jobs
and stored result files to the demo data dir (`keep_saved` does it whenever a request changed
them, before the answer leaves, so a process killed at any moment loses nothing a client was
told); `restore` puts them back into a new simulator before it starts (`Simulator.start(ports=…)`
listens on the same ports when they are free). The file is the demo's own state in the user's own
data dir, written and read only by Jobdock (pickle: the fake jobs and objects are plain
dataclasses); one that cannot be read is ignored and the demo starts afresh.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import pickle
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from jobdock.simulator.cisco import CiscoApi
from jobdock.simulator.shoptet import ShoptetApi
from jobdock.simulator.simulator import Simulator
from jobdock.simulator.wire import RecordedRequest

log = logging.getLogger("jobdock.simulator")
STATE_FILE = "simulator.state"
_VERSION = 2


def _next_of(count: itertools.count[int]) -> int:
    """The number a count gives next, read without taking it (a handler may be taking one)."""
    return int(repr(count).removeprefix("count(").removesuffix(")"))


def _snapshot(sim: Simulator) -> dict[str, Any]:
    cisco = sim.apis["cisco-cce"]
    shoptet = sim.apis["shoptet"]
    assert isinstance(cisco, CiscoApi) and isinstance(shoptet, ShoptetApi)
    next_item = _next_of(cisco._ids)
    storage = sim.storage.api
    return {
        "version": _VERSION,
        "ports": sim.ports(),
        "secrets": dict(sim._secrets),
        "signer_key": storage.signer._key,
        "jobs": {name: api.jobs.all() for name, api in sim.apis.items()},
        "objects": _objects(sim),
        "cisco_items": dict(cisco._items),
        "cisco_next": next_item,
        "shoptet_oauth": shoptet.guard.oauth_token,
        "shoptet_signature_key": shoptet.webhooks.signature_key,
        "tokens": {name: _token_state(tokens) for name, tokens in _token_keepers(sim)},
        "kept": {
            (name, attr): dict(getattr(api, attr))
            for name, api in sim.apis.items()
            for attr in KEPT
            if isinstance(getattr(api, attr, None), dict)
        },
    }


# Dicts of a fake's own, beyond its jobs, that a restored simulator needs (a job's document
# ids on amazon-sp-reports); cisco's items are kept apart.
KEPT = ("_documents",)


TOKEN_BOOKS = ("tokens", "sessions")  # a fake's OAuth client and the tokens it issued


def _token_keepers(sim: Simulator) -> list[tuple[str, Any]]:
    """The token books of the fakes (OAuth clients: their ids, secrets and issued tokens)."""
    return [
        (f"{name}.{attr}", getattr(api, attr))
        for name, api in sim.apis.items()
        for attr in TOKEN_BOOKS
        if hasattr(api, attr)
    ]


def _token_state(tokens: Any) -> dict[str, Any]:
    """A token book's strings (client id and secret, refresh token) and its containers of
    tokens (issued, live), copied."""
    with tokens._lock:
        return {
            k: copy.copy(v)
            for k, v in vars(tokens).items()
            if isinstance(v, str | dict | list | set)
        }


def _objects(sim: Simulator) -> dict[str, Any]:
    store = sim.storage.api.store
    with store._lock:
        return dict(store._objects)


def _fingerprint(sim: Simulator) -> Hashable:
    """What changes when a request changes the state worth keeping: a job submitted, one's
    outcome or results settled, an object stored, a token issued or a key renewed."""
    shoptet, cisco = sim.apis["shoptet"], sim.apis["cisco-cce"]
    assert isinstance(shoptet, ShoptetApi) and isinstance(cisco, CiscoApi)
    jobs = tuple(
        (name, job.id, job.outcome, job.duration, len(job.results), tuple(sorted(job.extra)))
        for name, api in sim.apis.items()
        for job in api.jobs.all()
    )
    return (
        jobs,
        len(sim.storage.api.store._objects),
        len(cisco._items),
        tuple(len(getattr(tokens, "_issued", ())) for _, tokens in _token_keepers(sim)),
        tuple(len(getattr(api, attr, ())) for api in sim.apis.values() for attr in KEPT),
        shoptet.guard.oauth_token,
        shoptet.webhooks.signature_key,
    )


def save(sim: Simulator, folder: Path) -> None:
    """Write the simulator's state to `folder` (atomically: a crash leaves the last one)."""
    target = folder / STATE_FILE
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    for attempt in range(3):
        try:
            data = pickle.dumps(_snapshot(sim), protocol=pickle.HIGHEST_PROTOCOL)
            break
        except RuntimeError:  # a handler thread changed a job while it was read: once more
            if attempt == 2:
                raise
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    except OSError as exc:
        log.warning("the demo simulator's state was not saved: %s", exc)


def keep_saved(sim: Simulator, folder: Path) -> Callable[[], None]:
    """Save the state of `sim` to `folder` after every request that changed it, before its
    answer leaves; answers the callable that stops it."""
    lock = threading.Lock()
    last = [_fingerprint(sim)]

    def after(_request: RecordedRequest) -> None:
        with lock:
            now = _fingerprint(sim)
            if now != last[0]:
                save(sim, folder)
                last[0] = now

    listeners = sim._recorder.listeners
    listeners.append(after)

    def stop() -> None:
        with lock:
            if after in listeners:
                listeners.remove(after)

    return stop


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
        elif not isinstance(getattr(type(api), "secret", None), property):
            api.secret = secret  # (a property reads it from the fake's token book, below)
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
    for name, tokens in _token_keepers(sim):
        for attr, value in state["tokens"].get(name, {}).items():
            setattr(tokens, attr, value)  # before the simulator starts: no one reads them yet
    for (name, attr), values in state["kept"].items():
        getattr(sim.apis[name], attr).update(values)
    ports: dict[str, int] = state["ports"]
    return ports
