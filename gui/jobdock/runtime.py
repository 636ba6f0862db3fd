"""Everything a running Jobdock needs, opened and closed together: paths, store, credentials,
engine, logging, and in demo mode the built-in simulator (`simulator.demo` sets up its accounts
and jobs; nothing here knows them).

Shared by the CLI and the window so both start and stop the same way.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from jobdock.core.engine.engine import Engine
from jobdock.core.logs import setup_logging, teardown_logging
from jobdock.core.model.errors import StoreError, UsageError
from jobdock.core.model.paths import AppPaths
from jobdock.core.providers import with_profiles
from jobdock.core.providers.profiles.schema import Profile
from jobdock.core.store.credentials import (
    CredentialStore,
    KeyringCredentialStore,
    MemoryCredentialStore,
)
from jobdock.core.store.jobs import JobStore

log = logging.getLogger("jobdock.runtime")


@dataclass
class Runtime:
    paths: AppPaths
    store: JobStore
    engine: Engine
    simulator: Any = None  # jobdock.simulator.Simulator in demo mode

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        *,
        data_dir: str | Path | None = None,
        demo: bool = False,
        credentials: CredentialStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sim_config: Any = None,
        profiles: Sequence[Profile] | None = None,
        defer_unsettled: bool = False,
    ) -> AsyncIterator[Runtime]:
        """Open everything; `sim_config` (a `SimConfig`) tunes the demo simulator (tests);
        `profiles` (from `profile_load.load_profiles`) join the built-in providers;
        `defer_unsettled`: the engine reads its unsettled jobs after its start (the window)."""
        paths = demo_paths(data_dir) if demo else AppPaths.resolve(data_dir)
        paths.ensure()
        the_demo = None
        if demo:
            from jobdock.simulator import demo as demo_mode

            the_demo = demo_mode.start(paths.data_dir, sim_config)
            credentials = credentials or MemoryCredentialStore()
        store = JobStore.open(paths.store_file)
        engine = Engine(
            store=store,
            credentials=credentials or KeyringCredentialStore(),
            paths=paths,
            providers=with_profiles(profiles) if profiles is not None else None,
            transport=transport,
            defer_unsettled=defer_unsettled,
        )
        handler = setup_logging(paths.log_file, redact=engine.redactor)
        simulator = the_demo.simulator if the_demo is not None else None
        runtime = cls(paths=paths, store=store, engine=engine, simulator=simulator)
        try:
            if the_demo is not None:
                await the_demo.set_up(engine)
            yield runtime
        finally:
            await engine.aclose()
            store.close()
            teardown_logging(handler)
            if the_demo is not None:
                the_demo.close()  # after the engine: nothing changes the simulator's state now


def demo_dir(data_dir: str | Path | None) -> Path:
    """Where the demo keeps its store, settings, simulator state and files: `--data-dir` when
    given, else a `demo` folder inside the real data dir (apart from real data)."""
    if data_dir is not None:
        return AppPaths.resolve(data_dir).data_dir
    return AppPaths.resolve(None).data_dir / "demo"


def demo_paths(data_dir: str | Path | None) -> AppPaths:
    """The demo's paths. It keeps its jobs and accounts between runs (its simulator comes back
    where they expect it; one process serves it to all the others on the dir);
    `jobdock --demo reset` starts it over."""
    return AppPaths.resolve(demo_dir(data_dir))


def reset_demo(folder: Path, *, chosen: bool) -> None:
    """Delete the demo's data dir, only that: a folder `chosen` with `--data-dir` must be one
    the demo made (it holds the simulator's state), never a real data dir."""
    from jobdock.simulator.demo import serving
    from jobdock.simulator.persist import STATE_FILE

    if not folder.exists():
        return
    if chosen and not (folder / STATE_FILE).is_file():
        raise UsageError(f"{folder} is not a demo data dir (no {STATE_FILE}); nothing deleted")
    if serving(folder):
        raise UsageError(
            f"a `jobdock --demo` is running on {folder}; end it first (nothing deleted)"
        )
    try:
        shutil.rmtree(folder)
    except OSError as exc:  # a file it may not delete: say so in one line, keep what is left
        what = exc.strerror or str(exc)
        where = exc.filename or folder
        raise StoreError(
            f"could not delete {where} ({what}); the demo dir {folder} is only partly deleted"
        ) from None
