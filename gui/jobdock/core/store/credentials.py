"""Secrets live only in the OS keyring (service `jobdock`, user name = account name).

`CredentialStore` is the seam; `KeyringCredentialStore` is the real one, `MemoryCredentialStore`
serves tests and the demo (whose simulator secrets are public). When keyring has no usable backend
(only its fail backend, or a backend that refuses), every call raises `KeyringUnavailableError` with
the fix; nothing ever falls back to writing a secret to a file.
"""

from __future__ import annotations

from typing import Protocol

from jobdock.core.model.errors import KeyringUnavailableError
from jobdock.core.net.redaction import Redactor as Redactor  # where it lived before

SERVICE = "jobdock"

KEYRING_FIX = (
    "no usable OS keyring: Jobdock keeps secrets only in the keyring. "
    "On Linux start a Secret Service (e.g. `apt-get install gnome-keyring` and log in to a "
    "desktop session, or run inside `dbus-run-session` with `gnome-keyring-daemon --unlock`), "
    "or choose a backend with PYTHON_KEYRING_BACKEND; `python -m keyring diagnose` shows "
    "what keyring found"
)


class CredentialStore(Protocol):
    def backend_name(self) -> str: ...
    def get(self, account: str) -> str | None: ...
    def set(self, account: str, secret: str) -> None: ...
    def delete(self, account: str) -> None: ...


class MemoryCredentialStore:
    """Secrets in a dict for the process's lifetime: tests and the demo simulator only."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self._secrets = dict(secrets or {})

    def backend_name(self) -> str:
        return "memory (demo/tests: nothing is saved)"

    def get(self, account: str) -> str | None:
        return self._secrets.get(account)

    def set(self, account: str, secret: str) -> None:
        self._secrets[account] = secret

    def delete(self, account: str) -> None:
        self._secrets.pop(account, None)


class KeyringCredentialStore:
    """The OS keyring through the `keyring` package."""

    def __init__(self) -> None:
        import keyring

        self._keyring = keyring

    def _backend(self) -> object:
        from keyring.backends import fail, null

        backend = self._keyring.get_keyring()
        if isinstance(backend, fail.Keyring | null.Keyring):
            raise KeyringUnavailableError(KEYRING_FIX)
        return backend

    def backend_name(self) -> str:
        backend = self._backend()
        return str(getattr(backend, "name", type(backend).__name__))

    def get(self, account: str) -> str | None:
        self._backend()
        try:
            secret = self._keyring.get_password(SERVICE, account)
        except Exception as exc:
            raise KeyringUnavailableError(f"{KEYRING_FIX} ({_describe(exc)})") from None
        return secret if isinstance(secret, str) else None

    def set(self, account: str, secret: str) -> None:
        self._backend()
        try:
            self._keyring.set_password(SERVICE, account, secret)
        except Exception as exc:
            raise KeyringUnavailableError(f"{KEYRING_FIX} ({_describe(exc)})") from None

    def delete(self, account: str) -> None:
        self._backend()
        try:
            self._keyring.delete_password(SERVICE, account)
        except self._keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:
            raise KeyringUnavailableError(f"{KEYRING_FIX} ({_describe(exc)})") from None


def _describe(exc: BaseException) -> str:
    # Backend errors may echo what they were given; keep only the type and a short text.
    return f"{type(exc).__name__}: {str(exc)[:120]}"
