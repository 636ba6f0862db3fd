"""The desktop entry and the AppStream metainfo pass their validators; the icons are complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import require_tools

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = REPO_ROOT / "resources"
APP_ID = "io.github.jobdock.Jobdock"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def validate(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


def test_desktop_entry_is_valid() -> None:
    require_tools("desktop-file-validate", purpose="validating the desktop entry")
    desktop = RESOURCES / f"{APP_ID}.desktop"
    output = validate("desktop-file-validate", str(desktop))
    assert output == "", output  # hints and warnings count too
    assert f"Icon={APP_ID}\n" in desktop.read_text()


def test_metainfo_is_valid() -> None:
    require_tools("appstreamcli", purpose="validating the AppStream metainfo")
    metainfo = RESOURCES / f"{APP_ID}.metainfo.xml"
    output = validate("appstreamcli", "validate", "--no-net", "--explain", str(metainfo))
    assert "W:" not in output and "E:" not in output, output
    print(output)


@pytest.mark.parametrize("size", ICON_SIZES)
def test_png_icons_exist(size: int) -> None:
    png = RESOURCES / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20]), int.from_bytes(header[20:24])
    assert (width, height) == (size, size)


def test_png_icons_match_the_svg() -> None:
    script = REPO_ROOT / "packaging" / "render_icons.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_desktop_entry_and_the_bundles_start_the_windowed_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`jobdock-gui` (the wheel's gui-scripts entry) is what the desktop entry starts, the
    metainfo names both programs, and the bundle's two programs run the entry of their name."""
    import runpy
    import tomllib

    import jobdock.__main__ as entry_points

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["gui-scripts"] == {"jobdock-gui": "jobdock.__main__:gui"}
    assert project["scripts"] == {"jobdock": "jobdock.__main__:main"}
    desktop = (RESOURCES / f"{APP_ID}.desktop").read_text()
    assert "\nExec=jobdock-gui\n" in desktop
    metainfo = (RESOURCES / f"{APP_ID}.metainfo.xml").read_text()
    assert "<binary>jobdock</binary>" in metainfo and "<binary>jobdock-gui</binary>" in metainfo
    ran: list[str] = []
    monkeypatch.setattr(entry_points, "gui", lambda: ran.append("gui") or 0)
    monkeypatch.setattr(entry_points, "main", lambda: ran.append("main") or 0)
    launcher = REPO_ROOT / "packaging" / "pyinstaller" / "jobdock_launcher.py"
    for program in ("/opt/jobdock/jobdock-gui", "C:\\Jobdock\\JOBDOCK-GUI.exe",
                    "/opt/jobdock/jobdock"):  # fmt: skip
        monkeypatch.setattr(sys, "executable", program.replace("\\", "/"))
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(launcher), run_name="__main__")
        assert done.value.code == 0
    assert ran == ["gui", "gui", "main"]
