"""End-to-end fixtures: the built-in simulator on 127.0.0.1 and the `jobdock` CLI as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobdock.simulator import SimConfig, Simulator

FAST_POLLS = ["--option", "poll_min=0.05", "--option", "poll_max=0.3"]


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A simulator whose jobs finish in well under a second."""
    with Simulator(SimConfig(queue_time=0.1, run_time=0.3, result_size=48 * 1024)) as sim:
        yield sim


@dataclass
class Cli:
    """Runs `python -m jobdock` like a user would, with the test's keyring and data dir.
    `vendor_files`: saved results the test found byte-equal to what the vendor served and that
    hold a credential the vendor itself wrote into them (Meta's `paging.next` echoes the access
    token): the profiles' check that no keyring secret is under the data dir skips these."""

    env: dict[str, str]
    vendor_files: list[Path] = field(default_factory=list)

    def __call__(
        self, *args: str, stdin: str | None = None, expect: int | None = 0, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "jobdock", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if expect is not None and done.returncode != expect:
            raise AssertionError(
                f"jobdock {' '.join(args)} exited {done.returncode}, expected {expect}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["JOBDOCK_DATA_DIR"])


@pytest.fixture
def cli(file_keyring_env: dict[str, str]) -> Cli:
    return Cli(env=file_keyring_env)


def add_account(cli: Cli, sim: Simulator, provider: str, name: str | None = None) -> str:
    name = name or f"my-{provider}"
    args = ["accounts", "add", name, "--provider", provider, "--base-url", sim.base_url(provider)]
    user = sim.user(provider)
    if user:
        args += ["--user", user]
    cli(*args, *FAST_POLLS, "--secret-stdin", stdin=sim.secret(provider) + "\n")
    return name
