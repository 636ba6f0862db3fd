"""A planted secret never leaves the keyring: not into the data dir, not onto the screen, not to
a storage origin — even when the API echoes it back.

The account's API key is the simulator's distinctive random token, sent as a header (the built-in
vainu provider) or as a query parameter (a query-auth profile of the same API). The simulator
echoes whatever key a request presented (`echo_secrets`: in every error body and in a `message`
of every job answer), and planted answers quote it too: a 401 to a submit, 500s to polls, a job's
failure message. Then every output of every command a user may run is searched for it (plain,
URL-encoded and base64), so is every file in the data dir (the SQLite file, its WAL and shared
memory, logs), and so is every request the storage origins received.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from jobdock.simulator import Simulator
from jobdock.simulator.faults import StatusFault
from jobdock.simulator.vainu import BASE_PATH
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.faults.harness import ACCOUNT, assert_no_credentials_at_storage, tree, watch_args

pytestmark = pytest.mark.slow

KEY_PARAM = "api_key"
# The vainu API again, authenticated by a query parameter instead of its API-Key header.
QUERY_PROFILE = f"""\
id = "vainu-query"
name = "Vainu, key in the query"
base_url = "http://127.0.0.1:9/api/v2"

[auth]
kind = "query"
name = "{KEY_PARAM}"

[submit]
method = "GET"
path = "companies/async/"
query = {{ async_format = "csv" }}

[fields]
id = "job_id"
status_url = "link"
state = "state"
error = ["error", "message", "detail"]

[states]
accepted = "queued"
process = "running"
completed = "succeeded"
failure = "failed"

[poll]
first_delay = 0.05
min = 0.05
max = 0.3

[[results]]
url = "download_link"
expiry = "presigned-url"
"""


def variants(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]


def answer(status: int, body: object, *, path_prefix: str) -> StatusFault:
    return StatusFault(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        path_prefix=path_prefix,
    )


@pytest.mark.parametrize("auth", ["header", "query"])
def test_a_secret_echoed_by_the_api_appears_in_no_output_file_or_storage_request(
    cli: Cli, simulator: Simulator, tmp_path: Path, auth: str
) -> None:
    secret = simulator.secret("vainu")
    simulator.config.echo_secrets = True
    global_args: list[str] = []
    provider = "vainu"
    if auth == "query":
        simulator.config.vainu_key_param = KEY_PARAM
        profile = tmp_path / "vainu-query.toml"
        profile.write_text(QUERY_PROFILE)
        global_args, provider = ["--profile", str(profile)], "vainu-query"
    outputs: dict[str, str] = {}

    def run(*args: str, expect: int | None = 0, stdin: str | None = None) -> str:
        done = cli(*global_args, *args, expect=expect, stdin=stdin)
        outputs[f"jobdock {' '.join(args)} (#{len(outputs)})"] = done.stdout + done.stderr
        return done.stdout

    base = simulator.base_url("vainu")
    run("accounts", "add", ACCOUNT, "--provider", provider, "--base-url", base, *FAST_POLLS,
        "--secret-stdin", stdin=secret + "\n")  # fmt: skip
    submit = ["submit", ACCOUNT, "--param", "async_format=csv", "--param", "sim_size=4096"]
    jobs_path = f"{BASE_PATH}/companies/async/"

    simulator.add_fault(
        "vainu", answer(401, {"detail": f"Invalid API key {secret}"}, path_prefix=jobs_path)
    )
    run(*submit, expect=1)  # the API refuses, quoting the key

    saved = json.loads(run(*submit, "--param", "sim_duration=1", "--json"))
    failed = json.loads(run(*submit, "--param", "sim_duration=1", "--json"))
    for _ in range(2):  # transient 500s on the polls of the job that will succeed
        simulator.add_fault(
            "vainu",
            answer(
                500,
                {"detail": f"upstream said: bad key {secret}"},
                path_prefix=jobs_path + saved["remote_id"],
            ),
        )
    failure = {
        "job_id": failed["remote_id"],
        "state": "failure",
        "link": f"{base}/companies/async/{failed['remote_id']}/",
        "download_link": None,
        "error": f"Query failed for API-Key {secret}",
    }
    simulator.add_fault("vainu", answer(200, failure, path_prefix=jobs_path + failed["remote_id"]))

    downloads = tmp_path / "downloads"
    run(*watch_args(downloads, timeout=30), expect=1)  # one job failed
    for command in (["jobs"], ["jobs", "--json"], ["jobs", "--state", "failed"],
                    ["accounts", "list"], ["accounts", "list", "--json"]):  # fmt: skip
        run(*command)
    run("download", saved["id"])

    assert any(r.status == 401 for r in simulator.requests("vainu")), "the 401 was answered"
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
