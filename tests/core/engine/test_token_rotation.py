"""The engine keeps a rotated refresh token (profiles.oauth, RFC 6749 §6) in the account's
keyring entry, its other secrets as they are, from the async path and from a download's thread;
a write that fails is a redacted warning (`Engine.on_notice`, `notices`, and a note on the
account's unsettled jobs) and the new token is still used. Against the simulator's Salesforce
org with refresh token rotation on, which revokes the chain when an old refresh token is sent
again: the jobs end well only when no stale one ever was."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.core.engine.engine import Engine
from jobdock.core.model.errors import KeyringUnavailableError
from jobdock.core.model.job import Account, JobEvent, JobState, SubmitRequest
from jobdock.core.model.paths import AppPaths
from jobdock.core.providers.profiles.oauth import encode_secrets
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import SimConfig, Simulator
from jobdock.simulator.salesforce import SalesforceApi

PROVIDER = "salesforce-bulk-query"
REQUEST = SubmitRequest(method="POST", path="services/data/v62.0/jobs/query",
                        body=b'{"operation": "query", "query": "SELECT Id FROM Account"}',
                        content_type="application/json")  # fmt: skip


class Keyring(MemoryCredentialStore):
    """A keyring whose writes can be made to fail (a locked collection, a gone backend)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False

    def set(self, account: str, secret: str) -> None:
        if self.refuse:
            raise KeyringUnavailableError("the collection is locked")
        super().set(account, secret)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config = SimConfig(queue_time=0.1, run_time=0.2, result_size=4096,
                       salesforce_rotate_refresh_tokens=True)  # fmt: skip
    with Simulator(config) as simulator:
        yield simulator


def entry(keyring: Keyring) -> dict[str, str]:
    held = keyring.get("org")
    assert held is not None
    values: dict[str, str] = json.loads(held)
    return values


async def follow(
    sim: Simulator, tmp_path: Path, keyring: Keyring, *, fail_later: bool
) -> tuple[Engine, list[JobEvent]]:
    """Add the account (its entry holds a secret of another kind too), submit a job, revoke
    the org's sessions (the poll's 401 renews the token), and follow the job to the end."""
    paths = AppPaths(data_dir=tmp_path / "data", default_download_dir=tmp_path / "dl").ensure()
    store = JobStore.open(paths.store_file)
    engine = Engine(store=store, credentials=keyring, paths=paths)
    engine.configure(poll_min=0.05, poll_max=0.2)
    notices: list[str] = []
    engine.on_notice = notices.append
    account = Account(name="org", provider=PROVIDER, base_url=sim.base_url(PROVIDER),
                      options={"grant": "refresh_token"})  # fmt: skip
    named = sim.salesforce_oauth_secrets("refresh_token")
    await engine.add_account(account, encode_secrets({**named, "note": "kept as it is"}))
    try:
        job = await engine.submit("org", REQUEST)
        api = sim.apis[PROVIDER]
        assert isinstance(api, SalesforceApi)
        keyring.refuse = fail_later
        api.revoke_sessions()
        changed = asyncio.Event()
        engine.subscribe(lambda _batch: changed.set())
        await engine.start()
        async with asyncio.timeout(30):
            while not engine.all_settled([job.id]):
                changed.clear()
                await changed.wait()
        assert engine.job(job.id).state is JobState.SUCCEEDED
        assert notices == engine.notices
        events = engine.events(job.id)
    finally:
        await engine.aclose()
        store.close()
    return engine, events


def test_each_rotated_refresh_token_is_written_to_the_entry(sim: Simulator, tmp_path: Path):
    keyring = Keyring()
    engine, _ = asyncio.run(follow(sim, tmp_path, keyring, fail_later=False))
    given = sim.salesforce_refresh_tokens()
    assert len(given) == 3  # the one added, the submit's rotation, the 401's
    assert entry(keyring) == {**sim.salesforce_oauth_secrets("refresh_token"),
                              "note": "kept as it is"}  # fmt: skip
    assert entry(keyring)["refresh_token"] == given[-1]
    assert engine.notices == []
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert not any(t.encode() in stored for t in given)


def test_a_write_that_fails_is_a_warning_and_the_new_token_is_used(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keyring = Keyring()
    with caplog.at_level(logging.WARNING, logger="jobdock"):
        engine, events = asyncio.run(follow(sim, tmp_path, keyring, fail_later=True))
    given = sim.salesforce_refresh_tokens()
    assert len(given) == 3 and entry(keyring)["refresh_token"] == given[1]  # the last written
    (notice,) = engine.notices
    assert notice == ("account org: the token endpoint rotated its refresh token and the new "
                      "one was not saved in the keyring: it is used until this process ends, "
                      "then the account needs adding again with a new refresh token (the "
                      "collection is locked)")  # fmt: skip
    notes = [e.message for e in events if e.kind == "account-warning"]
    assert notes == [notice]  # the job the poll was for
    for text in (caplog.text, notice):
        assert not any(t in text for t in given)
    assert notice in caplog.text
