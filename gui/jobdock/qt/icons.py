"""The app's SVG icons (resources/icons, 24 by 24 viewBox), tinted for the current palette.

Tool icons draw with `currentColor`, replaced by the palette's text colour, so they stay legible
in light and dark themes; state icons carry their own colours. Icons are cached per palette.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from jobdock.core.job import JobState

log = logging.getLogger("jobdock.qt.icons")
ICON_DIR = Path(__file__).resolve().parents[3] / "resources" / "icons"
_SIZES = (16, 20, 24, 32, 48, 64)
_cache: dict[tuple[str, str], QIcon] = {}


def _text_color() -> str:
    app = QGuiApplication.instance()
    if app is None:
        return "#444444"
    return QGuiApplication.palette().color(QPalette.ColorRole.WindowText).name()


def icon(name: str) -> QIcon:
    """The named icon (file `resources/icons/<name>.svg`); an empty icon if it is missing."""
    color = _text_color()
    key = (name, color)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    result = QIcon()
    path = ICON_DIR / f"{name}.svg"
    try:
        svg = path.read_bytes().replace(b"currentColor", color.encode())
    except OSError:
        log.warning("icon %s not found in %s", name, ICON_DIR)
    else:
        renderer = QSvgRenderer(QByteArray(svg))
        for size in _SIZES:
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            renderer.render(painter)
            painter.end()
            result.addPixmap(pixmap)
    _cache[key] = result
    return result


def state_icon(state: JobState) -> QIcon:
    return icon(f"state-{state.value}")


def clear_cache() -> None:
    """Forget tinted icons (on a palette change: light ↔ dark)."""
    _cache.clear()
