"""What `watch` prints, as docs/cli.md's "watch" and "watch --json" give it: `-q` prints only the
stderr lines, `-v` adds the job events, a poll retry and a download retry reach stderr while the
watch runs, the timeout is said on stderr, and `--json` emits `progress`, `retry`,
`download_failed`, `timeout` and `note` events with exactly the documented keys. The real
`python -m jobdock` against the simulator on 127.0.0.1; every wait is on a condition."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobdock.simulator import Simulator
from jobdock.simulator.faults import StatusFault, StorageFault
from tests.e2e.conftest import Cli, add_account
from tests.support.waiting import wait_until

JOBDOCK = [sys.executable, "-m", "jobdock"]
BASE = {"event", "at"}
RESULT = {"url", "expires_at", "download_state", "path", "bytes", "error", "sha256", "verified",
          "retry_at", "held"}  # fmt: skip
KEYS = {  # docs/cli.md, "watch --json"
    "progress": BASE | {"job_id", "index", "done", "total", "speed", "eta"},
    "retry": BASE | {"job_id", "what", "message"},
    "download_failed": BASE | {"job_id", "account", "index"} | RESULT,
    "timeout": BASE | {"unsettled"},
    "note": BASE | {"message"},
}


def submit(cli: Cli, account: str, *params: str) -> str:
    return str(cli("submit", account, *(a for p in params for a in ("--param", p))).stdout.strip())


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def of_kind(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    chosen = [e for e in found if e["event"] == kind]
    for event in chosen:
        assert set(event) == KEYS[kind], event
    return chosen


@dataclass
class Running:
    """A `jobdock watch` running on its own, its stdout and stderr in files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def out(self) -> str:
        return self.stdout.read_text()

    def err(self) -> str:
        return self.stderr.read_text()

    def wait_for(self, text: str, *, where: str = "err") -> None:
        """Until `text` is on stderr (or stdout) while the watch still runs."""

        def seen() -> bool:
            assert self.process.poll() is None, f"watch ended: {self.out()} {self.err()}"
            return text in (self.err() if where == "err" else self.out())

        wait_until(seen, timeout=60, what=f"{text!r} on std{where} of the running watch")

    def interrupt(self) -> int:
        """Stop it as Ctrl+C does; its exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)


@contextmanager
def running(cli: Cli, tmp_path: Path, *args: str) -> Iterator[Running]:
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([*JOBDOCK, "watch", *args], env=cli.env, stdout=stdout,
                                   stderr=stderr, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        yield Running(process, out, err)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def worker_pid(cli: Cli) -> int | None:
    worker = cli.json("status", "--json")["worker"]
    return int(worker["pid"]) if worker else None


def test_quiet_prints_only_the_stderr_lines(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    failed = submit(cli, account, "sim_outcome=fail")
    submit(cli, account, "async_format=csv")
    watch = cli("watch", "--until-done", "--timeout", "60", "-q", expect=1)
    assert watch.stdout == ""  # no state lines, no saved lines, no summary
    lines = watch.stderr.splitlines()
    assert lines and all(line.startswith("jobdock: ") for line in lines), watch.stderr
    assert any(line.startswith(f"jobdock: job {failed} ({account}) failed: ") for line in lines)


def test_verbose_adds_the_job_events(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    job_id = submit(cli, account, "async_format=csv")
    plain = cli("watch", "--until-done", "--timeout", "60")  # settles it: nothing to say
    assert f"{job_id} saved " in plain.stdout
    other = submit(cli, account, "async_format=csv")
    loud = cli("watch", "--until-done", "--timeout", "60", "-v")
    # `JOB KIND: message` lines, which the plain watch has none of
    assert f"\n{other} state: succeeded" in loud.stdout, loud.stdout
    assert f"\n{other} saved: " in loud.stdout, loud.stdout
    assert not re.search(rf"^{job_id} [\w-]+: ", plain.stdout, re.MULTILINE), plain.stdout
    assert f"{other} {account} succeeded" in loud.stdout and f"{other} saved " in loud.stdout
    assert loud.stdout.splitlines()[-1].startswith("watched 1 job for "), loud.stdout


def test_a_poll_retry_reaches_stderr_while_the_watch_runs(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    account = add_account(cli, simulator, "vainu")
    job_id = submit(cli, account, "async_format=csv")
    simulator.add_fault("vainu", StatusFault(status=503, body=b"busy", times=1))
    with running(cli, tmp_path, "--json") as watch:
        watch.wait_for(f"jobdock: job {job_id}: ")
        watch.wait_for("; polling again")
        watch.wait_for('"event": "saved"', where="out")  # the retried poll went on to the end
        assert watch.interrupt() == 130
    line = next(x for x in watch.err().splitlines() if x.endswith("; polling again"))
    assert line.startswith(f"jobdock: job {job_id}: ") and "503" in line, line
    (retry,) = of_kind(events(watch.out()), "retry")
    assert retry["job_id"] == job_id and retry["what"] == "poll"
    assert line == f"jobdock: job {job_id}: {retry['message']}; polling again"
    assert events(watch.out())[-1]["reason"] == "SIGINT"


def test_a_download_retry_reaches_stderr_while_the_watch_runs(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    account = add_account(cli, simulator, "vainu")
    simulator.storage.add_fault(StorageFault(reset_at=[0.5]))  # the connection drops mid-body
    job_id = submit(cli, account, "async_format=csv", f"sim_size={4 * 1024 * 1024}")
    with running(cli, tmp_path, "--json") as watch:
        watch.wait_for("; retrying")
        watch.wait_for('"event": "saved"', where="out")
        assert watch.interrupt() == 130
    line = next(x for x in watch.err().splitlines() if x.endswith("; retrying"))
    assert line.startswith(f"jobdock: job {job_id}: "), line
    retries = of_kind(events(watch.out()), "retry")
    assert [(r["job_id"], r["what"]) for r in retries] == [(job_id, "download")]
    assert line == f"jobdock: job {job_id}: {retries[0]['message']}"


def test_the_timeout_is_said_on_stderr_and_in_json(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    submit(cli, account, "sim_duration=120")
    human = cli("watch", "--until-done", "--timeout", "0.5", expect=3)
    said = "jobdock: timeout reached after 0.5 s before every job settled (1 still unsettled)"
    assert said in human.stderr.splitlines(), human.stderr
    assert re.match(r"watched 1 job for \d+:\d\d \(timeout\): 1 (queued|running); ",
                    human.stdout.splitlines()[-1]), human.stdout  # fmt: skip
    machine = cli("watch", "--until-done", "--timeout", "0.5", "--json", expect=3)
    assert said in machine.stderr.splitlines()  # stderr is the same with --json
    found = events(machine.stdout)
    (timeout,) = of_kind(found, "timeout")
    assert timeout["unsettled"] == 1
    assert found[-1]["event"] == "summary" and found[-1]["reason"] == "timeout"
    assert found[-1]["exit_code"] == 3


def test_json_progress_events_while_a_file_downloads(cli: Cli, simulator: Simulator) -> None:
    simulator.storage.add_fault(StorageFault(rate=1024 * 1024))  # 4 MiB in about 4 s
    account = add_account(cli, simulator, "vainu")
    job_id = submit(cli, account, "async_format=csv", f"sim_size={4 * 1024 * 1024}")
    found = events(cli("watch", "--until-done", "--timeout", "60", "--json").stdout)
    progress = of_kind(found, "progress")
    assert progress and {p["job_id"] for p in progress} == {job_id}, found
    assert all(p["index"] == 0 and p["total"] == 4 * 1024 * 1024 for p in progress)
    assert all(0 <= p["done"] <= p["total"] for p in progress)
    done = [p["done"] for p in progress]
    assert done == sorted(done)
    assert found[-1]["files_saved"] == 1


def test_json_download_failed_when_a_link_stays_expired(cli: Cli, simulator: Simulator) -> None:
    simulator.storage.add_fault(StorageFault(expire_at=0.0, times=20))  # every link refused
    account = add_account(cli, simulator, "vainu")
    job_id = submit(cli, account, "async_format=csv")
    watch = cli("watch", "--until-done", "--timeout", "60", "--json", expect=1)
    found = events(watch.stdout)
    (failed,) = of_kind(found, "download_failed")
    assert (failed["job_id"], failed["account"], failed["index"]) == (job_id, account, 0)
    assert failed["download_state"] == "expired" and failed["error"] and failed["path"] is None
    assert f"jobdock: job {job_id}: file 1 expired: " in watch.stderr
    assert found[-1]["files_failed"] == 1 and found[-1]["exit_code"] == 1


def test_json_note_when_another_process_is_the_worker(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    add_account(cli, simulator, "vainu")
    with running(cli, tmp_path) as worker:
        wait_until(lambda: worker_pid(cli) == worker.process.pid, timeout=60,
                   what="the first watch to be the worker")  # fmt: skip
        follower = cli("watch", "--until-done", "--timeout", "60", "--json")
        assert worker.interrupt() == 130
    found = events(follower.stdout)
    notes = of_kind(found, "note")
    assert f"pid {worker.process.pid} on " in notes[0]["message"]
    assert notes[0]["message"].endswith(" is the worker for this data dir; following its work")
    assert found[0]["event"] == "start" and found[0]["worker"] is False
