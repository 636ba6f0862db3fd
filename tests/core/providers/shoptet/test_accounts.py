"""Shoptet accounts against the simulator: add-on tokens renewed after `expired-token` (and never
persisted), `sync` of a three-page job list without duplicates, and the quota per account."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jobdock.core.model.job import DownloadState, JobState
from jobdock.simulator import FakeClock, SimConfig, Simulator
from tests.core.shoptet_helpers import ACCOUNT, create_jobs, shoptet_engine


def test_addon_token_is_renewed_after_expired_token(tmp_path: Path) -> None:
    clock = FakeClock()
    config = SimConfig(shoptet_access_token_ttl=600, result_size=128, clock=clock)
    with Simulator(config) as sim:
        base = sim.base_url("shoptet")
        options = {"auth": "addon", "token_url": f"{base}/token"}

        async def scenario() -> None:
            async with shoptet_engine(
                sim, tmp_path, options=options, secret=sim.shoptet_oauth_token
            ) as engine:
                job = await engine.submit(ACCOUNT, engine.provider("shoptet").default_request())
                clock.advance(700)  # the short-lived token has expired, the job has finished
                await engine.refresh(job.id)
                refreshed = engine.job(job.id)
                assert refreshed.state is JobState.SUCCEEDED, refreshed.error
                assert refreshed.results[0].url
                store_bytes = (tmp_path / "data" / "jobs.sqlite3").read_bytes()
                secrets = dict(engine.credentials._secrets)  # type: ignore[attr-defined]
            return store_bytes, secrets

        store_bytes, secrets = asyncio.run(scenario())
        requests = sim.requests("shoptet")
        assert [r.path for r in requests if r.path == "/token"] == ["/token", "/token"]
        statuses = [r.status for r in requests if r.path.startswith("/api/system/jobs")]
        assert statuses == [401, 200]  # expired-token, then the same request again
        tokens = {r.headers["shoptet-access-token"] for r in requests if r.path != "/token"}
        assert len(tokens) == 2
        for token in tokens:  # short-lived tokens live in memory only
            assert token.encode() not in store_bytes
            assert token not in secrets.values()
        assert all("shoptet-private-api-token" not in r.headers for r in requests)
        assert all("authorization" not in r.headers for r in requests if r.path != "/token")


def test_sync_imports_three_pages_without_duplicates(tmp_path: Path) -> None:
    clock = FakeClock()
    config = SimConfig(result_size=128, shoptet_bucket_size=10**6, clock=clock)
    with Simulator(config) as sim:
        expired = create_jobs(sim, [{"sim_duration": "1"}] * 100)
        clock.advance(25 * 3600)  # their results are past validUntil
        done = create_jobs(sim, [{"sim_duration": "0"}] * 50)
        waiting = create_jobs(sim, [{"sim_duration": "3600"}] * 950)
        clock.advance(1)

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, auto_download=False) as engine:
                first = await engine.sync(ACCOUNT)
                lists = sim.shoptet_stats()["list_calls"]
                again = await engine.sync(ACCOUNT)
                assert sim.shoptet_stats()["list_calls"] == 2 * lists == 6
                assert len(first) == len(again) == 1100
                jobs = {j.remote_id: j for j in engine.jobs()}
                assert len(engine.jobs()) == len(jobs) == 1100
                for remote_id in done:  # live results: ready to download
                    job = jobs[remote_id]
                    assert job.state is JobState.SUCCEEDED
                    assert [r.download_state for r in job.results] == [DownloadState.PENDING]
                for remote_id in expired:  # shown as expired on the server
                    assert jobs[remote_id].remote_state == "expired"
                    assert not jobs[remote_id].results
                assert {jobs[r].state for r in waiting} == {JobState.QUEUED}

        asyncio.run(scenario())
        stats = sim.shoptet_stats()
        # Completed ones only, once per sync: no detail call spent on an unfinished job.
        assert stats["detail_calls"] == 2 * len(done)


def test_account_status_reports_the_bucket(tmp_path: Path) -> None:
    with Simulator(SimConfig(result_size=128)) as sim:
        create_jobs(sim, [{}] * 3)

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path) as engine:
                assert engine.account_status(ACCOUNT) is None
                await engine.sync(ACCOUNT)
                live = engine.account_status(ACCOUNT)
                assert live is not None and live.bucket_size == 200
                assert live.bucket_filling is not None and 0 <= live.bucket_filling <= 5
                assert live.max_in_flight == 3 and live.not_before is None
            async with shoptet_engine(sim, tmp_path) as engine:  # as the last run left it
                stored = engine.account_status(ACCOUNT)
                assert stored is not None and stored.bucket_size == 200

        asyncio.run(scenario())
