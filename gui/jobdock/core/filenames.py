"""Turning server-supplied names into safe file names inside the download folder.

A name from `Content-Disposition` or a URL is hostile until proven otherwise: path separators,
`..`, absolute paths, NUL and control characters, Windows-reserved names and over-long names are
all neutralised, so the result is one plain path component that cannot escape its folder. This
module is also the one place that numbers a name to make it unique on disk (`a (2).csv`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
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
    """`folder/name`, asserting that `name` is one plain path component (defence in depth).
    Lexical on purpose: what is on disk under that name (a planted link) is the job folder's
    business (`jobfolder`), which never follows it."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"refusing to write outside {folder}: {name!r}")
    return folder / name


def numbered(name: str, n: int) -> str:
    """`name` with a number before its extension: `a.csv` → `a (2).csv`, `b` → `b (2)`."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    mark = f" ({n})"
    budget = MAX_NAME_BYTES - len(mark.encode()) - len(f"{dot}{ext}".encode())
    stem = stem.encode()[: max(budget, 1)].decode(errors="ignore")
    return f"{stem}{mark}{dot}{ext}"


def unique_name(name: str, taken: Callable[[str], bool]) -> str:
    """`name`, or the first of `name (2)`, `name (3)`, … that is not `taken`."""
    if not taken(name):
        return name
    for n in range(2, 10_000):
        candidate = numbered(name, n)
        if not taken(candidate):
            return candidate
    raise FileExistsError(name)
