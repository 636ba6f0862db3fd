"""The bundled `mailchimp-batches` profile through the real CLI against the simulator's Mailchimp
(docs/profiles/mailchimp-batches.md): a batch of the guide's own operations started with Basic
auth (any user name, the API key), followed by id until `finished`, and its `.tar.gz` of
responses saved as served from the pre-signed `response_body_url`, which gets no credential. A
batch whose operations all fail still finishes (the vocabulary has no failure)."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli, add_account
from tests.e2e.profiles.support import assert_credentials_only_at, saved_job

# https://mailchimp.com/developer/marketing/guides/run-async-requests-batch-endpoint/:
# "Make a batch request", adding contacts to an audience, each operation's body a JSON string
BATCH = {
    "operations": [
        {
            "method": "POST",
            "path": "/lists/4ca5becb8d/members",
            "operation_id": f"contact-{n}",
            "body": json.dumps({"email_address": f"user{n}@example.com", "status": "subscribed"}),
        }
        for n in range(3)
    ]
}


def assert_key_stayed_home(sim: Simulator) -> None:
    """The API key (as Basic credentials) reached Mailchimp's origin only, and every request
    there carried it."""
    key = sim.secret("mailchimp-batches")
    basic = base64.b64encode(f"anystring:{key}".encode()).decode()
    home = sim.requests("mailchimp-batches")
    assert home and all(r.headers["authorization"] == f"Basic {basic}" for r in home)
    assert_credentials_only_at(sim, {"mailchimp-batches"}, [key, basic])


def test_a_batch_is_followed_and_its_archive_saved_as_served(cli: Cli, simulator: Simulator):
    account = add_account(cli, simulator, "mailchimp-batches", "mc")
    job = cli.json("submit", account, "--body", json.dumps(BATCH), "--json")
    batch_id = job["remote_id"]
    assert len(batch_id) == 10 and job["state"] == "queued"  # "status": "pending"
    assert job["status_url"] == f"{simulator.base_url('mailchimp-batches')}/3.0/batches/{batch_id}"
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "mailchimp-batches")
    (path,) = (Path(r["path"]) for r in saved["results"])  # type: ignore[attr-defined]
    assert path.name == f"mailchimp-batch-{batch_id}.tar.gz"
    assert any(
        r.path.endswith(f"/{batch_id}-response.tar.gz") for r in simulator.requests("storage")
    )
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        results = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    assert [r["operation_id"] for r in results] == ["contact-0", "contact-1", "contact-2"]
    assert {r["status_code"] for r in results} == {200}
    api = simulator.requests("mailchimp-batches")
    assert (api[0].method, api[0].path, json.loads(api[0].body)) == ("POST", "/3.0/batches", BATCH)
    assert api[1:] and {(r.method, r.path) for r in api[1:]} == {
        ("GET", f"/3.0/batches/{batch_id}")
    }
    assert_key_stayed_home(simulator)


def test_a_batch_of_failing_operations_still_finishes(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "mailchimp-batches", "mc")
    # the profile's own request (two GETs); every operation answers an error
    cli("submit", account, "--param", "sim_outcome=fail")
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "mailchimp-batches")
    assert saved["remote_state"] == "finished"
    (path,) = (Path(r["path"]) for r in saved["results"])  # type: ignore[attr-defined]
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        results = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    assert [(r["operation_id"], r["status_code"]) for r in results] == [
        ("lists", 400),
        ("campaigns", 400),
    ]
    assert_key_stayed_home(simulator)
