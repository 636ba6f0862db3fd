"""The fake Databricks Statement Execution API: the states on a fake clock, the manifest and
the chunk chain, the links' lifetime (at most 15 minutes, signed anew on every answer), cancel
and close, and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from jobdock.simulator import FakeClock, SimConfig, Simulator

BODY = {"statement": "SELECT 1", "warehouse_id": "w1", "disposition": "EXTERNAL_LINKS",
        "format": "CSV", "wait_timeout": "0s"}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(queue_time=1.0, run_time=3.0, clock=clock)) as simulator:
        yield simulator


def _client(sim: Simulator, token: str | None = None) -> httpx.Client:
    auth = {"Authorization": f"Bearer {token or sim.secret('databricks-sql')}"}
    return httpx.Client(base_url=sim.base_url("databricks-sql"), headers=auth, timeout=10)


def test_a_statement_runs_and_lists_its_chunks_one_link_each(sim: Simulator, clock: FakeClock):
    with _client(sim) as api:
        answer = api.post("/api/2.0/sql/statements", params={"sim_files": "3"}, json=BODY)
        assert answer.status_code == 200
        statement_id = answer.json()["statement_id"]
        assert answer.json()["status"] == {"state": "PENDING"}
        url = f"/api/2.0/sql/statements/{statement_id}"
        clock.advance(2)
        assert api.get(url).json()["status"]["state"] == "RUNNING"
        assert api.get(f"{url}/result/chunks/0").status_code == 400  # no result yet
        clock.advance(2)
        done = api.get(url).json()
        assert done["status"]["state"] == "SUCCEEDED"
        manifest = done["manifest"]
        assert (manifest["format"], manifest["total_chunk_count"]) == ("CSV", 3)
        (link,) = done["result"]["external_links"]
        assert link["next_chunk_internal_link"] == f"{url}/result/chunks/1"
        expiration = datetime.fromisoformat(link["expiration"].replace("Z", "+00:00"))
        assert expiration.timestamp() == pytest.approx(clock() + 900, abs=1)
        served = []
        following = link
        while True:
            # no token: it is pre-signed; odd chunks are encrypted with a customer key, which
            # the link's `http_headers` carry and the storage requires (S3 SSE-C)
            needed = following.get("http_headers", {})
            assert bool(needed) == (following["chunk_index"] % 2 == 1)
            data = httpx.get(following["external_link"], headers=needed)
            assert data.status_code == 200 and len(data.content) == following["byte_count"]
            if needed:
                without = httpx.get(following["external_link"])
                assert without.status_code == 400 and b"InvalidRequest" in without.content
                key = "x-amz-server-side-encryption-customer-key"
                wrong = httpx.get(following["external_link"], headers={**needed, key: "AAAA"})
                assert wrong.status_code == 403
            served.append(data.content)
            if "next_chunk_internal_link" not in following:
                break
            (following,) = api.get(following["next_chunk_internal_link"]).json()["external_links"]
        assert served == sim.expected_results("databricks-sql", statement_id)
        assert served[0].startswith(b"trip_id,") and not served[1].startswith(b"trip_id,")
        assert sum(c["row_count"] for c in manifest["chunks"]) == manifest["total_row_count"]
        assert all("http_headers" not in c for c in manifest["chunks"])  # in the links only
        clock.advance(901)  # a link lives 15 minutes; the next answer signs it anew
        assert httpx.get(link["external_link"]).status_code == 403
        fresh = api.get(url).json()["result"]["external_links"][0]["external_link"]
        assert fresh != link["external_link"] and httpx.get(fresh).status_code == 200
        assert api.post(f"{url}/cancel").json() == {}
        assert api.get(url).json()["status"]["state"] == "CLOSED"  # no longer available
        assert api.get(f"{url}/result/chunks/0").status_code == 400


def test_inline_chunks_carry_their_rows_and_failures_say_why(sim: Simulator, clock: FakeClock):
    with _client(sim) as api:
        inline = {**BODY, "disposition": "INLINE", "format": "JSON_ARRAY"}
        statement_id = api.post("/api/2.0/sql/statements", json=inline).json()["statement_id"]
        failed = api.post("/api/2.0/sql/statements", params={"sim_outcome": "fail"}, json=BODY)
        running = api.post("/api/2.0/sql/statements", json=BODY).json()["statement_id"]
        assert api.post(f"/api/2.0/sql/statements/{running}/cancel").status_code == 200
        clock.advance(5)
        result = api.get(f"/api/2.0/sql/statements/{statement_id}").json()["result"]
        assert result["data_array"] and "external_links" not in result
        status = api.get(f"/api/2.0/sql/statements/{failed.json()['statement_id']}").json()
        assert status["status"]["state"] == "FAILED"
        assert "TABLE_OR_VIEW_NOT_FOUND" in status["status"]["error"]["message"]
        assert api.get(f"/api/2.0/sql/statements/{running}").json()["status"]["state"] == "CANCELED"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"warehouse_id": None}, "warehouse_id is required"),
        ({"wait_timeout": "60s"}, "wait_timeout must be 0s or between 5s and 50s"),
        ({"disposition": "INLINE"}, "format CSV is only supported with disposition EXTERNAL_LINKS"),
        ({"format": "PARQUET"}, "Invalid format"),
    ],
)
def test_a_bad_request_is_a_400_with_the_documented_error_body(
    sim: Simulator, change: dict[str, object], message: str
):
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    with _client(sim) as api:
        answer = api.post("/api/2.0/sql/statements", json=body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in answer.json()["message"]


def test_a_wrong_token_and_an_unknown_statement(sim: Simulator):
    with _client(sim, token="dapi-wrong") as api:
        answer = api.post("/api/2.0/sql/statements", json=BODY)
    assert (answer.status_code, answer.json()["error_code"]) == (401, "UNAUTHENTICATED")
    with _client(sim) as api:
        missing = api.get("/api/2.0/sql/statements/01ef0000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "NOT_FOUND")
