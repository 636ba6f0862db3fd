"""Issue 14's CLI: what `watch` says while files download (lines off a terminal, the live line
on a pty), `--until-done` after an old failure, a closed pipe, SIGTERM mid-download, completion
scripts, global options after the sub-command, and the demo kept between runs. All run the real
`python -m jobdock` against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobdock.core.model.job import Job, JobState
from jobdock.core.store.jobs import JobStore
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from tests.e2e.conftest import Cli, add_account
from tests.support.tools import require_tools
from tests.support.waiting import wait_until

JOBDOCK = [sys.executable, "-m", "jobdock"]
PROGRESS = re.compile(r"^(\w+) downloading (\S+): .* of .* \((\d+)%\) at .*/s")
WATCHED_FOR = re.compile(r"^watched \d+ jobs? for (?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d\d)\b")


def _submit(cli: Cli, account: str, *params: str) -> str:
    args = [a for p in params for a in ("--param", p)]
    return str(cli("submit", account, *args).stdout.strip())


def test_watch_prints_progress_lines_on_a_throttled_download(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    size = 16 * 1024 * 1024
    simulator.storage.add_fault(StorageFault(rate=1.2 * 1024 * 1024))  # about 14 s
    account = add_account(cli, simulator, "vainu")
    job_id = _submit(cli, account, "async_format=csv", f"sim_size={size}")
    watch = cli("watch", "--until-done", "--timeout", "120", "--download-dir",
                str(tmp_path / "dl"), timeout=150)  # fmt: skip
    lines = watch.stdout.splitlines()
    progress = [m for line in lines if (m := PROGRESS.match(line))]
    assert progress, watch.stdout
    assert {m.group(1) for m in progress} == {job_id}
    # at most one progress line per file per ten seconds of the watch's own clock (its summary
    # says how long it watched, rounded to the second)
    took = WATCHED_FOR.match(lines[-1])
    assert took, watch.stdout
    hours, minutes, seconds = (int(took.group(k) or 0) for k in ("h", "m", "s"))
    watched = 3600 * hours + 60 * minutes + seconds + 0.5
    assert len(progress) <= 1 + watched / 10, watch.stdout
    assert all(0 < int(m.group(3)) < 100 for m in progress), watch.stdout
    assert any(line.startswith(f"{job_id} saved ") for line in lines), watch.stdout
    assert f"{job_id} {account} succeeded" in watch.stdout
    assert lines[-1].startswith("watched 1 job for "), watch.stdout
    assert "files saved: 1 " in lines[-1]
    assert "\r" not in watch.stdout and "\x1b" not in watch.stdout  # no live line off a terminal


def test_watch_draws_a_live_line_on_a_terminal(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.storage.add_fault(StorageFault(rate=1024 * 1024))  # 4 MiB in about 4 s
    account = add_account(cli, simulator, "vainu")
    _submit(cli, account, "async_format=csv", f"sim_size={4 * 1024 * 1024}")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*JOBDOCK, "watch", "--until-done", "--timeout", "60", "--download-dir",
         str(tmp_path / "dl")],
        env={**cli.env, "TERM": "xterm", "COLUMNS": "200"},
        stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
        assert process.wait(30) == 0, seen.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(leader)
        if process.stderr is not None:
            process.stderr.close()
    text = seen.decode(errors="replace")
    redraws = [part for part in text.split("\r\x1b[K") if part.startswith("jobs left:")]
    assert redraws, text
    downloading = [r for r in redraws if "1 file downloading" in r]
    assert downloading, text
    assert any(re.search(r"MB/s|kB/s", r) and "ETA " in r for r in downloading), text
    assert "watched 1 job for " in text


def test_until_done_is_not_failed_by_an_earlier_failed_job(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    failed = _submit(cli, account, "async_format=csv", "sim_outcome=fail")
    first = cli("watch", "--until-done", "--timeout", "60", expect=1)
    assert f"{failed} {account} failed" in first.stdout
    assert f"job {failed} ({account}) failed" in first.stderr  # failures on stderr
    # nothing left to wait for: done at once, and the old failure is not this run's
    cli("watch", "--until-done", "--timeout", "60", expect=0)
    good = _submit(cli, account, "async_format=csv")
    later = cli("watch", "--until-done", "--timeout", "60", expect=0)
    assert f"{good} {account} succeeded" in later.stdout
    assert failed not in later.stdout + later.stderr
    assert "watched 1 job for " in later.stdout


def test_watch_json_prints_one_event_a_line(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    job_id = _submit(cli, account, "async_format=csv")
    watch = cli("watch", "--until-done", "--timeout", "60", "--json")
    events = [json.loads(line) for line in watch.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and events[0]["jobs"] == [job_id]
    assert kinds[-1] == "summary" and events[-1]["exit_code"] == 0
    assert events[-1]["jobs"] == {"succeeded": 1}
    states = [e["job"]["state"] for e in events if e["event"] == "state"]
    assert states[-1] == "succeeded"
    saved = [e for e in events if e["event"] == "saved"]
    assert saved and saved[0]["job_id"] == job_id and Path(saved[0]["path"]).is_file()


def test_closed_pipe_ends_quietly(cli: Cli) -> None:
    store = JobStore.open(cli.data_dir / "jobs.sqlite3")
    try:
        jobs = [
            Job(id=f"job{i:05d}", account="acc", provider="vainu", state=JobState.SUCCEEDED,
                label="x" * 200)
            for i in range(600)
        ]  # fmt: skip
        store.put_jobs(jobs, bases={})
    finally:
        store.close()
    process = subprocess.Popen(
        [*JOBDOCK, "jobs", "--json"], env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().strip() == b"["
    process.stdout.close()  # like `| head -1`
    code = process.wait(60)
    err = process.stderr.read().decode()
    process.stderr.close()
    assert err == ""
    assert code in (0, 141)


def test_sigterm_stops_watch_keeps_the_part_and_the_next_run_resumes(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    size = 20 * 1024 * 1024
    simulator.storage.add_fault(StorageFault(rate=4 * 1024 * 1024))
    account = add_account(cli, simulator, "vainu")
    job_id = _submit(cli, account, "async_format=csv", f"sim_size={size}")
    downloads = tmp_path / "downloads"
    args = ["watch", "--until-done", "--timeout", "60", "--download-dir", str(downloads)]
    folder = downloads / account / job_id
    process = subprocess.Popen(
        [*JOBDOCK, *args], env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = list(folder.glob("*.part")) if folder.exists() else []
            if parts and 1024 * 1024 <= parts[0].stat().st_size < size // 2:
                break
            assert process.poll() is None, "watch ended before the download was under way"
            time.sleep(0.02)
        else:
            pytest.fail("no partly written .part file")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 143, (out, err)
    assert "Traceback" not in err
    assert "stopped by SIGTERM" in err
    assert out.splitlines()[-1].startswith("watched 1 job"), out
    (part,) = folder.glob("*.part")
    kept = part.stat().st_size
    assert 0 < kept < size
    (job,) = cli.json("jobs", "--json")
    assert job["state"] == "succeeded" and job["results"][0]["download_state"] != "done"

    simulator.storage.clear_faults()
    cli(*args)
    saved = folder / part.name.removesuffix(".part")
    assert saved.stat().st_size == size
    ranges = [r.headers.get("range") for r in simulator.requests("storage")]
    assert any(r and int(r.removeprefix("bytes=").rstrip("-")) >= kept // 2 for r in ranges)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_load(cli: Cli, shell: str, tmp_path: Path) -> None:
    require_tools(shell, purpose=f"loading the {shell} completion script")
    script = cli("completion", shell).stdout
    assert "watch" in script and "until-done" in script and "data-dir" in script
    path = tmp_path / f"jobdock.{shell}"
    path.write_text(script)
    checked = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    if shell == "bash":  # and it completes: `jobdock watch --unt<TAB>`
        probe = f"source {path}; COMP_WORDS=(jobdock watch --unt); COMP_CWORD=2; _jobdock; "
        probe += 'echo "${COMPREPLY[@]}"'
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert done.stdout.split() == ["--until-done"], done.stderr
    if shell == "fish":
        probe = f"source {path}; complete -C 'jobdock accounts '"
        done = subprocess.run(["fish", "-c", probe], capture_output=True, text=True, timeout=30)
        assert {line.split("\t")[0] for line in done.stdout.splitlines()} >= {"add", "list"}


def test_global_options_after_the_sub_command(
    cli: Cli, simulator: Simulator, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    cli("accounts", "add", "elsewhere", "--provider", "vainu", "--base-url",
        simulator.base_url("vainu"), "--data-dir", str(other), "--secret-stdin",
        stdin=simulator.secret("vainu") + "\n")  # fmt: skip
    listed = cli.json("accounts", "list", "--json", "--data-dir", str(other))
    assert [a["name"] for a in listed] == ["elsewhere"]
    assert cli.json("accounts", "list", "--json") == []  # the default data dir is untouched
    assert (other / "jobs.sqlite3").is_file()


def test_demo_keeps_its_jobs_between_runs_and_reset_starts_over(cli: Cli, tmp_path: Path) -> None:
    first = cli.json("--demo", "jobs", "--json")
    assert first, "the demo has jobs"
    accounts = {a["name"]: a["base_url"] for a in cli.json("accounts", "list", "--json", "--demo")}
    job_id = cli("--demo", "submit", "demo-vainu", "--param", "sim_duration=0.5").stdout.strip()
    # a later run: its simulator is back where the accounts and jobs expect it. The watch runs
    # until it says it saved the job's file, then stops as on Ctrl+C (which keeps the demo).
    out = tmp_path / "watch.out"
    with out.open("wb") as stdout:
        watch = subprocess.Popen([*JOBDOCK, "--demo", "watch", "--timeout", "60"], env=cli.env,
                                 stdout=stdout, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_until(lambda: f"{job_id} saved " in out.read_text() or watch.poll() is not None,
                   timeout=60, what="the demo's watch saving the new job")  # fmt: skip
    finally:
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=30)
    assert f"{job_id} saved " in out.read_text(), (out.read_text(), err)
    again = {j["id"]: j for j in cli.json("--demo", "jobs", "--json")}
    assert {j["id"] for j in first} | {job_id} == set(again)
    listed = cli.json("accounts", "list", "--json", "--demo")
    assert {a["name"]: a["base_url"] for a in listed} == accounts  # the same ports
    mine = again[job_id]
    assert mine["state"] == "succeeded", mine
    assert mine["results"] and mine["results"][0]["download_state"] == "done", mine
    assert Path(mine["results"][0]["path"]).is_file()

    refused = cli("--demo", "reset", stdin="", expect=2)  # not a terminal and no --yes
    assert "--yes" in refused.stderr
    cli("--demo", "reset", "--yes")
    assert not (cli.data_dir / "demo").exists()
    fresh = cli.json("--demo", "jobs", "--json")
    assert fresh and not {j["id"] for j in fresh} & set(again)
    assert cli.data_dir.exists()  # only the demo's folder went


def test_watch_into_a_closed_pipe_ends_quietly(cli: Cli, simulator: Simulator) -> None:
    account = add_account(cli, simulator, "vainu")
    _submit(cli, account, "async_format=csv", "sim_duration=2")
    process = subprocess.Popen(
        [*JOBDOCK, "watch", "--until-done", "--timeout", "60", "--json"],
        env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    assert json.loads(process.stdout.readline())["event"] == "start"
    process.stdout.close()  # like `| head -1`: the next event finds no reader
    code = process.wait(60)
    err = process.stderr.read().decode()
    process.stderr.close()
    assert "Traceback" not in err and "Exception" not in err, err
    assert code == 141, err
