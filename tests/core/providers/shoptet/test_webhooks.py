"""The webhook receiver: Shoptet's signed job:finished refreshes the job within a second; a bad
or missing signature is answered 401, logged, and changes nothing; registration keeps the
signature key in the keyring."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import JobState
from jobdock.core.providers.shoptet import webhooks
from jobdock.core.providers.shoptet.api import WebhookRequiredError
from jobdock.simulator import SimConfig, Simulator
from tests.core.shoptet_helpers import ACCOUNT, shoptet_engine, until

SLOW_POLLS = {"poll_min": "300", "poll_max": "600"}  # only the webhook can refresh in time


def test_signed_webhook_refreshes_the_job_before_any_poll_is_due(tmp_path: Path) -> None:
    config = SimConfig(shoptet_require_webhook=True, result_size=128)
    with Simulator(config) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                request = engine.provider("shoptet").default_request()
                with pytest.raises(WebhookRequiredError, match="jobdock webhooks register"):
                    await engine.submit(ACCOUNT, request)
                receiver = engine.webhook_receiver(host="127.0.0.1", port=0)
                await receiver.start()
                try:
                    url = await engine.register_webhook(ACCOUNT, receiver.url)
                    assert url == receiver.url
                    key = engine.credentials.get(webhooks.signature_key_name(ACCOUNT))
                    assert key == sim.shoptet_signature_key()
                    job = await engine.submit(ACCOUNT, request.__class__(
                        method="GET", path=request.path, params=(("sim_duration", "0.5"),)
                    ))  # fmt: skip
                    await until(engine, lambda: bool(sim.shoptet_deliveries()), limit=10)
                    # Polls are 300-600 s apart (SLOW_POLLS): a job settled within this wait
                    # was refreshed by the webhook, not by a poll falling due.
                    await until(engine, lambda: engine.job(job.id).state.is_terminal, limit=30)
                    assert engine.job(job.id).state is JobState.SUCCEEDED
                    assert engine.job(job.id).results
                    assert receiver.accepted == 1 and receiver.rejected == 0
                finally:
                    await receiver.aclose()

        asyncio.run(scenario())
        assert sim.shoptet_stats()["webhooks_sent"] == 1
        status_reads = [
            r for r in sim.requests("shoptet") if r.path.startswith("/api/system/jobs/")
        ]
        assert len(status_reads) == 1  # the webhook's refresh: no poll fell due


def test_bad_or_missing_signature_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Simulator(SimConfig(result_size=128)) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                engine.credentials.set(webhooks.signature_key_name(ACCOUNT), "the-real-key")
                request = engine.provider("shoptet").default_request()
                job = await engine.submit(ACCOUNT, request)
                receiver = engine.webhook_receiver(host="127.0.0.1", port=0)
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
                    # Room for a refresh that must not come (the scenario: nothing is awaited).
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
                    await engine.register_webhook(ACCOUNT)
                engine.configure(webhook_public_url="https://hooks.example/")
                assert (engine.webhook_public_url() or "").startswith(
                    "https://hooks.example/shoptet/"
                )

        asyncio.run(scenario())


def test_a_signed_chunked_post_is_accepted_and_a_huge_one_refused(tmp_path: Path) -> None:
    """Proxies and many HTTP clients send webhook bodies with Transfer-Encoding: chunked (no
    Content-Length): the receiver reads the chunks, within the same size bound."""
    with Simulator(SimConfig(result_size=128)) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                engine.credentials.set(webhooks.signature_key_name(ACCOUNT), "the-real-key")
                job = await engine.submit(ACCOUNT, engine.provider("shoptet").default_request())
                receiver = engine.webhook_receiver(host="127.0.0.1", port=0)
                await receiver.start()
                event = {"eshopId": 1, "event": "job:finished", "eventInstance": job.remote_id}
                body = json.dumps(event).encode()
                signed = {"Shoptet-Webhook-Signature": webhooks.sign("the-real-key", body)}

                async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
                    for start in range(0, len(data), size):
                        yield data[start : start + size]

                try:
                    async with httpx.AsyncClient() as client:
                        good = await client.post(
                            receiver.url, content=pieces(body, 7), headers=signed
                        )
                        huge = b"x" * (webhooks.MAX_BODY + 1)
                        big = await client.post(
                            receiver.url, content=pieces(huge, 4096), headers=signed
                        )
                    assert good.request.headers.get("transfer-encoding") == "chunked"
                    assert "content-length" not in good.request.headers
                    assert (good.status_code, big.status_code) == (200, 413)
                    assert receiver.accepted == 1 and receiver.rejected == 0
                    await until(engine, lambda: engine.job(job.id).polls > job.polls, limit=10)
                finally:
                    await receiver.aclose()

        asyncio.run(scenario())


def test_a_malformed_chunked_body_is_a_bad_request(tmp_path: Path) -> None:
    with Simulator(SimConfig(result_size=128)) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                receiver = engine.webhook_receiver(host="127.0.0.1", port=0)
                await receiver.start()
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
                    writer.write(
                        f"POST {receiver.path} HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".encode()
                    )
                    await writer.drain()
                    status_line = await reader.readline()
                    writer.close()
                    await writer.wait_closed()
                finally:
                    await receiver.aclose()
                assert status_line.startswith(b"HTTP/1.1 400 ")
                assert receiver.accepted == 0

        asyncio.run(scenario())


def test_a_signed_but_deeply_nested_body_is_a_bad_request(tmp_path: Path) -> None:
    """JSON nested deeper than Python's parser recurses (a few kilobytes of brackets, well
    within MAX_BODY) is answered 400, like any body that is no event."""
    with Simulator(SimConfig(result_size=128)) as sim:

        async def scenario() -> None:
            async with shoptet_engine(sim, tmp_path, options=SLOW_POLLS) as engine:
                engine.credentials.set(webhooks.signature_key_name(ACCOUNT), "the-real-key")
                receiver = engine.webhook_receiver(host="127.0.0.1", port=0)
                await receiver.start()
                body = b"[" * 30_000 + b"]" * 30_000
                signed = {"Shoptet-Webhook-Signature": webhooks.sign("the-real-key", body)}
                try:
                    async with httpx.AsyncClient() as client:
                        answer = await client.post(receiver.url, content=body, headers=signed)
                finally:
                    await receiver.aclose()
                assert answer.status_code == 400
                assert receiver.accepted == 0 and receiver.rejected == 0

        asyncio.run(scenario())
