"""The engine against a scripted fake API (MockTransport): polling, backoff, errors, downloads."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import Account, DownloadState, JobState, Verified
from jobdock.core.model.paths import AppPaths
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from tests.core.fakeapi import API, SECRET, STORAGE, FakeApi, FakeProvider

T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


@asynccontextmanager
async def engine_for(api: FakeApi, tmp_path: Path, **settings: object) -> AsyncIterator[Engine]:
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    engine = Engine(
        store=store,
        credentials=MemoryCredentialStore(),
        paths=paths,
        providers={"fake": FakeProvider()},
        transport=api.transport(),
    )
    engine.configure(**settings)
    await engine.add_account(Account(name="acc", provider="fake", base_url=API), SECRET)
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()


async def until(engine: Engine, predicate: Callable[[], bool]) -> None:
    changed = asyncio.Event()
    unsubscribe = engine.subscribe(lambda _batch: changed.set())
    try:
        while not predicate():
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


async def submit_and_settle(engine: Engine) -> str:
    job = await engine.submit("acc", FakeProvider().default_request())
    await engine.start()
    await until(engine, lambda: engine.all_settled([job.id]))
    return job.id


def test_job_followed_to_disk(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            batches: list[UpdateBatch] = []
            engine.subscribe(batches.append)
            job_id = await submit_and_settle(engine)
            job = engine.job(job_id)
            assert job.state == JobState.SUCCEEDED
            result = job.results[0]
            assert result.download_state == DownloadState.DONE
            saved = Path(result.path or "")
            assert saved == tmp_path / "dl" / "acc" / job_id / "r1.csv"
            assert saved.read_bytes() == api.body
            assert result.sha256 == hashlib.sha256(api.body).hexdigest()
            assert not list(saved.parent.glob("*.part"))
            kinds = [e.kind for e in engine.events(job_id)]
            assert kinds[0] == "submitted" and "saved" in kinds
            assert batches and all(isinstance(b, UpdateBatch) for b in batches)

    run(scenario())
    storage = api.storage_requests()
    assert storage and all("x-key" not in r.headers for r in storage)
    assert all(
        r.headers.get("X-Key") == SECRET for _, r in api.requests if r.url.host == "api.fake"
    )


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    api = FakeApi(poll_faults=[httpx.Response(429, headers={"Retry-After": "0.4"})])

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            assert engine.job(job_id).state == JobState.SUCCEEDED
            assert [e.kind for e in engine.events(job_id)].count("poll-error") == 1

    run(scenario())
    times = api.poll_times()
    assert times[1] - times[0] >= 0.39


def test_server_errors_and_html_pages_are_retried_not_failures(tmp_path: Path) -> None:
    html = httpx.Response(502, content=b"<html><title>Bad Gateway</title></html>")
    api = FakeApi(poll_faults=[httpx.Response(503), html, httpx.Response(200, content=b'{"id": ')])

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            job = engine.job(job_id)
            assert job.state == JobState.SUCCEEDED and job.error is None
            messages = [e.message for e in engine.events(job_id) if e.kind == "poll-error"]
            assert len(messages) == 3
            assert "Bad Gateway" in messages[1] and "expected JSON" in messages[2]

    run(scenario())


def test_not_found_fails_the_job_with_a_message(tmp_path: Path) -> None:
    api = FakeApi(poll_faults=[httpx.Response(404, json={"message": "no such job"})])

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            job = engine.job(job_id)
            assert job.state == JobState.FAILED
            assert "no such job" in (job.error or "")

    run(scenario())


def test_remote_failure(tmp_path: Path) -> None:
    api = FakeApi(outcome="failure")

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            assert engine.job(job_id).state == JobState.FAILED
            assert engine.job(job_id).error == "it broke"

    run(scenario())


def test_reset_mid_download_resumes_with_range(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["reset"])

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert Path(result.path or "").read_bytes() == api.body

    run(scenario())
    storage = api.storage_requests()
    assert len(storage) == 2
    assert storage[1].headers["range"] == f"bytes={len(api.body) // 3}-"
    assert storage[1].headers["if-range"].startswith('"')


def test_server_without_range_restarts_from_zero(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["reset"], no_range=True)

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            assert Path(engine.job(job_id).results[0].path or "").read_bytes() == api.body

    run(scenario())


def test_truncated_body_is_never_saved_as_complete(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["short"])

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.DONE
            assert Path(result.path or "").read_bytes() == api.body
            assert any(e.kind == "download-retry" for e in engine.events(job_id))

    run(scenario())


def test_expired_link_is_refreshed_by_polling(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["403"])

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.DONE
            assert not result.url.endswith("v=1")  # a fresh link was fetched
            assert any(e.kind == "link-refresh" for e in engine.events(job_id))

    run(scenario())


def test_link_that_cannot_be_refreshed_is_expired_not_lost(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["403"], reissue_links=False)

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.EXPIRED
            assert "re-submit" in (result.error or "")

    run(scenario())


def test_persistent_storage_errors_fail_the_result(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["500"] * 10)

    async def scenario() -> None:
        async with engine_for(api, tmp_path, download_retries=3, retry_min=3600.0) as engine:
            job = await engine.submit("acc", FakeProvider().default_request())
            await engine.start()
            # A 5xx is a passing failure: failed, with a later round scheduled (not settled).
            await until(
                engine,
                lambda: (
                    engine.job(job.id).results[0].download_state == DownloadState.FAILED
                    if engine.job(job.id).results
                    else False
                ),
            )
            job_id = job.id
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.FAILED
            assert "HTTP 500" in (result.error or "")
            assert result.retry_at is not None and not engine.all_settled([job_id])
            # a manual download later succeeds once the storage recovers
            api.storage_faults.clear()
            job = await engine.transfers.download(job_id)
            assert job.results[0].download_state == DownloadState.DONE

    run(scenario())


def test_polling_resumes_after_restart(tmp_path: Path) -> None:
    api = FakeApi(polls_until_done=3)

    async def first() -> str:
        async with engine_for(api, tmp_path) as engine:
            job = await engine.submit("acc", FakeProvider().default_request())
            return job.id

    async def second(job_id: str) -> None:
        async with engine_for(api, tmp_path) as engine:
            assert engine.job(job_id).state == JobState.QUEUED
            await engine.start()
            await until(engine, lambda: engine.all_settled([job_id]))
            assert engine.job(job_id).results[0].download_state == DownloadState.DONE

    job_id = run(first())
    run(second(job_id))


def test_auto_download_off_leaves_results_pending(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with engine_for(api, tmp_path, auto_download=False) as engine:
            job_id = await submit_and_settle(engine)
            assert engine.job(job_id).results[0].download_state == DownloadState.PENDING
            await asyncio.sleep(0.1)  # room for a download that must not start
            assert not api.storage_requests()
            job = await engine.transfers.download(job_id, to=tmp_path / "here")
            assert Path(job.results[0].path or "").parent == tmp_path / "here"

    run(scenario())


def test_track_existing_job_and_no_duplicates(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            submitted = await engine.submit("acc", FakeProvider().default_request())
            tracked = await engine.track("acc", submitted.remote_id or "")
            assert tracked.id == submitted.id
            assert len(engine.jobs()) == 1

    run(scenario())


def test_remove_account_orphans_and_secret_is_gone(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job = await engine.submit("acc", FakeProvider().default_request())
            await engine.remove_account("acc")
            assert engine.job(job.id).orphaned
            assert engine.credentials.get("acc") is None

    run(scenario())


def test_an_account_its_provider_refuses_is_not_added_from_any_face(tmp_path: Path) -> None:
    """The provider's own check (a profile's URL options) runs in the engine's `add_account`, so
    the window's accounts dialog refuses what `jobdock accounts add` refuses, storing nothing."""

    class Picky(FakeProvider):
        def check_account(self, account: Account) -> None:
            if "token_url" in account.options:
                raise UsageError("--option token_url: this provider has no token endpoint")

    api = FakeApi()

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            engine.account_book.providers["fake"] = Picky()
            bad = Account(
                name="bad", provider="fake", base_url=API, options={"token_url": "https://t.test"}
            )
            with pytest.raises(UsageError, match="no token endpoint"):
                await engine.add_account(bad, "s3cret")
            assert "bad" not in {a.name for a in engine.accounts()}
            assert engine.credentials.get("bad") is None

    run(scenario())


