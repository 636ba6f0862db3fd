"""The demo (`jobdock --demo`, the window's demo mode): Jobdock against the built-in simulator.

`start` brings the simulator back where the last run left it (same ports, secrets, jobs and
result files, so the demo's accounts and jobs chain across commands); the `Demo` it answers adds
the demo accounts to an engine, with a few demo jobs when the store has none (one of them meant to
fail, through the simulator's `sim_outcome`), and at the end saves the simulator's state and stops
it. This is the one place that knows the demo's accounts and the simulator's fake outcomes; the
runtime only calls `start`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jobdock.core.model.job import Account, Job, SubmitRequest
from jobdock.core.net.requests import build_request
from jobdock.core.providers.base import Provider
from jobdock.simulator import persist
from jobdock.simulator.config import SimConfig, demo_config
from jobdock.simulator.simulator import Simulator

FAILING_DEMO_PROVIDERS = ("vainu", "cisco-cce")  # each also gets a job the simulator fails


class DemoEngine(Protocol):
    """What the demo set-up needs of the engine."""

    def jobs(self) -> Sequence[Job]: ...

    def provider(self, provider_id: str) -> Provider: ...

    async def add_account(self, account: Account, secret: str | None) -> object: ...

    async def submit(
        self, account_name: str, request: SubmitRequest, *, label: str = ""
    ) -> Job: ...


@dataclass
class Demo:
    """A running demo simulator and what keeps it between runs (`data_dir`)."""

    simulator: Simulator
    data_dir: Path

    async def set_up(self, engine: DemoEngine) -> None:
        """Demo accounts on the simulator, and a few demo jobs when the store has none."""
        demo_accounts = self.simulator.demo_accounts()
        for demo in demo_accounts:
            await engine.add_account(demo.account(), demo.secret)
        if engine.jobs():
            return
        for demo in demo_accounts:
            provider = engine.provider(demo.provider)
            request = demo.request or provider.default_request()
            await engine.submit(demo.name, request, label=f"demo {demo.provider}")
            failing = build_request(request, params=[*request.params, ("sim_outcome", "fail")])
            if demo.provider in FAILING_DEMO_PROVIDERS:
                await engine.submit(demo.name, failing, label=f"demo {demo.provider} (fails)")

    def close(self) -> None:
        """Save the simulator's state for the next run (the engine is closed: nothing changes
        any more), then stop it."""
        persist.save(self.simulator, self.data_dir)
        self.simulator.stop()


def start(data_dir: Path, config: SimConfig | None = None) -> Demo:
    """The demo simulator (`config` tunes it: tests), started where the run before left it."""
    simulator = Simulator(config or demo_config())
    simulator.start(ports=persist.restore(simulator, data_dir))
    return Demo(simulator=simulator, data_dir=data_dir)
