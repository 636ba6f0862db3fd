"""The bundled `databricks-sql` profile through the real CLI against the simulator's Statement
Execution API: a statement executed with the EXTERNAL_LINKS disposition, polled by its
statement_id, and every chunk of its result saved from its pre-signed link (fetched without the
token) as a numbered file, the chunks after the first found by `next_chunk_internal_link`; a link
that expires mid-download is signed anew by polling the statement again."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli
from tests.e2e.profiles.support import add_profile_account, assert_secret_stayed_home, saved_job

# https://docs.databricks.com/api/statement-execution/v1/execute-statement (and the Statement
# Execution API tutorial's EXTERNAL_LINKS example)
STATEMENT = {
    "warehouse_id": "abcdef0123456789",
    "statement": "SELECT * FROM samples.nyctaxi.trips LIMIT 100000",
    "wait_timeout": "0s",
    "disposition": "EXTERNAL_LINKS",
    "format": "CSV",
}


def _submit(cli: Cli, body: dict[str, str], *params: str) -> dict[str, str]:
    args = [p for param in params for p in ("--param", param)]
    return cli.json("submit", "workspace", "--body", json.dumps(body), *args, "--json")


def test_a_statement_with_external_links_saves_every_chunk_without_the_token(
    cli: Cli, simulator: Simulator
) -> None:
    add_profile_account(cli, simulator, "databricks-sql", "workspace")
    job = _submit(cli, STATEMENT, "sim_files=3")
    assert job["remote_state"] == "PENDING"
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "databricks-sql")
    statement_id = job["remote_id"]
    names = [Path(r["path"]).name for r in saved["results"]]  # type: ignore[attr-defined]
    assert names == [f"statement-{statement_id}-00{n}.csv" for n in (1, 2, 3)]
    first = Path(saved["results"][0]["path"]).read_bytes()  # type: ignore[index]
    assert first.startswith(b"trip_id,pickup_zip,fare_amount,pickup_time\r\n")
    api = [(r.method, r.path) for r in simulator.requests("databricks-sql")]
    assert api[0] == ("POST", "/api/2.0/sql/statements")
    chunks = [p for _, p in api if "/result/chunks/" in p]
    assert chunks == [f"/api/2.0/sql/statements/{statement_id}/result/chunks/{n}" for n in (1, 2)]
    storage = simulator.requests("storage")
    assert len(storage) == 3 and all(r.status == 200 for r in storage)
    assert_secret_stayed_home(simulator, "databricks-sql")


def test_a_chunk_link_that_expires_is_signed_anew_by_polling_the_statement(
    cli: Cli, simulator: Simulator
) -> None:
    # Every reading of the clock is a new second: each answer signs its links anew.
    start, ticks = time.time(), itertools.count()
    simulator.config.clock = lambda: start + next(ticks)
    add_profile_account(cli, simulator, "databricks-sql", "workspace")
    job = _submit(cli, {**STATEMENT, "format": "JSON_ARRAY"}, "sim_files=2")
    statement_id = job["remote_id"]
    # chunk 1's link dies half-way through its download
    simulator.storage.add_fault(
        StorageFault(key=f"databricks/{statement_id}/chunk_1", expire_at=0.5)
    )
    watch = cli("watch", "--until-done", "--timeout", "60")
    assert watch.stdout.count(" saved ") == 2, watch.stdout
    saved = saved_job(cli, simulator, "databricks-sql")
    names = [Path(r["path"]).name for r in saved["results"]]  # type: ignore[attr-defined]
    assert names == [f"statement-{statement_id}-00{n}.json_array" for n in (1, 2)]
    assert json.loads(Path(saved["results"][1]["path"]).read_bytes())  # type: ignore[index]
    assert 403 in [r.status for r in simulator.requests("storage")]  # the link did expire
    chunks = [r.path for r in simulator.requests("databricks-sql") if "/chunks/" in r.path]
    assert chunks == [f"/api/2.0/sql/statements/{statement_id}/result/chunks/1"] * 2
    assert_secret_stayed_home(simulator, "databricks-sql")


def test_a_failed_statement_fails_the_job_with_the_warehouse_s_message(
    cli: Cli, simulator: Simulator
) -> None:
    add_profile_account(cli, simulator, "databricks-sql", "workspace")
    _submit(cli, STATEMENT, "sim_outcome=fail")
    cli("watch", "--until-done", "--timeout", "60", expect=None)
    (job,) = cli.json("jobs", "--json")
    assert (job["state"], job["remote_state"]) == ("failed", "FAILED")
    assert "TABLE_OR_VIEW_NOT_FOUND" in job["error"] and job["results"] == []
    refused = cli("submit", "workspace", "--body", json.dumps({"statement": "SELECT 1"}),
                  expect=1)  # fmt: skip
    assert "warehouse_id is required" in refused.stderr
    assert len(cli.json("jobs", "--json")) == 1  # the refused statement is no job
