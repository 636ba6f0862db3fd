"""Keyring backends FOR TESTS ONLY: never use them anywhere else.

`FileKeyring` keeps passwords IN PLAIN TEXT in the JSON file named by JOBDOCK_TEST_KEYRING_FILE,
so CLI tests can run `jobdock` in a subprocess with a keyring they can inspect and that vanishes
with tmp_path. Jobdock itself must never write a secret to a file (see STYLE.md, "Credentials");
this module lives under tests/ and is reached only through keyring's PYTHON_KEYRING_BACKEND:

    env = {..., "PYTHONPATH": REPO_ROOT, "JOBDOCK_TEST_KEYRING_FILE": str(tmp_path / "k.json"),
           "PYTHON_KEYRING_BACKEND": "tests.support.file_keyring.FileKeyring"}

(the `file_keyring_env` fixture in tests/conftest.py builds exactly that).

`FailKeyring` is keyring's own fail backend under a name a test can select: what a machine with
no usable keyring gets. `BrokenKeyring` looks usable but every call raises `KeyringLocked`, like
a Secret Service that refuses. Both are for the "keyring unavailable" paths (CLI exit code 4).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError

FILE_VARIABLE = "JOBDOCK_TEST_KEYRING_FILE"
# Values for PYTHON_KEYRING_BACKEND (the subprocess needs the repo root on PYTHONPATH).
FILE_BACKEND = "tests.support.file_keyring.FileKeyring"
FAIL_BACKEND = "tests.support.file_keyring.FailKeyring"
BROKEN_BACKEND = "tests.support.file_keyring.BrokenKeyring"


class FileKeyring(KeyringBackend):
    """Passwords in a JSON file {service: {username: password}}: tests only."""

    priority = 20  # above every real backend, should discovery ever see it

    def _path(self) -> Path:
        try:
            return Path(os.environ[FILE_VARIABLE])
        except KeyError:
            raise KeyringError(f"{type(self).__name__} needs {FILE_VARIABLE} set") from None

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data: dict[str, dict[str, str]] = json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}
        return data

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        path = self._path()
        partial = path.with_name(path.name + ".part")
        partial.write_text(json.dumps(data, indent=2, sort_keys=True))
        partial.replace(path)  # a reader in another process never sees half a file

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError(f"no password for {username!r} in {service!r}")
        del data[service][username]
        self._save(data)


class FailKeyring(fail.Keyring):
    """keyring's fail backend (every call raises NoKeyringError), selectable by this name."""


class BrokenKeyring(KeyringBackend):
    """A backend that looks usable but refuses every call, like a locked Secret Service."""

    priority = 20

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("test keyring: the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("test keyring: the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("test keyring: the collection is locked")
