"""The fake SP-API Reports API and its Login with Amazon token endpoint: the refresh-token grant
and its errors, the access token required in `x-amz-access-token`, createReport's validation,
the processing states on a fake clock, and the document: pre-signed for five minutes, signed
anew on every call, gzip-compressed with `compressionAlgorithm: GZIP` when asked."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

SPEC = {"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": ["ATVPDKIKX0DER"],
        "dataStartTime": "2024-03-10T20:11:24.000Z"}  # fmt: skip
REPORTS = "/reports/2021-06-30/reports"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=3.0, clock=clock)) as simulator:
        yield simulator


def token(sim: Simulator, **changes: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", **sim.amazon_lwa_secrets(), **changes}
    return httpx.post(f"{sim.origin('amazon-lwa')}/auth/o2/token", data=form, timeout=10)


def api(sim: Simulator) -> httpx.Client:
    access = token(sim).json()["access_token"]
    return httpx.Client(base_url=sim.base_url("amazon-sp-reports"),
                        headers={"x-amz-access-token": access}, timeout=10)  # fmt: skip


def test_the_token_endpoint_grants_the_refresh_token_and_refuses_the_rest(sim: Simulator):
    granted = token(sim)
    assert granted.status_code == 200
    body = granted.json()
    assert body["access_token"].startswith("Atza|") and body["token_type"] == "bearer"
    assert body["expires_in"] == 3600 and body["access_token"] in sim.amazon_access_tokens()
    assert token(sim, client_secret="wrong").json()["error"] == "invalid_client"
    assert token(sim, client_secret="wrong").status_code == 401
    assert token(sim, refresh_token="Atzr|other").json()["error"] == "invalid_grant"
    assert token(sim, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_the_api_wants_a_current_access_token_in_x_amz_access_token(sim: Simulator, clock):
    base = sim.base_url("amazon-sp-reports")
    access = token(sim).json()["access_token"]
    for headers in ({}, {"Authorization": f"Bearer {access}"}, {"x-amz-access-token": "Atza|x"}):
        refused = httpx.post(f"{base}{REPORTS}", json=SPEC, headers=headers, timeout=10)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "Unauthorized"
    good = {"x-amz-access-token": access}
    assert httpx.post(f"{base}{REPORTS}", json=SPEC, headers=good, timeout=10).status_code == 202
    clock.advance(3600)  # an hour later the token has expired
    assert httpx.post(f"{base}{REPORTS}", json=SPEC, headers=good, timeout=10).status_code == 403


@pytest.mark.parametrize(
    ("spec", "details"),
    [
        ({"marketplaceIds": ["ATVPDKIKX0DER"]}, "reportType is required"),
        ({"reportType": "X", "marketplaceIds": []}, "marketplaceIds must list 1 to 25"),
        ({**SPEC, "dataStartTime": "yesterday"}, "dataStartTime must be an ISO 8601"),
        ({**SPEC, "dataEndTime": "2999-01-01T00:00:00Z"}, "must be prior to or equal"),
    ],
)
def test_create_report_validates_its_specification(sim: Simulator, spec, details):
    with api(sim) as client:
        refused = client.post(REPORTS, json=spec)
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert (error["code"], error["message"]) == ("InvalidInput", "Invalid input")
    assert details in error["details"]


def test_a_report_is_processed_and_its_gzip_document_signed_for_five_minutes(
    sim: Simulator, clock: FakeClock
):
    with api(sim) as client:
        created = client.post(REPORTS, json=SPEC, params={"sim_compression": "GZIP"})
        assert created.status_code == 202 and list(created.json()) == ["reportId"]
        report_id = created.json()["reportId"]
        url = f"{REPORTS}/{report_id}"
        assert client.get(url).json()["processingStatus"] == "IN_QUEUE"
        clock.advance(2)
        running = client.get(url).json()
        assert running["processingStatus"] == "IN_PROGRESS" and "processingStartTime" in running
        assert "reportDocumentId" not in running
        clock.advance(2)
        done = client.get(url).json()
        assert done["processingStatus"] == "DONE" and done["marketplaceIds"] == ["ATVPDKIKX0DER"]
        assert done["dataStartTime"] == SPEC["dataStartTime"] and "processingEndTime" in done
        document = client.get(f"/reports/2021-06-30/documents/{done['reportDocumentId']}").json()
        assert document["compressionAlgorithm"] == "GZIP"
        assert document["reportDocumentId"].startswith("amzn1.spdoc.1.4.na.")
        served = httpx.get(document["url"], timeout=10)  # pre-signed: no token
        assert served.status_code == 200
        assert (
            gzip.decompress(served.content)
            == sim.expected_results("amazon-sp-reports", report_id)[0]
        )
        assert served.content == sim.amazon_served(report_id)
        clock.advance(301)  # "This URL expires after five minutes"
        assert httpx.get(document["url"], timeout=10).status_code == 403
        again = client.get(f"/reports/2021-06-30/documents/{done['reportDocumentId']}").json()
        assert httpx.get(again["url"], timeout=10).status_code == 200  # signed anew


def test_fatal_and_cancelled_reports(sim: Simulator, clock: FakeClock):
    with api(sim) as client:
        fatal = client.post(REPORTS, json=SPEC, params={"sim_outcome": "fail"}).json()
        empty = client.post(REPORTS, json=SPEC, params={"sim_outcome": "cancel"}).json()
        clock.advance(5)
        failed = client.get(f"{REPORTS}/{fatal['reportId']}").json()
        cancelled = client.get(f"{REPORTS}/{empty['reportId']}").json()
        assert failed["processingStatus"] == "FATAL" and "reportDocumentId" in failed
        assert cancelled["processingStatus"] == "CANCELLED" and "reportDocumentId" not in cancelled
        missing = client.get(f"{REPORTS}/1234")
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NotFound"
