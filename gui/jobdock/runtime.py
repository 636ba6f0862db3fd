"""Everything a running Jobdock needs, opened and closed together: paths, store, credentials,
engine, logging, and in demo mode the built-in simulator with its accounts and jobs.

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
from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import Account
from jobdock.core.model.paths import AppPaths
from jobdock.core.net.requests import build_request
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
    ) -> AsyncIterator[Runtime]:
        """Open everything; `sim_config` (a `SimConfig`) tunes the demo simulator (tests);
        `profiles` (from `profile_load.load_profiles`) join the built-in providers."""
        paths = demo_paths(data_dir) if demo else AppPaths.resolve(data_dir)
        paths.ensure()
        simulator = None
        if demo:
            from jobdock.simulator import Simulator, demo_config, persist

            simulator = Simulator(sim_config or demo_config())
            # Back where the last run left it: same ports, secrets, jobs and result files, so
            # the demo's accounts and jobs chain across commands (`persist`).
            simulator.start(ports=persist.restore(simulator, paths.data_dir))
            credentials = credentials or MemoryCredentialStore()
        store = JobStore.open(paths.store_file)
        engine = Engine(
            store=store,
            credentials=credentials or KeyringCredentialStore(),
            paths=paths,
            providers=with_profiles(profiles) if profiles is not None else None,
            transport=transport,
        )
        handler = setup_logging(paths.log_file, redact=engine.redactor)
        runtime = cls(paths=paths, store=store, engine=engine, simulator=simulator)
        try:
            if simulator is not None:
                await runtime.setup_demo()
            yield runtime
        finally:
            await engine.aclose()
            store.close()
            teardown_logging(handler)
            if simulator is not None:
                from jobdock.simulator import persist

                persist.save(simulator, paths.data_dir)  # the engine is closed: nothing changes
                simulator.stop()

    async def setup_demo(self) -> None:
        """Demo accounts on the simulator, and a few demo jobs when the store has none."""
        assert self.simulator is not None
        demo_accounts = self.simulator.demo_accounts()
        for demo in demo_accounts:
            account = Account(
                name=demo.name, provider=demo.provider, base_url=demo.base_url, user=demo.user
            )
            await self.engine.add_account(account, demo.secret)
        if self.engine.jobs():
            return
        for demo in demo_accounts:
            provider = self.engine.provider(demo.provider)
            request = demo.request or provider.default_request()
            await self.engine.submit(demo.name, request, label=f"demo {demo.provider}")
            failing = build_request(request, params=[*request.params, ("sim_outcome", "fail")])
            if demo.provider in ("vainu", "cisco-cce"):
                await self.engine.submit(demo.name, failing, label=f"demo {demo.provider} (fails)")


def demo_dir(data_dir: str | Path | None) -> Path:
    """Where the demo keeps its store, settings, simulator state and files: `--data-dir` when
    given, else a `demo` folder inside the real data dir (apart from real data)."""
    if data_dir is not None:
        return AppPaths.resolve(data_dir).data_dir
    return AppPaths.resolve(None).data_dir / "demo"


def demo_paths(data_dir: str | Path | None) -> AppPaths:
    """The demo's paths. It keeps its jobs and accounts between runs (its simulator comes back
    where they expect it); `jobdock --demo reset` starts it over."""
    return AppPaths.resolve(demo_dir(data_dir))


def reset_demo(folder: Path, *, chosen: bool) -> None:
    """Delete the demo's data dir, only that: a folder `chosen` with `--data-dir` must be one
    the demo made (it holds the simulator's state), never a real data dir."""
    from jobdock.simulator.persist import STATE_FILE

    if not folder.exists():
        return
    if chosen and not (folder / STATE_FILE).is_file():
        raise UsageError(f"{folder} is not a demo data dir (no {STATE_FILE}); nothing deleted")
    shutil.rmtree(folder)
