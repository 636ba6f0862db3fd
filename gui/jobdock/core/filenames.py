"""Turning server-supplied names into safe file names inside the download folder.

A name from `Content-Disposition` or a URL is hostile until proven otherwise: path separators,
`..`, absolute paths, NUL and control characters, Windows-reserved names and over-long names are
all neutralised, so the result is one plain path component that cannot escape its folder.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_NAME_BYTES = 200
_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}  # fmt: skip
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]')


def sanitize_filename(name: str, *, fallback: str = "result") -> str:
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").split("/")[-1]  # keep only the last path component
    name = _BAD_CHARS.sub("_", name)
    name = name.strip().lstrip(".").strip()
    name = name.rstrip(". ")  # Windows drops trailing dots and spaces
    if not name or set(name) <= {"_", "."}:
        name = fallback
    stem = name.partition(".")[0]
    if stem.upper() in _RESERVED:
        name = f"_{name}"
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = name, ""
    budget = MAX_NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
    cut = stem.encode()[:budget].decode(errors="ignore")
    return f"{cut}.{ext}" if ext else cut


def filename_from_disposition(value: str | None) -> str | None:
    """The file name of a Content-Disposition header (RFC 6266: `filename*` wins)."""
    if not value:
        return None
    star = re.search(r"filename\*\s*=\s*([^;]+)", value, re.IGNORECASE)
    if star:
        raw = star.group(1).strip().strip('"')
        charset, _, rest = raw.partition("'")
        _lang, _, encoded = rest.partition("'")
        if encoded:
            try:
                return unquote(encoded, encoding=charset or "utf-8", errors="replace")
            except LookupError:
                return unquote(encoded)
    plain = re.search(r'filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)', value, re.IGNORECASE)
    if plain:
        if plain.group(2) is not None:
            return re.sub(r"\\(.)", r"\1", plain.group(2))
        return plain.group(1).strip()
    return None


def filename_from_url(url: str) -> str | None:
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return unquote(last) or None


def choose_filename(*, disposition: str | None, hint: str | None, url: str) -> str:
    for candidate in (filename_from_disposition(disposition), hint, filename_from_url(url)):
        if candidate and sanitize_filename(candidate, fallback=""):
            return sanitize_filename(candidate)
    return "result"


def inside(folder: Path, name: str) -> Path:
    """`folder/name`, asserting it really is inside `folder` (defence in depth)."""
    target = (folder / name).resolve()
    if target.parent != folder.resolve():
        raise ValueError(f"refusing to write outside {folder}: {name!r}")
    return target


def unique_path(path: Path) -> Path:
    """`path`, or `name (2).ext`, `name (3).ext`, … when something is already there."""
    if not path.exists() and not path.with_name(path.name + ".part").exists():
        return path
    stem, suffix = path.stem, path.suffix
    for n in range(2, 10_000):
        candidate = path.with_name(f"{stem} ({n}){suffix}")
        if not candidate.exists() and not candidate.with_name(candidate.name + ".part").exists():
            return candidate
    raise FileExistsError(path)
