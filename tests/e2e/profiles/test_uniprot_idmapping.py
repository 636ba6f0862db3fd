"""The bundled `uniprot-idmapping` profile through the real CLI against the simulator's UniProt
ID mapping service (docs/profiles/uniprot-idmapping.md): an account without a key, a job
started with the documentation's own form, polled without following the `303 See Other` that
ends it, and its result saved from the `Location` with the profile's `format=tsv&size=500`,
page by page along `Link: rel="next"`, every page's bytes as served. No request carries any
credential. A job that cannot run fails with UniProt's reason."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

from jobdock.simulator import Simulator
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.e2e.profiles.support import assert_in_keyring, saved_job

# https://www.uniprot.org/help/id_mapping_prog: "Submitting a job"
DOCUMENTED = "ids=P21802,P12345&from=UniProtKB_AC-ID&to=UniRef90"
FORM = "application/x-www-form-urlencoded"


def add_account(cli: Cli, sim: Simulator) -> None:
    """No secret: UniProt needs no key."""
    cli("accounts", "add", "up", "--provider", "uniprot-idmapping", "--base-url",
        sim.base_url("uniprot-idmapping"), *FAST_POLLS)  # fmt: skip
    assert_in_keyring(cli, "up", [])  # nothing to keep


def test_a_mapping_is_saved_page_by_page_from_the_303s_location(cli: Cli, simulator: Simulator):
    add_account(cli, simulator)
    job = cli.json("submit", "up", "--param", "sim_files=3", "--json")  # the profile's request
    job_id = job["remote_id"]
    assert len(job_id) == 40 and job["state"] == "queued"  # the answer is {"jobId": …} only
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "uniprot-idmapping")  # every page's bytes as served
    assert saved["remote_state"] == "FINISHED"
    names = [Path(r["path"]).name for r in saved["results"]]  # type: ignore[attr-defined]
    assert names == [f"idmapping-{job_id}-{n:03d}.tsv" for n in (1, 2, 3)]
    seen = simulator.requests("uniprot-idmapping")
    (post,) = [r for r in seen if r.method == "POST"]
    assert (post.path, post.body.decode(), post.headers["content-type"]) == (
        "/idmapping/run", DOCUMENTED, FORM,
    )  # fmt: skip
    assert {r.path for r in seen if r.path.startswith("/idmapping/status/")} == {
        f"/idmapping/status/{job_id}"
    }
    results = f"/idmapping/uniref/results/{job_id}"
    pages = [parse_qs(r.query) for r in seen if r.path == results and r.status == 200]
    assert pages and all(p["format"] == ["tsv"] and p["size"] == ["500"] for p in pages)
    assert {tuple(p.get("cursor", [""])) for p in pages} == {("",), ("dw",), ("rs",)}
    assert all("authorization" not in r.headers for r in simulator.requests())


def test_a_uniprotkb_mapping_from_the_command_line_request(cli: Cli, simulator: Simulator):
    add_account(cli, simulator)
    body = "from=UniProtKB_AC-ID&to=UniProtKB&ids=P05067"
    # no --content-type: a form, as the profile's [submit] content_type says (not JSON)
    cli("submit", "up", "--body", body)
    (post,) = [r for r in simulator.requests("uniprot-idmapping") if r.method == "POST"]
    assert (post.body.decode(), post.headers["content-type"], post.status) == (body, FORM, 200)
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "uniprot-idmapping")
    (first, second) = [Path(r["path"]).read_bytes() for r in saved["results"]]  # type: ignore[attr-defined]
    assert first.startswith(b"From\tEntry\tEntry Name\tReviewed\t") and first.count(b"\n") == 501
    assert second.count(b"\n") == 251  # sim_files defaults to 2 pages, the last half full


def test_an_explicit_content_type_replaces_the_profiles(cli: Cli, simulator: Simulator):
    add_account(cli, simulator)
    body = "from=UniProtKB_AC-ID&to=UniProtKB&ids=P05067"
    done = cli("submit", "up", "--body", body, "--content-type", "text/plain", expect=None)
    assert done.returncode != 0 and "Content type not supported" in done.stderr
    (post,) = [r for r in simulator.requests("uniprot-idmapping") if r.method == "POST"]
    assert (post.headers["content-type"], post.status) == ("text/plain", 415)


def test_a_job_that_cannot_run_fails_with_uniprots_reason(cli: Cli, simulator: Simulator):
    add_account(cli, simulator)
    done = cli("submit", "up", "--body", "from=UniProtKB_AC-ID&to=UniRef90", "--content-type",
               FORM, expect=None)  # fmt: skip
    assert done.returncode != 0
    assert "'ids' is a required parameter" in done.stderr
    assert json.loads(cli("jobs", "--json").stdout) == []


def test_a_failed_mapping_fails_at_once_with_uniprots_message(cli: Cli, simulator: Simulator):
    """A failed job answers its status with an HTTP error whose body is a status answer
    (IdMappingJobController.createStatus): `[poll] error_answers` reads it, so the job fails
    at its first such answer instead of being retried as a server error until its deadline."""
    add_account(cli, simulator)
    cli("submit", "up", "--param", "sim_outcome=fail")  # 500 {"jobStatus": "ERROR"}
    cli("submit", "up", "--param", "sim_files=1001")  # 400: more than 500,000 "mapped to" ids
    cli("watch", "--until-done", "--timeout", "60", expect=None)
    jobs = sorted(cli.json("jobs", "--json"), key=lambda j: j["submitted_at"])
    assert [(j["state"], j["remote_state"], j["results"]) for j in jobs] == [
        ("failed", "ERROR", []), ("failed", "ERROR", [])
    ]  # fmt: skip
    assert jobs[0]["error"] == (
        "UniProt ID mapping: the ID mapping job failed (no reason given) (HTTP 500)"
    )
    assert jobs[1]["error"] == ('Id Mapping API is not supported for mapping results with '
                                '"mapped to" IDs more than 500,000')  # fmt: skip
    for job in jobs:  # one error answer each: failed at once, not polled again
        status = f"/idmapping/status/{job['remote_id']}"
        answers = [r.status for r in simulator.requests("uniprot-idmapping") if r.path == status]
        assert answers[-1] in (400, 500) and answers.count(answers[-1]) == 1, answers
