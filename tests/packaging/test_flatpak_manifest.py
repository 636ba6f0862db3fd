"""The Flatpak manifest asks for no more than Jobdock needs (flatpak-builder itself is not here:
packaging/flatpak/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FLATPAK = REPO_ROOT / "packaging" / "flatpak"
APP_ID = "io.github.jobdock.Jobdock"


@pytest.fixture
def manifest() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    loaded: dict[str, Any] = yaml.safe_load((FLATPAK / f"{APP_ID}.yml").read_text())
    return loaded


def test_identity_and_runtime(manifest: dict[str, Any]) -> None:
    assert manifest["id"] == APP_ID
    assert manifest["runtime"] == "org.kde.Platform"
    assert manifest["sdk"] == "org.kde.Sdk"
    assert manifest["command"] == "jobdock"


def test_sandbox_holes_are_the_documented_ones(manifest: dict[str, Any]) -> None:
    args = manifest["finish-args"]
    assert sorted(a for a in args if a.startswith("--talk-name=")) == [
        "--talk-name=org.freedesktop.Notifications",
        "--talk-name=org.freedesktop.secrets",
    ]
    assert [a for a in args if a.startswith("--filesystem=")] == [
        "--filesystem=xdg-download/Jobdock:create"
    ]
    assert "--share=network" in args
    assert not [
        a for a in args if a.startswith(("--own-name", "--system-talk-name", "--device=all"))
    ]


def test_pinned_requirements_stay_in_pyproject_ranges() -> None:
    pins = dict(
        line.split("==")
        for line in (FLATPAK / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    major, minor, *_ = (int(part) for part in pins["PySide6-Essentials"].split("."))
    assert (6, 9) <= (major, minor) < (6, 12)  # pyproject.toml: PySide6-Essentials>=6.9,<6.12
    assert pins["shiboken6"] == pins["PySide6-Essentials"]
