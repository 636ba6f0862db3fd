"""The PyInstaller bundle builds and runs without the venv: `--version`, the demo window under Xvfb
(with a screenshot), and the real keyring through keyring's backend discovery.

Building takes about a minute, so the bundle is cached in `.cache/bundle/<key>/jobdock`, keyed by
a hash of everything that goes into it (Jobdock's sources and icons, the spec, build.sh,
pyproject.toml, the venv's installed distributions and the Python version); a run with nothing
changed reuses it, and a successful build removes the older ones. The screenshot of the last demo
run is kept beside them: `.cache/bundle/demo-screenshot.png`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import stop_process
from tests.support.tools import require_tools

pytestmark = [pytest.mark.packaging, pytest.mark.slow, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".cache" / "bundle"
INPUTS = (
    ("gui/jobdock", "**/*"),
    ("resources/icons", "*.svg"),
    ("packaging/pyinstaller", "*"),
    ("packaging", "build.sh"),
    (".", "pyproject.toml"),
)
WINDOW_TITLE = "Jobdock — demo"


def cache_key() -> str:
    digest = hashlib.sha256()
    for folder, pattern in INPUTS:
        for path in sorted((REPO_ROOT / folder).glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0")
                digest.update(path.read_bytes())
    installed = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest.update("\n".join([*installed, sys.version, platform.platform()]).encode())
    return digest.hexdigest()[:16]


def tree_size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def build(key: str) -> tuple[Path, str]:
    """Build into a fresh directory, then move it in place; returns the bundle and the log."""
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / f"{key}.part-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO_ROOT / "packaging" / "build.sh"), "--dist", str(partial / "dist"),
         "--work", str(partial / "work")],
        capture_output=True, text=True, timeout=1100, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"packaging/build.sh failed:\n{log[-6000:]}"
    seconds = time.monotonic() - started
    shutil.rmtree(partial / "work")
    (partial / "build-info.txt").write_text(f"built in {seconds:.0f}s\n")
    final = CACHE / key
    try:
        partial.rename(final)
    except OSError:  # a parallel run got there first: use its bundle
        shutil.rmtree(partial)
    for stale in CACHE.iterdir():
        if stale.is_dir() and stale != final and ".part-" not in stale.name:
            shutil.rmtree(stale, ignore_errors=True)
    return final / "dist" / "jobdock", log


@pytest.fixture(scope="module")
def bundle(pytestconfig: pytest.Config) -> Iterator[Path]:
    """The built bundle's folder (`<folder>/jobdock` is the executable), cached across runs."""
    if sys.platform != "linux":
        pytest.skip("the bundle test builds the Linux bundle")
    key = cache_key()
    folder = CACHE / key / "dist" / "jobdock"
    if (folder / "jobdock").is_file():
        how = f"cached ({(CACHE / key / 'build-info.txt').read_text().strip()}), {folder}"
    else:
        folder, _log = build(key)
        how = f"{(CACHE / key / 'build-info.txt').read_text().strip()}, {folder}"
    size = tree_size(folder)
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    report(pytestconfig, f"PyInstaller bundle: {how}; size {size / 2**20:.0f} MiB in {files} files")
    yield folder


def report(config: pytest.Config, line: str) -> None:
    """A line on pytest's terminal even while it captures output: time and size are the point."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        terminal.write_line(f"\n[bundle] {line}")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No venv, no PYTHONPATH, nothing of the developer's session: what a user's login has."""
    runtime = home / "run"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime),
        **extra,
    }


def pyproject_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def test_version_without_the_venv(bundle: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(bundle / "jobdock"), "--version"],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"jobdock {pyproject_version()}"


def test_bundle_contents(bundle: Path) -> None:
    """Only the Qt modules Jobdock imports; its icons; the metadata read at run time."""
    bindings = {p.name.split(".")[0] for p in (bundle / "_internal" / "PySide6").glob("Qt*.so")}
    assert bindings == {"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtNetwork"}
    assert not (bundle / "_internal" / "PySide6" / "Qt" / "translations").exists()
    assert (bundle / "jobdock").is_file() and (bundle / "jobdock-gui").is_file()
    icons = bundle / "_internal" / "jobdock" / "resources" / "icons"
    assert (icons / "jobdock.svg").is_file()
    # The About dialog reads these versions at run time.
    metadata_dirs = {
        p.name.split("-")[0].lower() for p in (bundle / "_internal").glob("*.dist-info")
    }
    assert metadata_dirs >= {"jobdock", "httpx", "qasync", "keyring", "platformdirs", "defusedxml"}


def test_demo_window_under_xvfb(
    bundle: Path, tmp_path: Path, xvfb_display: str, pytestconfig: pytest.Config
) -> None:
    require_tools("xwininfo", "import", "identify", purpose="watching the bundle's window")
    env = clean_env(tmp_path / "home", DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        app = subprocess.Popen(
            # The program the desktop file starts (the same launcher as `jobdock`).
            [str(bundle / "jobdock-gui"), "--demo"], env=env, stdout=output, stderr=output,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for_window(app, xvfb_display, log)
        time.sleep(3)  # let the demo jobs poll and the table fill
        shot = tmp_path / "demo.png"
        subprocess.run(
            ["import", "-display", xvfb_display, "-window", "root", str(shot)],
            check=True, timeout=30,
        )  # fmt: skip
        shutil.copyfile(shot, CACHE / "demo-screenshot.png")
        colours = subprocess.run(
            ["identify", "-format", "%k", str(shot)], capture_output=True, text=True, check=True
        ).stdout
        assert int(colours) > 50, f"the screenshot looks blank ({colours} colours)"
        report(pytestconfig, f"demo screenshot: {CACHE / 'demo-screenshot.png'}")
        app.send_signal(signal.SIGINT)  # Jobdock's clean shutdown path (Ctrl+C)
        assert app.wait(timeout=20) == 0, log.read_text(errors="replace")
    finally:
        stop_process(app)


def wait_for_window(app: subprocess.Popen[bytes], display: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert app.poll() is None, f"the bundle exited:\n{log.read_text(errors='replace')}"
        tree = subprocess.run(
            ["xwininfo", "-display", display, "-root", "-tree"],
            capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        if f'"{WINDOW_TITLE}"' in tree:
            return
        time.sleep(0.25)
    raise AssertionError(f"no {WINDOW_TITLE!r} window within 60s:\n{log.read_text()}")


def test_keyring_backend_found_in_the_bundle(
    bundle: Path, secret_service_env: dict[str, Any], tmp_path: Path
) -> None:
    # Without PYTHON_KEYRING_BACKEND: keyring must discover SecretService through its entry
    # points, which needs the dist-info metadata the spec copies into the bundle.
    session = {
        name: secret_service_env[name]
        for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
    }
    env = clean_env(tmp_path, JOBDOCK_DATA_DIR=str(tmp_path / "data"), **session)
    account = f"bundle-{os.getpid()}"
    done = subprocess.run(
        [str(bundle / "jobdock"), "accounts", "add", account, "--provider", "generic-202",
         "--base-url", "https://api.example", "--secret-stdin"],
        input="not-a-real-secret\n", env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SecretService" in done.stdout
