"""The bundled `mailchimp-batches` profile through the real CLI against the simulator's Mailchimp
(docs/profiles/mailchimp-batches.md): a batch of the guide's own operations started with Basic
auth (any user name, the API key), followed by id until `finished`, and its `.tar.gz` of
responses saved as served from the pre-signed `response_body_url`, which gets no credential. A
batch whose operations all fail still finishes (the vocabulary has no failure). Its progress is
`finished_operations` of `total_operations`."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from jobdock.simulator import Simulator
from jobdock.simulator.config import FakeClock, SimConfig
from tests.e2e.conftest import Cli, add_account
from tests.e2e.profiles.support import assert_credentials_only_at, assert_in_keyring, saved_job
from tests.support.processes import stop_process
from tests.support.waiting import wait_until

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
    assert_in_keyring(cli, account, [simulator.secret("mailchimp-batches")])
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


def test_a_running_batch_shows_the_share_of_its_operations_finished(
    cli: Cli, tmp_path: Path
) -> None:
    # The simulator's clock stands still half-way through the batch's run: the watch sees it
    # `started` with some of its operations finished, however slow the machine.
    clock = FakeClock(start=time.time())
    config = SimConfig(queue_time=1.0, run_time=4.0, result_size=48 * 1024, clock=clock)
    with Simulator(config) as simulator:
        account = add_account(cli, simulator, "mailchimp-batches", "mc")
        job = cli.json("submit", account, "--body", json.dumps(BATCH), "--json")
        assert job["progress"] == 0.0  # pending: 0 of 3 operations finished
        clock.advance(3.0)  # half-way through the run: 1 of 3 finished (the fake's own pace)
        out = tmp_path / "watch.txt"
        with out.open("wb") as sink:
            watch = subprocess.Popen(
                [sys.executable, "-m", "jobdock", "watch", "--until-done", "--timeout", "120"],
                env=cli.env, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:

            def running() -> dict[str, object] | None:
                (seen,) = cli.json("jobs", "--json")
                return seen if seen["remote_state"] == "started" else None

            seen = wait_until(running, timeout=60, what="the watch to see the batch started")
            assert seen["state"] == "running"
            progress = seen["progress"]
            assert isinstance(progress, float) and 0 < progress < 100, seen
            assert abs(progress - 100 / 3) < 0.01, seen  # 1 of 3 operations
            clock.advance(10.0)
            assert watch.wait(timeout=120) == 0, out.read_text()
        finally:
            stop_process(watch)  # type: ignore[arg-type]
        done = saved_job(cli, simulator, "mailchimp-batches")
        assert done["progress"] == 100.0
