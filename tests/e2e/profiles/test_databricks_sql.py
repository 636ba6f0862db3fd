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
from jobdock.simulator.databricks import DatabricksApi
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


KEY = "x-amz-server-side-encryption-customer-key"


def _link_headers(simulator: Simulator, statement_id: str) -> dict[int, dict[str, str]]:
    """The `http_headers` the fake gives each chunk's link (odd chunks: an SSE-C key)."""
    api = simulator.apis["databricks-sql"]
    assert isinstance(api, DatabricksApi)
    job = api.jobs.get(statement_id)
    assert job is not None
    return {c["chunk_index"]: c["http_headers"] for c in job.extra["chunks"]}


def _assert_nowhere(cli: Cli, outputs: list[str], secrets: list[str]) -> None:
    """None of `secrets` in the CLI's outputs nor in any file under the data dir (the store,
    its journal, logs, settings)."""
    files = [p for p in cli.data_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.suffix in (".sqlite", ".db", ".sqlite3") or "jobs" in p.name for p in files)
    for secret in secrets:
        assert all(secret not in text for text in outputs), "a link header value was shown"
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"a link header value is in {path}"


def test_a_chunk_whose_link_carries_http_headers_is_saved_only_with_them_and_they_stay_secret(
    cli: Cli, simulator: Simulator
) -> None:
    add_profile_account(cli, simulator, "databricks-sql", "workspace")
    job = _submit(cli, STATEMENT, "sim_files=3")
    statement_id = job["remote_id"]
    watch = cli("watch", "--until-done", "--timeout", "60", "-v")
    saved = saved_job(cli, simulator, "databricks-sql")  # every chunk's bytes, chunk 1 too
    headers = _link_headers(simulator, statement_id)
    assert not headers[0] and not headers[2] and KEY in headers[1]
    storage = simulator.requests("storage")
    for request in storage:
        chunk = int(request.path.rsplit("_", 1)[1])
        sent = {k: request.headers.get(k.lower()) for k in headers[1]}
        # exactly the link's own headers, to its link only; no token with them
        assert sent == (headers[1] if chunk == 1 else dict.fromkeys(headers[1])), chunk
        assert "authorization" not in request.headers
    assert all(r.status == 200 for r in storage)
    home = simulator.requests("databricks-sql")
    assert all(KEY not in r.headers for r in home)  # never to the workspace
    assert_secret_stayed_home(simulator, "databricks-sql")
    listed = cli("jobs", "--json")
    shown = [watch.stdout, watch.stderr, listed.stdout, listed.stderr, json.dumps(saved)]
    _assert_nowhere(cli, shown, list(headers[1].values())[1:])  # the key and its MD5


def test_a_chunk_download_resumed_after_a_restart_gets_its_headers_with_a_fresh_link(
    cli: Cli, simulator: Simulator
) -> None:
    """The headers are never stored: the next process polls the statement again for them."""
    add_profile_account(cli, simulator, "databricks-sql", "workspace")
    job = _submit(cli, STATEMENT, "sim_files=2")
    statement_id = job["remote_id"]
    # chunk 1 stalls half-way: the first process ends with its .part
    simulator.storage.add_fault(StorageFault(key=f"databricks/{statement_id}/chunk_1",
                                             stall_at=0.5))  # fmt: skip
    first = cli("watch", "--until-done", "--timeout", "10", expect=None)
    (stopped,) = cli.json("jobs", "--json")
    assert [r["download_state"] for r in stopped["results"]] == ["done", "downloading"], first
    polls = len([r for r in simulator.requests("databricks-sql") if r.method == "GET"])
    second = cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "databricks-sql")
    headers = _link_headers(simulator, statement_id)[1]
    chunk_1 = [r for r in simulator.requests("storage") if r.path.endswith("/chunk_1")]
    assert len(chunk_1) == 2 and all(r.headers.get(KEY) == headers[KEY] for r in chunk_1)
    assert "range" not in chunk_1[0].headers and chunk_1[1].headers["range"] != "bytes=0-"
    assert chunk_1[1].status == 206  # resumed from the .part, with the headers had anew
    again = [r for r in simulator.requests("databricks-sql") if r.method == "GET"][polls:]
    assert f"/api/2.0/sql/statements/{statement_id}" in [r.path for r in again]  # the refresh
    shown = [first.stdout, first.stderr, second.stdout, second.stderr, json.dumps(saved)]
    _assert_nowhere(cli, shown, [headers[KEY]])


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
    # listed by `submit` (its statement done at once on this clock); listed again by `watch`,
    # for chunk 1's `http_headers`, which no process stores; and again for the expired link
    assert chunks == [f"/api/2.0/sql/statements/{statement_id}/result/chunks/1"] * 3
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
