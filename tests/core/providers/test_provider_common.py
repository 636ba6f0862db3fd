"""The shared parsing helpers and the registry of built-in providers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from jobdock.core.model.errors import ProtocolError
from jobdock.core.model.job import Account
from jobdock.core.net.http import ApiSession
from jobdock.core.net.redaction import Redactor
from jobdock.core.providers import builtin_providers
from jobdock.core.providers.base import Provider, SupportsJobList
from jobdock.core.providers.common import (
    dig,
    find_text,
    format_shoptet_time,
    guard,
    parse_timestamp,
    presigned_expiry,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-01-09T15:13:39+0100", datetime(2019, 1, 9, 14, 13, 39, tzinfo=UTC)),
        ("2019-01-09T15:13:39+01:00", datetime(2019, 1, 9, 14, 13, 39, tzinfo=UTC)),
        ("2019-01-09T15:13:39-0530", datetime(2019, 1, 9, 20, 43, 39, tzinfo=UTC)),
        ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T10:00:00.250Z", datetime(2026, 11, 23, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-23 10:00:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        (1795000000, datetime.fromtimestamp(1795000000, UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        ({"x": 1}, None),
    ],
)
def test_parse_timestamp(value, expected):
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is not None


def test_format_shoptet_time():
    when = datetime(2026, 1, 2, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    assert format_shoptet_time(when) == "2026-01-02T03:05:06+0000"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://s3.test/b/k?X-Amz-Date=20261123T100000Z&X-Amz-Expires=3600&X-Amz-Signature=a",
            datetime(2026, 11, 23, 11, tzinfo=UTC),
        ),
        (
            "https://gcs.test/b/k?x-goog-date=20261123T100000Z&x-goog-expires=60&x-goog-signature=a",
            datetime(2026, 11, 23, 10, 1, tzinfo=UTC),
        ),
        (
            "https://cf.test/k?Expires=1795000000&Signature=x",
            datetime.fromtimestamp(1795000000, UTC),
        ),
        (
            "https://acct.blob.test/c/k?sv=2022&se=2026-11-23T12%3A00%3A00Z&sig=abc",
            datetime(2026, 11, 23, 12, tzinfo=UTC),
        ),
        ("https://plain.test/file.csv", None),
        ("https://s3.test/k?X-Amz-Date=garbage&X-Amz-Expires=60", None),
    ],
)
def test_presigned_expiry(url, expected):
    assert presigned_expiry(url) == expected


def test_dig():
    data = {"a": {"b": [{"c": 1}]}}
    assert dig(data, "a.b.0.c") == 1
    assert dig(data, "a.b.1.c") is None
    assert dig(data, "a.x.c") is None
    assert dig([1], "a") is None


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"a": [{"progress": "IN_QUEUE"}]}', "application/json", "IN_QUEUE"),
        ('{"Progress": "IN_QUEUE"}', "", "IN_QUEUE"),
        (
            "<r xmlns='urn:a'><x><progress> IN_PROGRESS </progress></x></r>",
            "text/xml",
            "IN_PROGRESS",
        ),
        ("<r><progress/></r>", "", None),
        ("<r><progress>", "application/xml", None),
        ('{"progress": ', "application/json", None),
        ("", "", None),
    ],
)
def test_find_text(body, content_type, expected):
    response = httpx.Response(200, text=body, headers={"Content-Type": content_type})
    assert find_text(response, "progress") == expected


def test_guard_turns_stray_exceptions_into_protocol_errors(harness):
    provider = builtin_providers()["vainu"]
    account = Account(name="a", provider="vainu", base_url="https://x.test")

    async def fail(session: ApiSession) -> None:
        with guard(session, what="x: polling"):
            raise KeyError("job_id")

    with pytest.raises(ProtocolError, match=r"^x: polling: unexpected answer \(KeyError\)$"):
        harness.run(provider, account, lambda r: httpx.Response(500), fail)


def test_guard_scrubs_the_secret_from_escaping_errors(harness):
    provider = builtin_providers()["vainu"]
    account = Account(name="a", provider="vainu", base_url="https://x.test")

    async def fail(session: ApiSession) -> None:
        with guard(session, what="x"):
            raise ProtocolError(f"x: the server said {harness.secret!r}")

    with pytest.raises(ProtocolError) as info:
        harness.run(provider, account, lambda r: httpx.Response(500), fail)
    assert str(info.value) == info.value.user_message == "x: the server said '[REDACTED]'"


def test_registry_holds_the_built_in_and_bundled_providers_all_conforming():
    registry = builtin_providers()
    assert sorted(registry) == [
        "amazon-sp-reports", "cisco-cce", "databricks-sql", "generic-202", "google-lro",
        "hubspot-exports", "mailchimp-batches", "meta-insights", "salesforce-bulk-query",
        "shopify-bulk", "shoptet", "stripe-reports",
        "testo", "uniprot-idmapping", "vainu",
    ]  # fmt: skip
    for provider_id, provider in registry.items():
        assert isinstance(provider, Provider) and provider.id == provider_id
        assert provider.display_name and provider.secret_label
        assert provider.default_base_url.startswith("https://")
        assert provider.default_request().method
    assert isinstance(registry["shoptet"], SupportsJobList)


def test_providers_declare_their_capabilities_with_the_protocols_defaults():
    registry = builtin_providers()
    account = Account(name="a", provider="cisco-cce", base_url="https://x.test")
    for provider_id in ("cisco-cce", "generic-202"):
        provider = registry[provider_id]
        assert provider.needs_secret is True and provider.secret_names == ()
        assert provider.max_connections is None
        assert provider.auth_params(account, "s") == {}
        assert provider.http_auth(account, "s", Redactor()) is None
        assert provider.result_origins(account) == ()
    assert registry["shoptet"].max_connections == 3
