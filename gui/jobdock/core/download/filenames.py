"""Turning server-supplied names into safe file names inside the download folder.

A name from `Content-Disposition` or a URL is hostile until proven otherwise: path separators,
`..`, absolute paths, NUL, C0 and C1 control characters, bidirectional controls (which make
`cod.exe` look like `exe.doc`), Windows-reserved names (also as `CON .txt` or `nul.tar.gz`),
trailing dots and spaces and over-long names are all neutralised, so the result is one plain
path component that cannot escape its folder. This module is also the one place that numbers a
name to make it unique (`a (2).csv`), for names given in one answer and for files on disk alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_NAME_BYTES = 200
# Windows: "Naming Files, Paths, and Namespaces" (learn.microsoft.com/windows/win32/fileio/
# naming-a-file) reserves these, with any extension and with trailing spaces or dots, in any case;
# the superscript digits ¹²³ count as digits there.
_RESERVED = {
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
    *(f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"),
}  # fmt: skip
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]')
# Removed outright: C1 controls, and the bidirectional marks, embeddings, overrides and isolates
# (U+061C, U+200E/F, U+202A-E, U+2066-9) that reorder how the rest of the name is shown.
_INVISIBLE = re.compile("[\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def sanitize_filename(name: str, *, fallback: str = "result") -> str:
    name = unicodedata.normalize("NFC", name)
    name = _INVISIBLE.sub("", name)
    name = name.replace("\\", "/").split("/")[-1]  # keep only the last path component
    name = _BAD_CHARS.sub("_", name)
    name = _trim(name)
    if not name or set(name) <= {"_", "."}:
        name = fallback
    name = _trim(_truncate(name))  # a cut may end in a space or a dot
    if _is_reserved(name):
        name = f"_{name}"
    return name


def _trim(name: str) -> str:
    """No leading dots (hidden files, `..`) and no leading or trailing spaces or trailing dots
    (Windows drops those, so `a.csv.` would be another name for `a.csv`)."""
    return name.strip().lstrip(".").strip().rstrip(". ")


def _is_reserved(name: str) -> bool:
    """Whether Windows takes `name` for a device: its part before the first dot, without
    trailing spaces and dots, is reserved (`CON`, `con .txt`, `nul.tar.gz`, `LPT¹`)."""
    return name.partition(".")[0].rstrip(" .").upper() in _RESERVED


def _truncate(name: str, limit: int = MAX_NAME_BYTES) -> str:
    if len(name.encode()) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = name, ""
    budget = limit - len(ext.encode()) - (1 if ext else 0)
    cut = stem.encode()[:budget].decode(errors="ignore")
    return f"{cut}.{ext}" if ext else cut


def filename_from_disposition(value: str | None) -> str | None:
    """The file name of a Content-Disposition header, read by the standard library's MIME
    parameter parser: only a parameter named exactly `filename` or `filename*` counts, quoted
    strings and their escapes are undone, and `filename*` (RFC 6266 §4.3, its RFC 5987 / 2231
    `charset'lang'%XX` form, UTF-8 or ISO-8859-1) wins over `filename` wherever it stands."""
    if not value:
        return None
    message = Message()
    message["Content-Disposition"] = value
    params = message.get_params(header="content-disposition", failobj=[]) or []
    plain: str | None = None
    for key, param in params[1:]:  # the first one is the disposition type
        if key.lower() != "filename":
            continue
        if isinstance(param, tuple):  # filename*: (charset, language, %-decoded latin-1 text)
            return _decode_extended(param[0], param[2])
        if plain is None:
            plain = param
    return plain


def _decode_extended(charset: str | None, text: str) -> str:
    raw = text.encode("raw-unicode-escape")  # the %XX bytes, as the parser left them
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset: UTF-8 is what servers mean
        return raw.decode("utf-8", errors="replace")


def filename_from_url(url: str, *, default: str = "", suffix: str = "") -> str:
    """A file name from the URL path's last non-empty segment, unquoted and sanitised; `default`
    when there is none; `suffix` (e.g. `.xml`) added when the name has no extension."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    name = sanitize_filename(unquote(segments[-1]), fallback="") if segments else ""
    if not name:
        return default
    return name if "." in name or not suffix else name + suffix


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


def unique_names(names: list[str]) -> list[str]:
    """The same names, later duplicates numbered (`a.csv`, `a (2).csv`, …)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate = unique_name(name, seen.__contains__)
        seen.add(candidate)
        out.append(candidate)
    return out
