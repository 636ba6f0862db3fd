"""The demo set-up: its accounts on the simulator (the built-in providers' and one per bundled
profile whose fake is registered, from what the fake declares), demo jobs (one failing for vainu
and cisco-cce; the others meet no random failure) only into a fresh demo's empty store, the
simulator's state saved as it changes, and one simulator for the demo dir: a second demo on it
uses the first one's and serves it once the first has gone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from jobdock.core.model.job import Account, Job, SubmitRequest
from jobdock.core.providers import builtin_ids, builtin_providers
from jobdock.core.providers.base import Provider
from jobdock.core.providers.profiles.load import bundled_profiles
from jobdock.simulator import PROVIDERS, SimConfig, Simulator, demo, persist
from jobdock.simulator.persist import STATE_FILE
from tests.support.waiting import wait_until


def vendor_profiles() -> list[str]:
    """The bundled profiles of vendor APIs (vainu's and testo's are built-in providers)."""
    return sorted(p.id for p in bundled_profiles() if p.id not in PROVIDERS)


def registered_profiles(sim: Simulator) -> list[str]:
    """The bundled profiles whose fake the simulator registers, in its order."""
    return [name for name in sim.apis if name in builtin_ids() and name not in PROVIDERS]


class RecordingEngine:
    def __init__(self, jobs: list[Job] | None = None) -> None:
        self._jobs = jobs or []
        self.accounts: list[tuple[Account, str | None]] = []
        self.submitted: list[tuple[str, SubmitRequest, str]] = []
        self.providers = builtin_providers()
        self.sim: Simulator | None = None  # the failure rate it has at each submit
        self.failure_rates: list[float] = []

    def jobs(self) -> list[Job]:
        return self._jobs

    def provider(self, provider_id: str) -> Provider:
        return self.providers[provider_id]

    async def add_account(self, account: Account, secret: str | None) -> Account:
        self.accounts.append((account, secret))
        return account

    async def submit(self, account_name: str, request: SubmitRequest, *, label: str = "") -> Job:
        self.submitted.append((account_name, request, label))
        if self.sim is not None:
            self.failure_rates.append(self.sim.config.failure_rate)
        return Job(id=f"j{len(self.submitted)}", account=account_name, provider="x")


def test_demo_sets_up_its_accounts_and_jobs_and_saves_the_simulator(tmp_path: Path) -> None:
    running = demo.start(tmp_path, SimConfig(failure_rate=0.2))
    try:
        engine = RecordingEngine()
        engine.sim = sim = running.simulator
        asyncio.run(running.set_up(engine))
        assert sim is not None and running.fresh
        # the seeded jobs meet no random failure; jobs submitted later do again
        assert engine.failure_rates == [0.0] * len(engine.submitted)
        assert sim.config.failure_rate == 0.2
        builtin = engine.accounts[: len(PROVIDERS)]
        assert [(a.provider, a.base_url, s) for a, s in builtin] == [
            (p, sim.base_url(p), sim.secret(p)) for p in PROVIDERS
        ]
        profiles = registered_profiles(sim)
        assert sorted(profiles) == vendor_profiles()  # every one of them
        assert [a.provider for a, _ in engine.accounts[len(PROVIDERS) :]] == profiles
        labels = [label for _, _, label in engine.submitted]
        assert labels == [
            "demo vainu", "demo vainu (fails)", "demo testo", "demo cisco-cce",
            "demo cisco-cce (fails)", "demo generic-202", "demo shoptet",
            *(f"demo {p}" for p in profiles),
        ]  # fmt: skip
        failing = [r for _, r, label in engine.submitted if label.endswith("(fails)")]
        assert all(("sim_outcome", "fail") in r.params for r in failing)
        # the profile's default request, on the path its fake declares where it has one
        paths = {a.provider: a.path for a in running.accounts}
        defaults = [r for _, r, label in engine.submitted[-len(profiles) :]]
        assert [(r.method, r.params) for r in defaults] == [
            (d.method, d.params) for d in (engine.provider(p).default_request() for p in profiles)
        ]
        assert [r.path for r in defaults] == [
            paths[p] or engine.provider(p).default_request().path for p in profiles
        ]
        assert paths["meta-insights"] == "act_1234567890/insights"

        again = RecordingEngine(jobs=[Job(id="kept", account="demo-vainu", provider="vainu")])
        asyncio.run(running.set_up(again))
        assert len(again.accounts) == len(PROVIDERS) + len(profiles) and again.submitted == []
    finally:
        running.close()
    assert (tmp_path / STATE_FILE).is_file()


def test_a_profile_fake_declares_its_demo_account(tmp_path: Path) -> None:
    """Each registered bundled profile gets an account named after it, on its fake; google-lro's
    fake declares its OAuth client, refresh token and token endpoint."""
    running = demo.start(tmp_path, SimConfig())
    try:
        sim = running.simulator
        assert sim is not None
        accounts = {a.provider: a for a in running.accounts}
        shopify = accounts["shopify-bulk"]
        assert (shopify.name, shopify.base_url) == ("demo-shopify", sim.base_url("shopify-bulk"))
        assert shopify.secret == sim.secret("shopify-bulk") and shopify.request is None
        google = accounts["google-lro"]
        assert json.loads(google.secret) == sim.google_oauth_secrets()
        assert google.account().options == {"token_url": f"{sim.origin('google-oauth')}/token"}
        assert "google-oauth" not in accounts  # a token endpoint, no profile of its own
        names = [a.name for a in running.accounts]
        assert len(set(names)) == len(names)
    finally:
        running.close()


def _submit_vainu(sim: Simulator) -> str:
    answer = httpx.get(f"{sim.base_url('vainu')}/companies/async/",
                       params={"async_format": "csv", "sim_duration": "60"},
                       headers={"API-Key": sim.secret("vainu")})  # fmt: skip
    answer.raise_for_status()
    job_id: str = answer.json()["job_id"]
    return job_id


def test_the_state_is_saved_before_the_answer_that_changed_it_leaves(tmp_path: Path) -> None:
    running = demo.start(tmp_path, SimConfig())
    try:
        sim = running.simulator
        assert sim is not None
        job_id = _submit_vainu(sim)
        # Read back now, with the demo still running (as after a kill -9: nothing saved at exit).
        later = Simulator(SimConfig())
        assert persist.restore(later, tmp_path) == sim.ports()
        job = later.apis["vainu"].jobs.get(job_id)
        assert job is not None and job.duration == 60
        assert later.secret("vainu") == sim.secret("vainu")
    finally:
        running.close()


def test_a_second_demo_uses_the_first_ones_simulator_and_serves_it_once_that_has_gone(
    tmp_path: Path,
) -> None:
    first = demo.start(tmp_path, SimConfig())
    second = demo.start(tmp_path, SimConfig())
    try:
        sim = first.simulator
        assert sim is not None and second.simulator is None and not second.fresh
        assert second.accounts == first.accounts
        assert demo.serving(tmp_path)
        ports = sim.ports()
        job_id = _submit_vainu(sim)
        first.close()
        served = wait_until(lambda: second.simulator, timeout=30, what="the second serving")
        assert served.ports() == ports and second.accounts == first.accounts
        assert served.apis["vainu"].jobs.get(job_id) is not None
        assert _submit_vainu(served)
    finally:
        first.close()
        second.close()
    assert not demo.serving(tmp_path)


def test_reset_refuses_while_a_demo_process_serves_the_dir(tmp_path: Path) -> None:
    from jobdock.core.model.errors import UsageError
    from jobdock.runtime import reset_demo

    running = demo.start(tmp_path, SimConfig())
    try:
        with pytest.raises(UsageError, match="running"):
            reset_demo(tmp_path, chosen=True)
        assert (tmp_path / STATE_FILE).is_file()
    finally:
        running.close()
    reset_demo(tmp_path, chosen=True)
    assert not tmp_path.exists()


def test_a_fresh_demo_takes_ports_below_the_ephemeral_range(tmp_path: Path) -> None:
    """A port freed in the ephemeral range may be handed to any program's next connection
    before the demo comes back; below it, only a server asking for that port takes it."""
    running = demo.start(tmp_path, SimConfig())
    try:
        sim = running.simulator
        assert sim is not None
        low, high = demo.STABLE_PORTS
        in_range = [port for port in sim.ports().values() if low <= port < high]
        assert len(in_range) >= len(sim.ports()) - 2, sim.ports()  # a port in use is replaced
    finally:
        running.close()


def test_reset_that_cannot_delete_a_file_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from jobdock.core.model.errors import StoreError
    from jobdock.runtime import reset_demo

    (tmp_path / STATE_FILE).write_text("{}")
    locked = tmp_path / "downloads" / "report.csv"

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(locked))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with pytest.raises(StoreError) as caught:
        reset_demo(tmp_path, chosen=True)
    message = str(caught.value)
    assert "\n" not in message
    assert f"could not delete {locked} (Permission denied)" in message
    assert "partly deleted" in message
