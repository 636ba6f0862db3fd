"""The app's SVG icons (resources/icons, 24 by 24 viewBox), tinted for the current palette.

Tool icons draw with `currentColor`, replaced by the palette's text colour, so they stay legible
in light and dark themes; state icons carry their own colours. Icons are cached per palette.
Installed (wheel, PyInstaller bundle) the SVGs are package data, `jobdock/resources/icons`; from a
source tree (editable install) they are read from the repo's `resources/icons`.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from jobdock.core.model.job import JobState

log = logging.getLogger("jobdock.qt.icons")


def _icon_dir() -> Path:
    # A plain directory in a wheel and a PyInstaller bundle; Jobdock is never run from a zip.
    packaged = resources.files("jobdock") / "resources" / "icons"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "resources" / "icons"


ICON_DIR = _icon_dir()
_SIZES = (16, 20, 24, 32, 48, 64)
_cache: dict[tuple[str, str], QIcon] = {}


def icon_color() -> str:
    """The colour tool icons are drawn in now (the palette's window text)."""
    return _text_color()


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


ICON_PROPERTY = "jobdock-icon"  # the icon's name, kept on actions so they can be re-tinted


def set_themed_icon(action: QAction, name: str) -> QAction:
    """Give `action` the named icon and remember the name for `retint`."""
    action.setProperty(ICON_PROPERTY, name)
    action.setIcon(icon(name))
    return action


def retint(root: QObject) -> None:
    """After a palette change (light ↔ dark): tint the icons again for the new text colour, on
    every action under `root` that `set_themed_icon` gave an icon."""
    clear_cache()
    for action in root.findChildren(QAction):
        name = action.property(ICON_PROPERTY)
        if name:
            action.setIcon(icon(name))
