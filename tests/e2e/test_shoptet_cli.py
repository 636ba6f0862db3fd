"""The CLI with Shoptet: the no-webhook 403 explained in one line (exit 2), `webhooks register`,
and the rate-limit bucket in `accounts list --json`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobdock.simulator import SimConfig, Simulator
from tests.e2e.conftest import Cli, add_account


@pytest.fixture
def webhook_sim() -> Iterator[Simulator]:
    config = SimConfig(queue_time=0.1, run_time=0.2, result_size=1024, shoptet_require_webhook=True)
    with Simulator(config) as sim:
        yield sim


def test_no_webhook_is_explained_then_registered(cli: Cli, webhook_sim: Simulator) -> None:
    name = add_account(cli, webhook_sim, "shoptet")
    refused = cli("submit", name, expect=2)
    (line,) = refused.stderr.splitlines()
    assert "job:finished webhook" in line and "jobdock webhooks register ACCOUNT URL" in line
    assert refused.stdout == ""

    no_url = cli("webhooks", "register", name, expect=2)
    assert "--public-url" in no_url.stderr
    registered = cli("webhooks", "register", name, "https://hooks.example/shoptet")
    assert "registered https://hooks.example/shoptet for job:finished" in registered.stdout
    job_id = cli("submit", name).stdout.strip()
    assert job_id
    cli("watch", "--until-done", "--timeout", "60")

    (account,) = cli.json("accounts", "list", "--json")
    rate = account["rate_limit"]
    assert rate["bucket_size"] == 200 and isinstance(rate["bucket_filling"], int)
    assert set(rate) == {"bucket_filling", "bucket_size", "not_before", "observed_at"}
    assert rate["not_before"] is None
    assert f"bucket={rate['bucket_filling']}/200" in cli("accounts", "list").stdout


def test_webhooks_enable_and_disable(cli: Cli) -> None:
    enabled = cli("webhooks", "enable", "--port", "0", "--public-url", "https://h.example")
    assert "webhook receiver enabled on 127.0.0.1:0/shoptet/" in enabled.stdout
    assert "public URL https://h.example/shoptet/" in enabled.stdout
    assert "webhook receiver disabled" in cli("webhooks", "disable").stdout
