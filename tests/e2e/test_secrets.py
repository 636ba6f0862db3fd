"""A server that echoes the key it was given, through the real CLI: the key (and its URL-quoted and
base64 forms) never reaches `jobs --json`, `jobs`, `submit`/`watch` output, the stored events,
the log file or any byte of the data dir, for a query-auth profile and a header-auth provider;
the storage origin never sees it either. Where the server echoed it, `[REDACTED]` stands."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit

from jobdock.simulator import SimConfig, Simulator
from jobdock.simulator.faults import StatusFault
from tests.e2e.conftest import FAST_POLLS, Cli

VAINU_PROFILE = Path(__file__).parents[2] / "gui/jobdock/core/providers/profiles/bundled/vainu.toml"


def _query_vainu() -> str:
    """The bundled vainu profile, authenticating with a query parameter instead of a header."""
    text = VAINU_PROFILE.read_text()
    text = text.replace('id = "vainu"', 'id = "qvainu"').replace('name = "Vainu"', 'name = "QV"')
    return text.replace('kind = "header"\nname = "API-Key"', 'kind = "query"\nname = "api_key"')


def _forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]


def _json_error(message: str) -> bytes:
    return json.dumps({"detail": message}).encode()


def test_echoed_keys_never_reach_any_output_or_the_data_dir(
    tmp_path: Path, file_keyring_env: dict[str, str]
) -> None:
    config = SimConfig(
        queue_time=0.1, run_time=0.3, result_size=16 * 1024,
        echo_secrets=True, vainu_key_param="api_key",
    )  # fmt: skip
    profiles = tmp_path / "config/jobdock/profiles"
    profiles.mkdir(parents=True)
    (profiles / "qvainu.toml").write_text(_query_vainu())
    cli = Cli(env={**file_keyring_env, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    outputs: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = cli(*args, expect=expect)
        outputs.append(done)
        return done

    with Simulator(config) as sim:
        secrets = [sim.secret("vainu"), sim.secret("testo")]
        for name, provider in (("q", "qvainu"), ("t", "testo")):
            add = ["accounts", "add", name, "--provider", provider, *FAST_POLLS]
            source = "vainu" if provider == "qvainu" else provider
            cli(*add, "--base-url", sim.base_url(source), "--secret-stdin",
                stdin=sim.secret(source) + "\n")  # fmt: skip

        # A submit refused with a body that names the key: the error line is redacted.
        sim.add_fault("vainu", StatusFault(status=401, body=_json_error("Invalid API key"),
                                           content_type="application/json"))  # fmt: skip
        refused = run("submit", "q", expect=1)
        assert "[REDACTED]" in refused.stderr and "401" in refused.stderr

        ok = json.loads(run("submit", "q", "--json").stdout)
        failing = json.loads(run("submit", "q", "--param", "sim_outcome=fail", "--json").stdout)
        denied = json.loads(run("submit", "q", "--json").stdout)
        testo = json.loads(run("submit", "t", "--json").stdout)
        for job, server, status, times in (
            (ok, "vainu", 500, 2), (denied, "vainu", 401, 1), (testo, "testo", 500, 2),
        ):  # fmt: skip
            path = urlsplit(job["status_url"]).path
            fault = StatusFault(
                status=status,
                body=_json_error("backend trouble"),
                content_type="application/json",
                times=times,
                path_prefix=path,
            )
            sim.add_fault(server, fault)  # fmt: skip
        run("watch", "--until-done", "--timeout", "60", expect=1)
        listed = run("jobs", "--json")
        run("jobs")
        jobs = {j["id"]: j for j in json.loads(listed.stdout)}

        # The server did echo: every answer of these fakes named the key it was given.
        vainu_requests = sim.requests("vainu")
        assert vainu_requests and all(
            f"api_key={quote(secrets[0], safe='')}" in r.query for r in vainu_requests
        )
        storage = sim.requests("storage")
        assert storage  # the results were fetched from the storage origin ...
        for request in storage:  # ... which never saw a key, in the query or a header
            seen = request.query + " ".join(request.headers.values())
            assert not any(form in seen for s in secrets for form in _forms(s))

    assert jobs[ok["id"]]["state"] == jobs[testo["id"]]["state"] == "succeeded"
    assert all(r["download_state"] == "done" for r in jobs[ok["id"]]["results"])
    assert jobs[failing["id"]]["state"] == jobs[denied["id"]]["state"] == "failed"
    assert "[REDACTED]" in jobs[failing["id"]]["error"]
    assert "[REDACTED]" in jobs[denied["id"]]["error"]
    db = sqlite3.connect(cli.data_dir / "jobs.sqlite3")
    try:
        events = [kind for kind, m in db.execute("SELECT kind, message FROM events")
                  if "[REDACTED]" in m]  # fmt: skip
        answers = [a for (a,) in db.execute("SELECT last_response FROM jobs") if a]
    finally:
        db.close()
    assert events.count("poll-error") >= 4, events  # two 500s on each of two jobs, and the 401
    assert any("[REDACTED]" in a for a in answers)  # the `message` of vainu's job answers

    for done in outputs:
        for text in (done.stdout, done.stderr):
            assert not any(form in text for s in secrets for form in _forms(s)), text
    files = [p for p in cli.data_dir.rglob("*") if p.is_file()]
    assert cli.data_dir / "jobs.sqlite3" in files
    for path in files:
        data = path.read_bytes()
        for form in (f.encode() for s in secrets for f in _forms(s)):
            assert form not in data, path
