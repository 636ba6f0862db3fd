"""The bundled `google-lro` profile through the real CLI against the simulator's AIP-151 API and
its OAuth 2.0 token endpoint (docs/profiles/google-lro.md): an account with a client id, client
secret and refresh token on stdin, the Video Intelligence API's documented `videos:annotate`
request, an operation followed by its name until `done`, and the finished operation saved as it
was served. The token endpoint gets the client secret and the refresh token, the API only the
access tokens it issued, and no other host anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobdock.simulator import Simulator
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.e2e.profiles.support import assert_credentials_only_at, assert_in_keyring, saved_files

REQUEST = {"inputUri": "gs://cloud-samples-data/video/cat.mp4", "features": ["LABEL_DETECTION"]}


def add_account(cli: Cli, sim: Simulator) -> dict[str, str]:
    named = sim.google_oauth_secrets()
    stdin = "".join(f"{k}={v}\n" for k, v in named.items())
    cli("accounts", "add", "g", "--provider", "google-lro", "--base-url",
        sim.base_url("google-lro"), "--option", f"token_url={sim.origin('google-oauth')}/token",
        *FAST_POLLS, "--secret-stdin", stdin=stdin)  # fmt: skip
    assert_in_keyring(cli, "g", named.values())
    return named


def test_an_operation_is_followed_by_name_and_saved_as_served(simulator: Simulator, cli: Cli):
    named = add_account(cli, simulator)
    job = cli.json("submit", "g", "--path", "v1/videos:annotate", "--body", json.dumps(REQUEST),
                   "--json")  # fmt: skip
    name = job["remote_id"]
    assert name.startswith("projects/") and "/locations/us-east1/operations/" in name
    assert job["state"] == "queued"  # the answer is the operation's name only
    assert job["status_url"] == f"{simulator.base_url('google-lro')}/v1/{name}"
    cli("watch", "--until-done", "--timeout", "60")
    failing = cli.json("submit", "g", "--path", "v1/videos:annotate", "--param",
                       "sim_outcome=fail", "--body", json.dumps(REQUEST), "--json")  # fmt: skip
    cli("watch", "--until-done", "--timeout", "60", expect=1)  # a job failed
    jobs = {j["remote_id"]: j for j in cli.json("jobs", "--json")}
    done, failed = jobs[name], jobs[failing["remote_id"]]
    assert (done["state"], done["remote_state"], done["progress"]) == ("succeeded", "response", 100)
    served = simulator.expected_results("google-lro", name)
    assert saved_files(done) == served and len(served) == 1
    assert json.loads(served[0])["response"]["annotationResults"][0]["segmentLabelAnnotations"]
    assert [Path(r["path"]).name for r in done["results"]] == [
        "operation-" + name.replace("/", "_") + ".json"
    ]
    assert (failed["state"], failed["remote_state"]) == ("failed", "3")
    assert failed["error"] == "Invalid video: the input could not be decoded (simulated)."

    api = simulator.requests("google-lro")
    tokens = simulator.google_access_tokens()
    assert api and all(r.headers["authorization"].removeprefix("Bearer ") in tokens for r in api)
    assert {r.status for r in api} == {200}
    posts = [r for r in api if r.method == "POST"]
    assert [json.loads(r.body) for r in posts] == [REQUEST, REQUEST]
    grants = simulator.requests("google-oauth")
    assert grants and all((r.method, r.path, r.status) == ("POST", "/token", 200) for r in grants)
    assert all("authorization" not in r.headers for r in grants)
    secrets = [named["client_secret"], named["refresh_token"]]
    for r in api:  # the API sees access tokens only
        assert not any(
            s in " ".join([*r.headers.values(), r.query, r.body.decode()]) for s in secrets
        )
    assert_credentials_only_at(simulator, {"google-lro", "google-oauth"}, [*secrets, *tokens])


def test_a_cancelled_operation_and_a_bad_refresh_token(simulator: Simulator, cli: Cli):
    add_account(cli, simulator)
    job = cli.json("submit", "g", "--param", "sim_outcome=cancel", "--json")  # the default request
    cli("watch", "--until-done", "--timeout", "60", expect=1)
    (listed,) = cli.json("jobs", "--json")
    assert (listed["remote_id"], listed["state"], listed["remote_state"]) == (
        job["remote_id"], "cancelled", "1")  # fmt: skip
    assert listed["error"] == "Operation was cancelled."
    stdin = "client_id=x\nclient_secret=y\nrefresh_token=z\n"
    token_url = f"token_url={simulator.origin('google-oauth')}/token"
    add = ["accounts", "add", "bad", "--provider", "google-lro"]
    add += ["--base-url", simulator.base_url("google-lro"), "--option", token_url]
    cli(*add, "--secret-stdin", stdin=stdin)
    refused = cli("submit", "bad", expect=None)
    assert refused.returncode != 0
    assert "y" not in refused.stdout.split() and "client_secret=y" not in refused.stderr
    assert [r.status for r in simulator.requests("google-oauth")][-1] == 401


@pytest.mark.keyring
def test_named_secrets_live_in_a_real_secret_service(
    simulator: Simulator, secret_service_env: dict[str, str], tmp_path: Path
) -> None:
    """The three named secrets go into the desktop's Secret Service (gnome-keyring here) as the
    account's one keyring entry, a later process reads them from there to exchange a token, and
    removing the account takes them out again."""
    env = {
        **secret_service_env,
        "JOBDOCK_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(Path(__file__).parents[3]),
    }
    cli = Cli(env=env)
    named = add_account(cli, simulator)
    assert json.loads(_keyring_lookup(env, "g")) == named  # one entry holds all three
    cli("submit", "g", "--path", "v1/videos:annotate", "--body", json.dumps(REQUEST))
    cli("watch", "--until-done", "--timeout", "60")
    (job,) = cli.json("jobs", "--json")
    assert job["state"] == "succeeded" and saved_files(job) == simulator.expected_results(
        "google-lro", job["remote_id"]
    )
    assert simulator.requests("google-oauth"), "a token was exchanged with the stored secrets"
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(v.encode() in data for v in named.values() if len(v) > 8), path
    cli("accounts", "remove", "g")
    assert _keyring_lookup(env, "g") == "None"


def _keyring_lookup(env: dict[str, str], account: str) -> str:
    """What a separate process reads from the keyring: the secrets really are stored there."""
    code = f"import keyring; print(keyring.get_password('jobdock', {account!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()
