"""Shoptet requests: Jobdock's list-batched polling next to a naive one-detail-per-job poller.

    .venv/bin/python bench/shoptet_bench.py [--jobs 1200] [--leak 100] [--seed 5]

Each poller gets its own simulator with the same `--jobs` unfinished jobs, all created at one
simulated instant (the simulator's clock stands still while they are made) and finishing 2 to 8 s
later. The fake enforces Shoptet's limits: 10 detail calls on an unfinished job, 3 connections a
token, a 200-drop bucket leaking `--leak` drops a second (Shoptet's own rate is lower; the
bench scales it so a run takes seconds).

- Jobdock: an in-process engine imports the jobs (`sync`) and follows them until every result
  is saved (results come from the storage origin, so downloads cost no Shoptet request).
- naive: one client, every pass reads the detail of every unfinished job (one request each),
  a pass every 0.5 s, until every job has been seen finished; it honours nothing, so it runs into
  the detail counter's 403s and the bucket's 429s, which it simply retries next pass.

Prints, per poller, the requests Shoptet counted, list and detail calls, detail-counter 403s,
429s, the most connections in flight and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.core.shoptet_helpers import (
    ACCOUNT,
    PausableClock,
    create_paused,
    shoptet_engine,
    until,
)

from jobdock.simulator import SimConfig, Simulator

COLUMNS = ("requests", "list_calls", "detail_calls", "detail_403", "rate_limited", "max_concurrent")


def fresh(args: argparse.Namespace) -> tuple[Simulator, PausableClock, list[str]]:
    clock = PausableClock()
    config = SimConfig(result_size=256, shoptet_leak_per_second=args.leak, clock=clock)
    sim = Simulator(config).start()
    rng = random.Random(args.seed)
    params = [{"sim_duration": f"{rng.uniform(2.0, 8.0):.2f}"} for _ in range(args.jobs)]
    return sim, clock, create_paused(sim, clock, params)


def jobdock(args: argparse.Namespace) -> dict[str, Any]:
    sim, _clock, _ids = fresh(args)
    try:
        before = sim.shoptet_stats()
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_follow(sim, Path(tmp), args.leak))
        return _figures(sim, before, time.monotonic() - started)
    finally:
        sim.stop()


async def _follow(sim: Simulator, tmp: Path, leak: float) -> None:
    options = {"poll_min": "0.5", "poll_max": "1.0", "bucket_leak": str(leak)}
    async with shoptet_engine(sim, tmp, options=options) as engine:
        await engine.sync(ACCOUNT)
        await engine.start()
        await until(engine, engine.all_settled, limit=600)


def naive(args: argparse.Namespace) -> dict[str, Any]:
    sim, _clock, ids = fresh(args)
    try:
        before = sim.shoptet_stats()
        started = time.monotonic()
        headers = {"Shoptet-Private-API-Token": sim.secret("shoptet")}
        unfinished = set(ids)
        with httpx.Client(base_url=sim.base_url("shoptet"), headers=headers, timeout=10) as c:
            while unfinished:
                for job_id in sorted(unfinished):
                    answer = c.get(f"/api/system/jobs/{job_id}")
                    if answer.status_code == 200:
                        status = answer.json()["data"]["status"]
                        if status not in ("pending", "running"):
                            unfinished.discard(job_id)
                time.sleep(0.5)
        return _figures(sim, before, time.monotonic() - started)
    finally:
        sim.stop()


def _figures(sim: Simulator, before: dict[str, int], seconds: float) -> dict[str, Any]:
    after = sim.shoptet_stats()
    figures: dict[str, Any] = {k: after[k] - before.get(k, 0) for k in COLUMNS}
    figures["max_concurrent"] = after["max_concurrent"]
    figures["seconds"] = round(seconds, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1200)
    parser.add_argument("--leak", type=float, default=100.0, help="bucket drops a second")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rows = {"jobdock": jobdock(args), "naive": naive(args)}
    print(f"{args.jobs} Shoptet jobs, bucket 200 leaking {args.leak:g}/s")
    header = ("poller", *COLUMNS, "seconds")
    print("  ".join(f"{h:>14}" for h in header))
    for name, row in rows.items():
        cells = [name, *(str(row[c]) for c in (*COLUMNS, "seconds"))]
        print("  ".join(f"{c:>14}" for c in cells))
    ratio = rows["naive"]["requests"] / max(rows["jobdock"]["requests"], 1)
    print(f"the naive poller sent {ratio:.1f}x the requests")


if __name__ == "__main__":
    main()
