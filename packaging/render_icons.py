"""Render the application icon's PNG sizes (and the Windows .ico, macOS .icns) from its SVG.

The SVG `resources/hicolor/scalable/apps/io.github.jobdock.Jobdock.svg` is the one source; this
writes `resources/hicolor/<N>x<N>/apps/io.github.jobdock.Jobdock.png` for the freedesktop sizes,
`resources/windows/jobdock.ico` (16-256, PNG entries) and `resources/macos/jobdock.icns` (512
and its halvings, by Qt's icns plugin). It needs only the venv's PySide6 (QSvgRenderer), no
rsvg-convert or ImageMagick. The outputs are committed; run it again
after changing the SVG:

    .venv/bin/python packaging/render_icons.py [--check]

`--check` renders to memory and exits 1 when a committed PNG differs from the SVG's rendering
(by more than antialiasing differences between Qt versions).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

APP_ID = "io.github.jobdock.Jobdock"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SVG = RESOURCES / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def png_path(size: int) -> Path:
    return RESOURCES / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def differs(path: Path, image: QImage, *, tolerance: int = 24) -> bool:
    """Whether the PNG at `path` is missing or any channel of a pixel is off by > tolerance."""
    if not path.is_file():
        return True
    saved = QImage(str(path)).convertToFormat(QImage.Format.Format_ARGB32)
    if saved.size() != image.size():
        return True
    ours = bytes(image.convertToFormat(QImage.Format.Format_ARGB32).constBits())
    theirs = bytes(saved.constBits())
    return any(abs(a - b) > tolerance for a, b in zip(ours, theirs, strict=True))


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def ico_bytes(images: list[QImage]) -> bytes:
    """A Windows .ico holding each image as PNG (valid since Windows Vista, sizes up to 256)."""
    pngs = [png_bytes(image) for image in images]
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries = b""
    for image, png in zip(images, pngs, strict=True):
        side = image.width() % 256  # 0 means 256
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        offset += len(png)
    return header + entries + b"".join(pngs)


def write_icns(path: Path, image: QImage) -> None:
    """A macOS .icns: Qt's icns writer stores the image and its halvings down to 16 px."""
    writer = QImageWriter(str(path), QByteArray(b"icns"))
    if not writer.write(image):
        raise SystemExit(f"render_icons: writing {path}: {writer.errorString()}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    options = parser.parse_args(argv)
    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {SVG} is not a valid SVG")
    images = {size: render(renderer, size) for size in sorted({*PNG_SIZES, *ICO_SIZES})}
    stale = []
    for size in PNG_SIZES:
        path = png_path(size)
        if options.check:
            if differs(path, images[size]):
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(images[size]))
        print(f"wrote {path.relative_to(RESOURCES.parent)}")
    if options.check:
        for path in stale:
            print(f"stale: {path.relative_to(RESOURCES.parent)} (run packaging/render_icons.py)")
        return 1 if stale else 0
    (RESOURCES / "windows").mkdir(exist_ok=True)
    (RESOURCES / "windows" / "jobdock.ico").write_bytes(ico_bytes([images[s] for s in ICO_SIZES]))
    (RESOURCES / "macos").mkdir(exist_ok=True)
    write_icns(RESOURCES / "macos" / "jobdock.icns", images[512])
    print("wrote resources/windows/jobdock.ico resources/macos/jobdock.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
