"""The webhook receiver: Shoptet's signed job:finished refreshes the job within a second; a bad
or missing signature is answered 401, logged, and changes nothing; registration keeps the
signature key in the keyring."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from jobdock.core import webhooks
from jobdock.core.errors import UsageError
from jobdock.core.job import JobState
from jobdock.core.providers.shoptet_api import WebhookRequiredError
from jobdock.core.simulator import SimConfig, Simulator
from tests.core.shoptet_helpers import ACCOUNT, shoptet_engine, until

SLOW_POLLS = {"poll_min": "300", "poll_max": "600"}  # only the webhook can refresh in time


def test_signed_webhook_refreshes_the_job_within_a_second(tmp_path: Path) -> None:
    config = SimConfig(shoptet_require_webhook=True, result_size=128)
    with Simulator(config) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                request = engine.provider("shoptet").default_request()
                with pytest.raises(WebhookRequiredError, match="jobdock webhooks register"):
                    await engine.submit(ACCOUNT, request)
                receiver = webhooks.WebhookReceiver(engine, host="127.0.0.1", port=0)
                await receiver.start()
                try:
                    url = await webhooks.register(engine, ACCOUNT, receiver.url)
                    assert url == receiver.url
                    key = engine.credentials.get(webhooks.signature_key_name(ACCOUNT))
                    assert key == sim.shoptet_signature_key()
                    job = await engine.submit(ACCOUNT, request.__class__(
                        method="GET", path=request.path, params=(("sim_duration", "0.5"),)
                    ))  # fmt: skip
                    await until(engine, lambda: bool(sim.shoptet_deliveries()), limit=10)
                    delivered = time.monotonic()
                    await until(engine, lambda: engine.job(job.id).state.is_terminal, 1.0)
                    assert time.monotonic() - delivered < 1.0
                    assert engine.job(job.id).state is JobState.SUCCEEDED
                    assert engine.job(job.id).results
                    assert receiver.accepted == 1 and receiver.rejected == 0
                finally:
                    await receiver.aclose()

        asyncio.run(scenario())
        assert sim.shoptet_stats()["webhooks_sent"] == 1


def test_bad_or_missing_signature_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Simulator(SimConfig(result_size=128)) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                engine.credentials.set(webhooks.signature_key_name(ACCOUNT), "the-real-key")
                request = engine.provider("shoptet").default_request()
                job = await engine.submit(ACCOUNT, request)
                receiver = webhooks.WebhookReceiver(engine, host="127.0.0.1", port=0)
                await receiver.start()
                event = {"eshopId": 1, "event": "job:finished", "eventInstance": job.remote_id}
                body = json.dumps(event).encode()
                try:
                    async with httpx.AsyncClient() as client:
                        forged = webhooks.sign("not-the-key", body)
                        codes = [
                            (await client.post(receiver.url, content=body, headers=h)).status_code
                            for h in ({"Shoptet-Webhook-Signature": forged}, {})
                        ]
                        wrong_path = receiver.url.rsplit("/", 1)[0] + "/guess"
                        good = {"Shoptet-Webhook-Signature": webhooks.sign("the-real-key", body)}
                        other = await client.post(wrong_path, content=body, headers=good)
                    await asyncio.sleep(0.2)
                finally:
                    await receiver.aclose()
                assert codes == [401, 401] and other.status_code == 404
                assert engine.job(job.id) == job  # nothing changed
                assert receiver.accepted == 0 and receiver.rejected == 2

        with caplog.at_level(logging.WARNING, logger="jobdock.webhooks"):
            asyncio.run(scenario())
        assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
            "a bad Shoptet-Webhook-Signature",
            "no Shoptet-Webhook-Signature",
        ]


def test_verify_is_hex_hmac_sha1() -> None:
    body = b'{"eshopId": 222651, "event": "job:finished", "eventInstance": "3ax1844"}'
    signature = webhooks.sign("key", body)
    assert len(signature) == 40
    assert webhooks.verify("key", body, signature.upper())
    assert not webhooks.verify("key", body + b" ", signature)
    assert not webhooks.verify("key", body, None)


def test_register_needs_a_url(tmp_path: Path) -> None:
    with Simulator(SimConfig()) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path) as engine:
                with pytest.raises(UsageError, match="--public-url"):
                    await webhooks.register(engine, ACCOUNT)
                engine.configure(webhook_public_url="https://hooks.example/")
                assert (webhooks.public_url(engine) or "").startswith(
                    "https://hooks.example/shoptet/"
                )

        asyncio.run(scenario())
