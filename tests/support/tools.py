"""Skipping or failing a test whose system tools (Xvfb, gnome-keyring, ...) are not installed.

On a developer's machine a missing tool skips the test, with the command that installs it. Under
CI (the CI variable is set) it fails the test instead: CI runs scripts/setup, so a missing tool
there is a broken setup, and a skipped keyring or window test would hide it.
"""

from __future__ import annotations

import os
import shutil

import pytest


def missing_tools(*names: str) -> list[str]:
    """The executables among `names` that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def require_tools(*names: str, purpose: str) -> None:
    """Skip (or under CI fail) the calling test unless every executable in `names` is on PATH."""
    missing = missing_tools(*names)
    if missing:
        skip_or_fail(f"{purpose} needs {', '.join(missing)}: run scripts/setup to install them")


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)
