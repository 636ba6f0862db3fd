"""Helpers for the Shoptet tests: an in-process engine on the simulator, jobs made fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import Simulator

ACCOUNT = "shop"


class PausableClock:
    """Wall time that can stand still for the simulator: jobs made while it is paused are all
    made at one instant, so however long making them takes, none has run yet."""

    def __init__(self) -> None:
        self._lag = 0.0
        self._paused_at: float | None = None

    def __call__(self) -> float:
        return self._paused_at if self._paused_at is not None else time.time() - self._lag

    def pause(self) -> None:
        self._paused_at = self()

    def resume(self) -> None:
        assert self._paused_at is not None
        self._lag = time.time() - self._paused_at
        self._paused_at = None


def create_paused(sim: Simulator, clock: PausableClock, params: list[dict[str, str]]) -> list[str]:
    """Make the jobs at one simulated instant, then let time run with an empty rate bucket."""
    config = sim.config
    size, leak = config.shoptet_bucket_size, config.shoptet_leak_per_second
    config.shoptet_bucket_size, config.shoptet_leak_per_second = 10**9, 10**6
    clock.pause()
    try:
        ids = create_jobs(sim, params)
    finally:
        clock.resume()
    time.sleep(0.05)  # the next request finds the bucket leaked empty
    headers = {"Shoptet-Private-API-Token": sim.secret("shoptet")}
    httpx.get(sim.base_url("shoptet") + "/api/webhooks", headers=headers, timeout=10)
    config.shoptet_bucket_size, config.shoptet_leak_per_second = size, leak
    return ids


@asynccontextmanager
async def shoptet_engine(
    sim: Simulator,
    tmp_path: Path,
    *,
    options: dict[str, str] | None = None,
    secret: str | None = None,
    **settings: object,
) -> AsyncIterator[Engine]:
    """An engine with one Shoptet account on the simulator (in-memory keyring)."""
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    engine = Engine(store=store, credentials=MemoryCredentialStore(), paths=paths)
    engine.configure(**settings)
    account = Account(
        name=ACCOUNT, provider="shoptet", base_url=sim.base_url("shoptet"), options=options or {}
    )
    await engine.add_account(account, secret or sim.secret("shoptet"))
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()


def create_jobs(sim: Simulator, params: Iterable[dict[str, str]]) -> list[str]:
    """Submit straight to the fake API (not through Jobdock): the jobs' Shoptet ids."""
    headers = {"Shoptet-Private-API-Token": sim.secret("shoptet")}
    ids = []
    with httpx.Client(base_url=sim.base_url("shoptet"), headers=headers, timeout=10) as client:
        for query in params:
            answer = client.get("/api/products/snapshot", params=query)
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["data"]["jobId"])
    return ids


async def until(engine: Engine, predicate: Callable[[], bool], limit: float = 30.0) -> None:
    """Wait until `predicate()` holds, checked after every update batch."""
    changed = asyncio.Event()
    unsubscribe = engine.subscribe(lambda _batch: changed.set())
    try:
        async with asyncio.timeout(limit):
            while not predicate():
                changed.clear()
                try:
                    async with asyncio.timeout(0.5):
                        await changed.wait()
                except TimeoutError:
                    pass
    finally:
        unsubscribe()
