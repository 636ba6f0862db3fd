"""The demo set-up: its accounts on the simulator, demo jobs (one failing for vainu and cisco-cce)
only into an empty store, and the simulator's state saved for the next run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jobdock.core.model.job import Account, Job, SubmitRequest
from jobdock.core.providers import builtin_providers
from jobdock.core.providers.base import Provider
from jobdock.simulator import PROVIDERS, SimConfig, demo
from jobdock.simulator.persist import STATE_FILE


class RecordingEngine:
    def __init__(self, jobs: list[Job] | None = None) -> None:
        self._jobs = jobs or []
        self.accounts: list[tuple[Account, str | None]] = []
        self.submitted: list[tuple[str, SubmitRequest, str]] = []
        self.providers = builtin_providers()

    def jobs(self) -> list[Job]:
        return self._jobs

    def provider(self, provider_id: str) -> Provider:
        return self.providers[provider_id]

    async def add_account(self, account: Account, secret: str | None) -> Account:
        self.accounts.append((account, secret))
        return account

    async def submit(self, account_name: str, request: SubmitRequest, *, label: str = "") -> Job:
        self.submitted.append((account_name, request, label))
        return Job(id=f"j{len(self.submitted)}", account=account_name, provider="x")


def test_demo_sets_up_its_accounts_and_jobs_and_saves_the_simulator(tmp_path: Path) -> None:
    running = demo.start(tmp_path, SimConfig())
    try:
        engine = RecordingEngine()
        asyncio.run(running.set_up(engine))
        sim = running.simulator
        assert [(a.provider, a.base_url, s) for a, s in engine.accounts] == [
            (p, sim.base_url(p), sim.secret(p)) for p in PROVIDERS
        ]
        labels = [label for _, _, label in engine.submitted]
        assert labels == [
            "demo vainu", "demo vainu (fails)", "demo testo", "demo cisco-cce",
            "demo cisco-cce (fails)", "demo generic-202", "demo shoptet",
        ]  # fmt: skip
        failing = [r for _, r, label in engine.submitted if label.endswith("(fails)")]
        assert all(("sim_outcome", "fail") in r.params for r in failing)

        again = RecordingEngine(jobs=[Job(id="kept", account="demo-vainu", provider="vainu")])
        asyncio.run(running.set_up(again))
        assert len(again.accounts) == len(PROVIDERS) and again.submitted == []
    finally:
        running.close()
    assert (tmp_path / STATE_FILE).is_file()
