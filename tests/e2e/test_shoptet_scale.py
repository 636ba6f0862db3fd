"""Acceptance: 1,200 unfinished Shoptet jobs followed to disk through list-batched polling.

Every job reaches `succeeded` with its result saved, and the simulator's counters show what the
quota and the detail budget promise: no detail-counter 403, never more than 3 connections for
the token, no 429, and no request beyond the list pages of each cycle plus one detail per job
(results download from the storage origin, without the token).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from pathlib import Path

from jobdock.core.model.job import DownloadState, JobState
from jobdock.simulator import SimConfig, Simulator
from tests.core.shoptet_helpers import (
    ACCOUNT,
    PausableClock,
    create_paused,
    shoptet_engine,
    until,
)

JOBS = 1200
LEAK = 100.0  # drops a second, simulator and account alike


def test_1200_jobs_through_the_list(tmp_path: Path) -> None:
    clock = PausableClock()
    config = SimConfig(result_size=256, shoptet_leak_per_second=LEAK, clock=clock)
    rng = random.Random(5)
    with Simulator(config) as sim:
        durations = [{"sim_duration": f"{rng.uniform(2.0, 8.0):.2f}"} for _ in range(JOBS)]
        remote_ids = create_paused(sim, clock, durations)
        # Still none runs until the engine has synced them all (a sync on a slow machine can
        # take longer than the shortest job, which would then be over before it is seen).
        clock.pause()
        before = sim.shoptet_stats()
        cycles, pages_per_cycle = asyncio.run(_follow(sim, clock, tmp_path, remote_ids))
        stats = {k: v - before.get(k, 0) for k, v in sim.shoptet_stats().items()}
        stats["max_concurrent"] = sim.shoptet_stats()["max_concurrent"]

    print(f"\n{JOBS} jobs: {stats}, {cycles} batch cycles")
    assert stats["detail_403"] == 0
    assert stats["max_concurrent"] <= 3
    assert stats["too_many_connections"] == 0
    assert stats["rate_limited"] == 0
    assert stats["detail_calls"] <= JOBS
    assert stats["list_calls"] <= pages_per_cycle * (cycles + 1)  # + the sync
    assert stats["requests"] <= stats["list_calls"] + JOBS


async def _follow(
    sim: Simulator, clock: PausableClock, tmp_path: Path, remote_ids: list[str]
) -> tuple[int, int]:
    options = {"poll_min": "0.5", "poll_max": "1.0", "bucket_leak": str(LEAK)}
    async with shoptet_engine(sim, tmp_path, options=options) as engine:
        provider = engine.provider("shoptet")
        cycles = 0
        original = provider.poll_many  # type: ignore[attr-defined]

        async def counted(session, jobs):  # type: ignore[no-untyped-def]
            nonlocal cycles
            cycles += 1
            return await original(session, jobs)

        provider.poll_many = counted  # type: ignore[attr-defined]
        started = time.monotonic()
        synced = await engine.sync(ACCOUNT)
        assert sorted(j.remote_id or "" for j in synced) == sorted(remote_ids)
        assert all(not j.state.is_terminal for j in synced)  # 1,200 unfinished jobs
        clock.resume()  # the jobs run from now on
        await engine.start()
        await until(engine, engine.all_settled, limit=90)
        print(f"settled in {time.monotonic() - started:.1f} s")
        jobs = engine.jobs()
        assert len(jobs) == JOBS
        assert {j.state for j in jobs} == {JobState.SUCCEEDED}
        for job in jobs:
            (result,) = job.results
            assert result.download_state is DownloadState.DONE
            assert (
                Path(result.path or "").read_bytes()
                == sim.expected_results("shoptet", job.remote_id or "")[0]
            )
        status = engine.account_status(ACCOUNT)
        assert status is not None and status.bucket_size == 200
        return cycles, math.ceil(JOBS / 500)
