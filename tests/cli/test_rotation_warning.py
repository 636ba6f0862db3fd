"""docs/cli.md, "Warnings": a rotated refresh token the keyring refused to keep is one line on
stderr (`jobdock: warning: …`, redacted), and the command still does what it was asked with the
new token (exit 0)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pytest
from keyring.errors import KeyringLocked

from jobdock.cli.main import main
from jobdock.simulator import SimConfig, Simulator
from tests.support import file_keyring

PROVIDER = "salesforce-bulk-query"
BODY = json.dumps({"operation": "query", "query": "SELECT Id FROM Account"})


class LockingKeyring(file_keyring.FileKeyring):
    """The test file keyring, whose writes are refused once `locked` (a collection locked)."""

    locked = False

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.locked:
            raise KeyringLocked("test keyring: the collection is locked")
        super().set_password(service, username, password)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(salesforce_rotate_refresh_tokens=True)) as simulator:
        yield simulator


def test_a_rotated_refresh_token_not_kept_is_a_warning_line(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(file_keyring.FILE_VARIABLE, str(tmp_path / "keyring.json"))
    backend = LockingKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)

    def run(*args: str, stdin: str = "") -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        code = main(["--data-dir", str(tmp_path / "data"), *args], stdin=io.StringIO(stdin),
                    stdout=out)  # fmt: skip
        assert code == 0, (args, out.getvalue(), err.getvalue())
        return out.getvalue(), err.getvalue()

    named = sim.salesforce_oauth_secrets("refresh_token")
    run("accounts", "add", "org", "--provider", PROVIDER, "--base-url", sim.base_url(PROVIDER),
        "--option", "grant=refresh_token", "--secret-stdin",
        stdin="".join(f"{k}={v}\n" for k, v in named.items()))  # fmt: skip
    backend.locked = True
    out, err = run("submit", "org", "--path", "services/data/v62.0/jobs/query", "--body", BODY)
    assert out.strip()  # the job's id: submitted with the new token
    assert err.startswith(
        "jobdock: warning: account org: the token endpoint rotated its refresh token and the "
        "new one was not saved in the keyring: it is used until this process ends, then the "
        "account needs adding again with a new refresh token (no usable OS keyring: "
    )
    assert err.count("\n") == 1 and "KeyringLocked" in err
    given = sim.salesforce_refresh_tokens()
    assert len(given) == 2 and not any(t in out + err for t in given)
    kept = json.loads((tmp_path / "keyring.json").read_text())["jobdock"]["org"]
    assert json.loads(kept)["refresh_token"] == given[0]  # the write was refused
