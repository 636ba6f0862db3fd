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

from jobdock.core.credentials import CredentialStore, KeyringCredentialStore, MemoryCredentialStore
from jobdock.core.engine import Engine
from jobdock.core.job import Account
from jobdock.core.logs import setup_logging, teardown_logging
from jobdock.core.paths import AppPaths
from jobdock.core.providers import with_profiles
from jobdock.core.providers.profile_schema import Profile
from jobdock.core.requests import build_request
from jobdock.core.store import JobStore

log = logging.getLogger("jobdock.runtime")


@dataclass
class Runtime:
    paths: AppPaths
    store: JobStore
    engine: Engine
    simulator: Any = None  # jobdock.core.simulator.Simulator in demo mode

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
            from jobdock.core.simulator import Simulator, demo_config

            simulator = Simulator(sim_config or demo_config()).start()
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


def demo_paths(data_dir: str | Path | None) -> AppPaths:
    """Demo data lives apart from real data and starts fresh each time (the simulator does)."""
    if data_dir is not None:
        return AppPaths.resolve(data_dir)
    real = AppPaths.resolve(None)
    demo_dir = real.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    return AppPaths.resolve(demo_dir)
