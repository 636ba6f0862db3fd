"""What every bundled profile's end-to-end test checks once the CLI has saved a job."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from jobdock.simulator import Simulator
from tests.e2e.conftest import FAST_POLLS, Cli


def add_profile_account(cli: Cli, sim: Simulator, provider: str, name: str) -> None:
    """`accounts add` against the simulator's fake of `provider`, the secret on stdin; it is
    then in the test's Secret Service (tests/e2e/profiles/conftest.py)."""
    add = ["accounts", "add", name, "--provider", provider, "--base-url", sim.base_url(provider)]
    cli(*add, *FAST_POLLS, "--secret-stdin", stdin=sim.secret(provider) + "\n")
    assert_in_keyring(cli, name, [sim.secret(provider)])


def assert_in_keyring(cli: Cli, name: str, values: Iterable[str]) -> None:
    """The account `name` has its one item in the test's Secret Service, holding exactly
    `values` (its one secret, or its named secrets); an empty `values`: it has none there."""
    values = list(values)
    stored = [i for i in keyring_items(cli) if i.get("username") == name]
    if not values:
        assert stored == [], stored
        return
    assert len(stored) == 1 and stored[0].get("service") == "jobdock", stored
    assert sorted(secret_values(stored[0])) == sorted(values), stored


_READ_KEYRING = """
import json, secretstorage
connection = secretstorage.dbus_init()
collection = secretstorage.get_default_collection(connection)
items = [dict(item.get_attributes(), secret=item.get_secret().decode())
         for item in collection.get_all_items()]
print(json.dumps(items))
"""


def keyring_items(cli: Cli) -> list[dict[str, str]]:
    """Every item of the test's Secret Service, as a separate process reads it."""
    done = subprocess.run(
        [sys.executable, "-c", _READ_KEYRING],
        env=cli.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    items: list[dict[str, str]] = json.loads(done.stdout)
    return items


def secret_values(item: dict[str, str]) -> list[str]:
    """The values an item holds: one secret, or an account's named secrets (a JSON object)."""
    try:
        named = json.loads(item["secret"])
    except ValueError:
        return [item["secret"]]
    if isinstance(named, dict):
        return [str(v) for v in named.values()]
    return [item["secret"]]


def saved_job(cli: Cli, sim: Simulator, provider: str) -> dict[str, object]:
    """The one job, succeeded, every result saved with exactly the bytes the fake served."""
    (job,) = json.loads(cli("jobs", "--json").stdout)
    assert job["state"] == "succeeded", job
    files = [Path(r["path"]).read_bytes() for r in job["results"]]
    assert files == sim.expected_results(provider, job["remote_id"])
    assert files and all(files)
    return job  # type: ignore[no-any-return]


def assert_secret_stayed_home(sim: Simulator, provider: str) -> None:
    """The account's secret reached the fake's own origin only (every request there carried
    it), never the storage or any other host."""
    secret = sim.secret(provider)
    home = sim.requests(provider)
    assert home and all(secret in " ".join(r.headers.values()) for r in home)
    assert_credentials_only_at(sim, {provider}, [secret])


def saved_files(job: dict[str, Any]) -> list[bytes]:
    """The bytes of each file the job saved, in its results' order."""
    return [Path(r["path"]).read_bytes() for r in job["results"]]


def assert_credentials_only_at(
    sim: Simulator, allowed: Collection[str], credentials: Iterable[str]
) -> None:
    """No request to a simulator origin outside `allowed` carried any of `credentials` (in a
    header, the path, the query or the body), nor any `Authorization` header."""
    secrets = [c for c in credentials if c]
    for req in sim.requests():
        if req.server in allowed:
            continue
        assert "authorization" not in req.headers, (req.server, req.path)
        seen = " ".join([*req.headers.values(), req.path, req.query, req.body.decode("latin-1")])
        assert not any(s in seen for s in secrets), (req.server, req.path)
