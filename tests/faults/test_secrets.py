"""A planted secret never leaves the keyring: not into the data dir, not onto the screen, not to
a storage origin — even when the API echoes it back in error bodies.

The account's API key is the simulator's distinctive random token. The vainu origin echoes it in
a 401 to a submit, in 500s to polls, and in a job's failure message; then every output of every
command the user may run is searched for it (plain, URL-encoded and base64), so is every file in
the data dir (the SQLite file, its WAL and shared memory, logs), and so is every request the
storage origins received.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from jobdock.core.simulator import Simulator
from jobdock.core.simulator.faults import StatusFault
from jobdock.core.simulator.vainu import BASE_PATH
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.faults.harness import ACCOUNT, assert_no_credentials_at_storage, tree, watch_args

pytestmark = pytest.mark.slow


def variants(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]


def echo(status: int, text: str, *, path_prefix: str) -> StatusFault:
    body = json.dumps({"detail": text}).encode()
    return StatusFault(
        status=status, body=body, content_type="application/json", path_prefix=path_prefix
    )


def test_a_secret_echoed_by_the_api_appears_in_no_output_file_or_storage_request(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    secret = simulator.secret("vainu")
    outputs: dict[str, str] = {}

    def run(*args: str, expect: int | None = 0, stdin: str | None = None) -> str:
        done = cli(*args, expect=expect, stdin=stdin)
        outputs[f"jobdock {' '.join(args)} (#{len(outputs)})"] = done.stdout + done.stderr
        return done.stdout

    base = simulator.base_url("vainu")
    run("accounts", "add", ACCOUNT, "--provider", "vainu", "--base-url", base, *FAST_POLLS,
        "--secret-stdin", stdin=secret + "\n")  # fmt: skip
    submit = ["submit", ACCOUNT, "--param", "async_format=csv", "--param", "sim_size=4096"]
    jobs_path = f"{BASE_PATH}/companies/async/"

    simulator.add_fault("vainu", echo(401, f"Invalid API key {secret}", path_prefix=jobs_path))
    run(*submit, expect=1)  # the API refuses, quoting the key

    saved = json.loads(run(*submit, "--param", "sim_duration=1", "--json"))
    failed = json.loads(run(*submit, "--param", "sim_duration=1", "--json"))
    for _ in range(2):  # transient 500s on the polls of the job that will succeed
        simulator.add_fault(
            "vainu",
            echo(
                500, f"upstream said: bad key {secret}", path_prefix=jobs_path + saved["remote_id"]
            ),
        )
    failure = {
        "job_id": failed["remote_id"],
        "state": "failure",
        "link": f"{base}/companies/async/{failed['remote_id']}/",
        "download_link": None,
        "error": f"Query failed for API-Key {secret}",
    }
    simulator.add_fault(
        "vainu",
        StatusFault(
            status=200,
            body=json.dumps(failure).encode(),
            content_type="application/json",
            path_prefix=jobs_path + failed["remote_id"],
        ),
    )

    downloads = tmp_path / "downloads"
    run(*watch_args(downloads, timeout=30), expect=1)  # one job failed
    for command in (["jobs"], ["jobs", "--json"], ["jobs", "--state", "failed"],
                    ["accounts", "list"], ["accounts", "list", "--json"]):  # fmt: skip
        run(*command)
    run("download", saved["id"])

    assert simulator.requests("vainu"), "the scenario reached the API"
    assert (downloads / ACCOUNT / saved["id"]).is_dir(), "the good job's result was saved"
    leaks = [name for name, text in outputs.items() if any(v in text for v in variants(secret))]
    assert not leaks, f"the secret appears in the output of {leaks}"

    data_dir = cli.data_dir
    files = sorted(tree(data_dir))
    assert "jobs.sqlite3" in files and any(name.startswith("logs/") for name in files)
    leaked_files = [
        name
        for name in files
        if any(v.encode() in (data_dir / name).read_bytes() for v in variants(secret))
    ]
    assert not leaked_files, f"the secret is stored in {leaked_files} (under {data_dir})"
    assert_no_credentials_at_storage(simulator, *variants(secret))
