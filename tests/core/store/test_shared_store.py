"""Two engines on one data dir, each with its own SQLite connection, as the window and a script's
`jobdock submit` / `jobdock watch` are: each takes in what the other wrote."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path

from jobdock.core.engine.engine import Engine
from jobdock.core.model.job import Account, DownloadState, JobState
from jobdock.core.model.paths import AppPaths
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from tests.core.engine.test_engine import run, until
from tests.core.fakeapi import API, SECRET, FakeApi, FakeProvider


@asynccontextmanager
async def two_engines(api: FakeApi, tmp_path: Path) -> AsyncIterator[tuple[Engine, Engine]]:
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    secrets = MemoryCredentialStore({"acc": SECRET})  # one keyring, as on a desktop
    async with AsyncExitStack() as stack:
        engines = []
        for _ in range(2):
            store = JobStore.open(paths.store_file)
            stack.callback(store.close)
            engine = Engine(
                store=store,
                credentials=secrets,
                paths=paths,
                providers={"fake": FakeProvider()},
                transport=api.transport(),
            )
            stack.push_async_callback(engine.aclose)
            engines.append(engine)
        await engines[0].add_account(Account(name="acc", provider="fake", base_url=API), None)
        yield engines[0], engines[1]


def test_a_job_submitted_elsewhere_is_followed_to_disk_here(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with two_engines(api, tmp_path) as (window, script):
            batches: list[UpdateBatch] = []
            window.subscribe(batches.append)
            await window.start()
            job = await script.submit("acc", FakeProvider().default_request())
            # The window's own look at the store (once a second) brings it in and follows it.
            await until(window, lambda: window.table.current(job.id) is not None)
            assert any(j.id == job.id for b in batches for j in b.changed)
            await until(window, lambda: window.all_settled([job.id]))
            saved = window.job(job.id)
            assert saved.state == JobState.SUCCEEDED
            assert saved.results[0].download_state == DownloadState.DONE
            assert Path(saved.results[0].path or "").exists()

    run(scenario())


def test_newer_versions_and_removals_are_taken_in_older_ones_are_not(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with two_engines(api, tmp_path) as (window, script):
            first = await script.submit("acc", FakeProvider().default_request())
            second = await script.submit("acc", FakeProvider().default_request())
            assert await window.neighbours.adopt() == 2
            assert await window.neighbours.adopt() == 0, "nothing new since"

            newer = first.replace(label="renamed", updated_at=first.updated_at + timedelta(1))
            script.table.commit([newer])
            assert await window.neighbours.adopt() == 1
            assert window.job(first.id).label == "renamed"

            older = first.replace(label="stale", updated_at=first.updated_at - timedelta(1))
            script.store.put_job(older)
            assert await window.neighbours.adopt() == 0
            assert window.job(first.id).label == "renamed"

            removed: list[str] = []
            window.subscribe(lambda batch: removed.extend(batch.removed))
            await script.remove(second.id)
            assert await window.neighbours.adopt() == 1
            assert window.table.current(second.id) is None
            await asyncio.sleep(0)  # the batch goes out on the next loop turn
            assert removed == [second.id]

            window.table.commit([window.job(first.id).replace(label="mine")])
            assert await script.neighbours.adopt() >= 1
            assert script.job(first.id).label == "mine"
            assert await window.neighbours.adopt() == 0, "its own writes are not news"

    run(scenario())