def test_a_link_that_echoes_the_secret_is_taken_in_without_it(tmp_path: Path) -> None:
    """Any provider's link whose query carries a credential the engine knows loses it as the
    answer comes in: the link's identity, the stored URL and the request to the storage are
    all without it, and the re-issued link is known as the same file (saved once)."""
    api = FakeApi(echo_secret=True)

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            await engine.refresh(job_id)  # the link re-issued: the same result, already saved
            (result,) = engine.job(job_id).results
            assert result.download_state == DownloadState.DONE
            assert Path(result.path or "").read_bytes() == api.body
            assert SECRET not in result.url and SECRET not in (result.key or "")
            assert result.key == f"{STORAGE}/files/r1.csv?v=1"

    run(scenario())
    stored = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert stored and all(SECRET.encode() not in p.read_bytes() for p in stored)
    storage = [r for _, r in api.requests if r.url.host == "storage.fake"]
    assert len(storage) == 1 and SECRET not in str(storage[0].url)


def _content_md5(body: bytes) -> dict[str, str]:
    """A digest the server states for the whole body (an ETag is not one: `integrity`)."""
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def test_checksum_mismatch_downloads_again_once(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["corrupt"])
    api.storage_headers.update(_content_md5(api.body))

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.DONE
            assert Path(result.path or "").read_bytes() == api.body
            assert result.verified == Verified.MD5
            retries = [e.message for e in engine.events(job_id) if e.kind == "download-retry"]
            assert len(retries) == 1 and "checksum mismatch" in retries[0]

    run(scenario())
    assert len(api.storage_requests()) == 2


