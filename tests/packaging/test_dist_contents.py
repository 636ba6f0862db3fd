"""The wheel and the sdist carry what a user and a packager need: the license, the metadata, both
entry points, the package data; the sdist also the docs, scripts and tests to rebuild and check."""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def project() -> dict[str, object]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def test_wheel_metadata_names_the_license_and_the_project(dists: tuple[Path, Path]) -> None:
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(meta_name).decode())
        license_names = [n for n in names if ".dist-info/licenses/" in n]
        assert license_names, names
        (license_name,) = license_names
        assert b"GNU GENERAL PUBLIC LICENSE" in archive.read(license_name)
        assert b"Version 3" in archive.read(license_name)
        entry_points = archive.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert metadata["License-Expression"] == "GPL-3.0-or-later"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues"} <= urls.keys()
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert metadata["Version"] == project()["version"]
    # A console command on every OS (the CLI prints on Windows too) and a windowed one.
    console, gui = entry_points.split("[gui_scripts]")
    assert "jobdock = jobdock.__main__:main" in console.split("[console_scripts]")[1]
    assert "jobdock-gui = jobdock.__main__:gui" in gui


def test_wheel_carries_the_package_data(dists: tuple[Path, Path]) -> None:
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "jobdock/py.typed" in names
    assert "jobdock/resources/icons/jobdock.svg" in names
    assert any(n.startswith("jobdock/core/providers/profiles/") and n.endswith(".toml")
               for n in names)  # fmt: skip
    shared = [n for n in names if ".data/data/share/" in n]
    assert any(n.endswith("applications/io.github.jobdock.Jobdock.desktop") for n in shared)
    assert any(n.endswith("metainfo/io.github.jobdock.Jobdock.metainfo.xml") for n in shared)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


def test_sdist_has_license_docs_scripts_and_tests(dists: tuple[Path, Path]) -> None:
    _, sdist = dists
    with tarfile.open(sdist) as archive:
        top = {Path(n).parts[1] for n in archive.getnames() if len(Path(n).parts) > 1}
        names = {"/".join(Path(n).parts[1:]) for n in archive.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", "docs", "scripts", "gui", "tests"} <= top
    assert {"docs/cli.md", "docs/providers.md", "scripts/test", "scripts/setup"} <= names
    assert not any(n.startswith((".venv/", ".cache/", ".git/")) for n in names)


def test_metainfo_screenshots_match_their_images_and_each_version_has_a_release() -> None:
    import defusedxml.ElementTree as ElementTree

    metainfo = REPO_ROOT / "resources" / "io.github.jobdock.Jobdock.metainfo.xml"
    root = ElementTree.parse(metainfo).getroot()
    images = root.findall("./screenshots/screenshot/image")
    assert images
    for image in images:
        url = image.text or ""
        local = REPO_ROOT / url.split("/main/", 1)[1]
        header = local.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", local
        size = int.from_bytes(header[16:20]), int.from_bytes(header[20:24])
        assert size == (int(image.get("width", 0)), int(image.get("height", 0))), local
    versions = {r.get("version") for r in root.findall("./releases/release")}
    assert project()["version"] in versions
