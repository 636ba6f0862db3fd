"""The bundled profiles' end-to-end tests run the CLI against a real Secret Service.

Each test gets its own gnome-keyring on its own session bus (a fresh HOME too), so `accounts add`
stores the secrets where a desktop keeps them and every later `jobdock` process reads them back
from there. At the end the fixture reads what the keyring holds and checks that none of it was
written anywhere under the data dir (the store, settings, logs, saved files), but in the saved
files a test found byte-equal to what the vendor served with the credential in them
(`Cli.vendor_files`: Meta's pages, whose `paging.next` carries the access token).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.profiles.support import keyring_items, secret_values
from tests.support import secret_service
from tests.support.tools import require_tools

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    require_tools(*secret_service.TOOLS, purpose="the real Secret Service")
    with secret_service.run_secret_service() as variables:
        env = {
            **os.environ,
            **variables,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            ),
            "JOBDOCK_DATA_DIR": str(tmp_path / "data"),
        }
        runner = Cli(env=env)
        yield runner
        assert_secrets_only_in_keyring(runner)


def assert_secrets_only_in_keyring(cli: Cli) -> None:
    values = [
        value
        for item in keyring_items(cli)
        if item.get("service") == "jobdock"
        for value in secret_values(item)
        if len(value) >= 8  # shorter ones are words that may appear anywhere
    ]
    if not cli.data_dir.exists():
        return
    exempt = {path.resolve() for path in cli.vendor_files}
    for path in cli.data_dir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.resolve() not in exempt:
            data = path.read_bytes()
            for value in values:
                assert value.encode() not in data, f"a keyring secret is in {path}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.keyring)