def test_second_checksum_mismatch_fails_with_the_reason(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["corrupt", "corrupt"])
    api.storage_headers.update(_content_md5(api.body))

    async def scenario() -> None:
        async with engine_for(api, tmp_path) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.FAILED
            assert "checksum mismatch" in (result.error or "")
            assert "Content-MD5" in (result.error or "")
            folder = tmp_path / "dl" / "acc" / job_id
            assert not [p for p in folder.iterdir()] if folder.exists() else True

    run(scenario())


def test_identical_file_is_reused_not_duplicated(tmp_path: Path) -> None:
    api = FakeApi()

    async def scenario() -> None:
        async with engine_for(api, tmp_path, auto_download=False) as engine:
            job_id = await submit_and_settle(engine)
            target = tmp_path / "out"
            first = await engine.transfers.download(job_id, to=target)
            path = Path(first.results[0].path or "")
            # the user asks again into the same folder: same bytes, so no "r1 (2).csv"
            engine.table.commit([first.replace(results=(first.results[0].replace_state(),))])
            again = await engine.transfers.download(job_id, to=target)
            assert again.results[0].path == str(path)
            assert sorted(p.name for p in target.iterdir()) == ["r1.csv"]
            # different bytes under the same name are kept apart
            path.write_bytes(b"something else")
            engine.table.commit([again.replace(results=(again.results[0].replace_state(),))])
            third = await engine.transfers.download(job_id, to=target)
            assert Path(third.results[0].path or "").name == "r1 (2).csv"
            assert path.read_bytes() == b"something else"

    run(scenario())


def test_auto_resubmit_when_link_cannot_be_refreshed(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["403"], reissue_links=False)

    async def scenario() -> None:
        async with engine_for(api, tmp_path, auto_resubmit=True) as engine:
            job_id = await submit_and_settle(engine)
            assert engine.job(job_id).results[0].download_state == DownloadState.EXPIRED
            notes = [e.message for e in engine.events(job_id) if e.kind == "resubmitted"]
            assert len(notes) == 1
            new_id = notes[0].split("job ", 1)[1].split(" ", 1)[0]
            await until(engine, lambda: engine.all_settled([new_id]))
            assert engine.job(new_id).request == engine.job(job_id).request
            # this fake never issues a live link again: the re-submission does not re-submit
            assert [e.kind for e in engine.events(new_id)].count("resubmitted") == 0
            assert len(engine.jobs()) == 2

    run(scenario())


def test_batch_provider_polls_all_jobs_of_an_account_together(tmp_path: Path) -> None:
    from tests.core.fakeapi import FakeBatchProvider

    api = FakeApi(polls_until_done=3)

    async def scenario() -> None:
        paths = AppPaths(data_dir=tmp_path / "d", default_download_dir=tmp_path / "dl").ensure()
        store = JobStore.open(paths.store_file)
        engine = Engine(
            store=store, credentials=MemoryCredentialStore(), paths=paths,
            providers={"fakebatch": FakeBatchProvider()}, transport=api.transport(),
        )  # fmt: skip
        try:
            await engine.add_account(Account(name="b", provider="fakebatch", base_url=API), SECRET)
            request = FakeProvider().default_request()
            ids = [(await engine.submit("b", request)).id for _ in range(5)]
            FakeBatchProvider.list_calls = 0
            await engine.start()
            await until(engine, lambda: engine.all_settled(ids))
            assert all(engine.job(i).state == JobState.SUCCEEDED for i in ids)
            # 3 polls per job, 5 jobs: batched into about 3 rounds, not 15 separate polls
            assert 3 <= FakeBatchProvider.list_calls <= 6
        finally:
            await engine.aclose()
            store.close()

    run(scenario())


def test_a_passing_download_failure_is_retried_later_without_being_asked(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["500"] * 4)

    async def scenario() -> None:
        settings = {"download_retries": 2, "retry_min": 0.1, "retry_max": 0.2}
        async with engine_for(api, tmp_path, **settings) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.DONE, result.error
            assert result.retry_at is None and result.retries == 0
            assert Path(result.path or "").read_bytes() == api.body
            failed = [e.message for e in engine.events(job_id) if e.kind == "download-failed"]
            assert len(failed) == 2 and all("trying again in" in m for m in failed)

    run(scenario())
    assert len(api.storage_requests()) == 5


def test_a_permanent_download_failure_is_not_retried(tmp_path: Path) -> None:
    api = FakeApi(storage_faults=["corrupt", "corrupt"])
    api.storage_headers.update(_content_md5(api.body))

    async def scenario() -> None:
        async with engine_for(api, tmp_path, retry_min=0.05, retry_max=0.05) as engine:
            job_id = await submit_and_settle(engine)
            result = engine.job(job_id).results[0]
            assert result.download_state == DownloadState.FAILED and result.retry_at is None
            engine.table.wake()
            await asyncio.sleep(0.3)  # several retry intervals: nothing is scheduled
            assert engine.job(job_id).results[0].download_state == DownloadState.FAILED

    run(scenario())
    assert len(api.storage_requests()) == 2
