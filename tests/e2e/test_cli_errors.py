"""Bad input and hostile conditions through the CLI: one clear line on stderr, the documented
exit code, nothing corrupted; secrets never leave the keyring; the real Secret Service works."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jobdock.simulator import Simulator
from tests.e2e.conftest import FAST_POLLS, Cli, add_account
from tests.support import file_keyring


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("jobdock: ")
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _store_is_sound(cli: Cli) -> None:
    db = sqlite3.connect(cli.data_dir / "jobs.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def test_unknown_account(cli: Cli) -> None:
    done = cli("submit", "nobody", expect=2)
    _one_line_error(done, "unknown account 'nobody'")


def test_unknown_provider(cli: Cli) -> None:
    done = cli(
        "accounts", "add", "x", "--provider", "nope", "--secret-stdin", stdin="s\n", expect=2
    )
    _one_line_error(done, "unknown provider 'nope'", "vainu")
    assert cli.json("accounts", "list", "--json") == []


def test_bad_usage(cli: Cli) -> None:
    _one_line_error(cli("jobs", "--state", "bogus", expect=2), "invalid choice")
    _one_line_error(cli("frobnicate", expect=2))
    _one_line_error(cli("download", "nojob", expect=2), "unknown job 'nojob'")


def test_malformed_body(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "testo")
    done = cli("submit", account, "--body", '{"time_range": ', expect=2)
    _one_line_error(done, "malformed JSON in --body")
    assert cli.json("jobs", "--json") == []
    assert not simulator.requests("testo")  # nothing was sent
    _store_is_sound(cli)


def test_unreachable_base_url(cli: Cli) -> None:
    port = _free_port()
    cli("accounts", "add", "dead", "--provider", "vainu", "--base-url",
        f"http://127.0.0.1:{port}/api/v2", "--secret-stdin", stdin="k3y-k3y\n")  # fmt: skip
    done = cli("submit", "dead", expect=1)
    _one_line_error(done, "cannot connect to 127.0.0.1")
    assert cli.json("jobs", "--json") == []
    _store_is_sound(cli)


def test_wrong_secret_is_an_auth_error(cli: Cli, simulator: Simulator) -> None:
    cli("accounts", "add", "v", "--provider", "vainu", "--base-url", simulator.base_url("vainu"),
        "--secret-stdin", stdin="wrong-key\n")  # fmt: skip
    done = cli("submit", "v", expect=1)
    line = _one_line_error(done, "401")
    assert "wrong-key" not in line


@pytest.mark.parametrize("provider", ["vainu", "testo", "cisco-cce", "generic-202", "shoptet"])
def test_accounts_test_checks_reachability_and_secret(
    cli: Cli, simulator: Simulator, provider: str
) -> None:
    account = add_account(cli, simulator, provider)
    assert "credentials accepted" in cli("accounts", "test", account).stdout
    user = ["--user", "administrator"] if provider == "cisco-cce" else []
    cli(
        *("accounts", "add", account, "--provider", provider, "--base-url"),
        *(simulator.base_url(provider), *user, "--secret-stdin"),
        stdin="wrong-secret\n",
    )
    _one_line_error(cli("accounts", "test", account, expect=1), "check the account")


def test_secret_is_not_accepted_on_the_command_line(cli: Cli) -> None:
    done = cli("accounts", "add", "x", "--provider", "vainu", "--secret", "s3cr3t", expect=2)
    _one_line_error(done)
    empty = cli("accounts", "add", "x", "--provider", "vainu", "--secret-stdin", stdin="", expect=2)
    _one_line_error(empty, "no secret on standard input")


@pytest.mark.parametrize("backend", [file_keyring.FAIL_BACKEND, file_keyring.BROKEN_BACKEND])
def test_keyring_unavailable_exits_4_with_the_fix(
    cli: Cli, simulator: Simulator, backend: str
) -> None:
    account = add_account(cli, simulator, "vainu")
    cli("submit", account)
    broken = Cli(env={**cli.env, "PYTHON_KEYRING_BACKEND": backend})
    line = _one_line_error(broken("submit", account, expect=4), "keyring")
    assert "gnome-keyring" in line or "PYTHON_KEYRING_BACKEND" in line
    _one_line_error(broken("watch", "--until-done", "--timeout", "5", expect=4), "keyring")
    add = broken("accounts", "add", "n", "--provider", "vainu", "--secret-stdin",
                 stdin="x-secret\n", expect=4)  # fmt: skip
    _one_line_error(add, "keyring")
    # listing needs no secret and still works
    assert [j["account"] for j in broken.json("jobs", "--json")] == [account]


def test_planted_secret_never_reaches_disk_or_output(cli: Cli, simulator: Simulator) -> None:
    secret = simulator.secret("vainu")
    account = add_account(cli, simulator, "vainu")
    outputs = [
        cli("submit", account, "--json").stdout,
        cli("watch", "--until-done", "--timeout", "60").stdout,
        cli("jobs", "--json").stdout,
        cli("jobs").stdout,
        cli("accounts", "list", "--json").stdout,
        cli("accounts", "list").stdout,
    ]
    wrong = cli("submit", account, "--param", "sim_outcome=fail")  # some errors in the log too
    outputs += [wrong.stdout, wrong.stderr]
    assert not any(secret in text for text in outputs)
    files = [p for p in cli.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "jobdock.log" for p in files)
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


@pytest.mark.keyring
def test_real_secret_service_keyring(
    simulator: Simulator, secret_service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **secret_service_env,
        "JOBDOCK_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    cli = Cli(env=env)
    account = "ss-vainu"
    added = cli(
        *("accounts", "add", account, "--provider", "vainu"),
        *("--base-url", simulator.base_url("vainu"), *FAST_POLLS, "--secret-stdin"),
        stdin=simulator.secret("vainu") + "\n",
    )
    assert "SecretService" in added.stdout or "Secret Service" in added.stdout
    assert _keyring_lookup(env, account) == simulator.secret("vainu")
    job_id = cli("submit", account).stdout.strip()
    cli("watch", "--until-done", "--timeout", "60")
    job = cli.json("jobs", "--json")[0]
    assert job["id"] == job_id and job["results"][0]["download_state"] == "done"
    cli("accounts", "remove", account)
    assert _keyring_lookup(env, account) == "None"
    assert cli.json("jobs", "--json")[0]["orphaned"] is True


def _keyring_lookup(env: dict[str, str], account: str) -> str:
    """What a separate process reads from the keyring: the secret really is stored there."""
    code = f"import keyring; print(keyring.get_password('jobdock', {account!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
