"""Shared test infrastructure: real services started on demand, test-only keyring backends.

- `secret_service`: a real Secret Service (gnome-keyring) on a private dbus session bus.
- `xvfb`: a private Xvfb X server for tests that need a real window system.
- `file_keyring`: keyring backends for tests only (a JSON file; always failing ones).
- `qt_async`: awaiting Qt signals from coroutines run by qasync.
- `tools`: skip a test when a system tool is missing, or fail it under CI.
- `processes`: the start/stop/log plumbing the daemons above share.

Most tests use these through the fixtures in tests/conftest.py. This package stays light to
import (no pytest, no Qt here): subprocesses load `tests.support.file_keyring` through keyring's
PYTHON_KEYRING_BACKEND.
"""
