"""Fixtures of the fault suite: a fast simulator and the `jobdock` CLI as a subprocess.

Every test here is `slow` (it starts several CLI processes); the whole folder is kept under about
two minutes on two cores by small files, short jobs and fast poll intervals.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobdock.simulator import SimConfig, Simulator
from tests.e2e.conftest import Cli


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A simulator whose jobs finish in well under a second unless a test says otherwise."""
    with Simulator(SimConfig(queue_time=0.1, run_time=0.2, result_size=16 * 1024)) as sim:
        yield sim


@pytest.fixture
def cli(file_keyring_env: dict[str, str]) -> Cli:
    return Cli(env=file_keyring_env)
