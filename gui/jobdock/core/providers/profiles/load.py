"""Reading provider profiles: the ones bundled with Jobdock (package data, through
importlib.resources), the user's (`<user config dir>/profiles/*.toml`) and any named on the command
line. Python's `tomllib` gives no line numbers, so `key_lines` scans the TOML text for `[table]`
and `[[array]]` headers and `key =` lines; every `Problem` gets the line of its key, or of the
nearest enclosing table that is written in the file.

The ids no profile may take (the built-in providers', `providers.builtin_ids()`) are handed in by
the caller as `reserved`: the registry builds on this module, not the other way round.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs

from jobdock.core.net.inputs import MAX_NESTING, nesting_depth_exceeds
from jobdock.core.providers.profiles.schema import Problem, Profile, ProfileError, build_profile

log = logging.getLogger("jobdock.profiles")

APP_NAME = "jobdock"
BUNDLED_PACKAGE = "jobdock.core.providers.profiles.bundled"
_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY = rf"(?:{_BARE}|{_QUOTED})(?:\s*\.\s*(?:{_BARE}|{_QUOTED}))*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_KEY})\s*=")
_PART = re.compile(rf"{_BARE}|{_QUOTED}")
_SYNTAX_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class ProfileFile:
    """A profile file as found: its profile, or the problems that keep it from being one."""

    path: str
    origin: str  # "bundled", "user" or "command line"
    profile: Profile | None = None
    error: ProfileError | None = None


def user_profile_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "profiles"


def key_lines(text: str) -> dict[str, int]:
    """Line numbers (1-based) of the tables and keys written in TOML `text`, by dotted key;
    array tables are numbered from 0 (`results[1].url`), and so are their own tables
    (`[results.pages]` after the second `[[results]]` is `results[1].pages`)."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _HEADER.match(line)
        if header:
            name = _dotted(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(name, -1) + 1
                counts[name] = index
                name = f"{name}[{index}]"
            else:  # `[results.pages]` is a table of the last `[[results]]`
                name = _in_array(name, counts)
            table = name
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            key = _dotted(assign.group(1))
            lines.setdefault(f"{table}.{key}" if table else key, number)
            rest = line[assign.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return lines


def _in_array(name: str, counts: dict[str, int]) -> str:
    for array in sorted(counts, key=len, reverse=True):
        if name.startswith(array + "."):
            return f"{array}[{counts[array]}]{name[len(array) :]}"
    return name


def _dotted(key: str) -> str:
    return ".".join(part.strip("\"'") for part in _PART.findall(key))


def line_of(lines: dict[str, int], key: str) -> int:
    """The line of `key`, else of the nearest enclosing table written in the file, else 1."""
    while key:
        if key in lines:
            return lines[key]
        key = key.rsplit(".", 1)[0] if "." in key else ""
    return 1


def parse_profile(text: str, *, source: str) -> Profile:
    """The profile in TOML `text`; `ProfileError` (with line numbers) when it is not valid."""
    data: dict[str, Any] | None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _SYNTAX_LINE.search(str(exc))
        message = _SYNTAX_LINE.sub("", str(exc)).strip()
        line = int(found.group(1)) if found else 1
        problem = Problem("(syntax)", f"not valid TOML: {message}", line)
        raise ProfileError(source, [problem]) from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        data = None
    if data is None or nesting_depth_exceeds(data):
        problem = Problem("(syntax)", f"nested more than {MAX_NESTING} levels deep", 1)
        raise ProfileError(source, [problem])
    try:
        return build_profile(data, source=source)
    except ProfileError as exc:
        lines = key_lines(text)
        problems = [replace(p, line=line_of(lines, p.key)) for p in exc.problems]
        raise ProfileError(source, problems) from None


def read_profile(path: str | Path) -> Profile:
    """The profile in the file at `path`; `ProfileError` when it cannot be read or is invalid."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ProfileError(source, [Problem("(file)", f"cannot read it: {reason}", 1)]) from None
    return parse_profile(text, source=source)


def bundled_profiles() -> list[Profile]:
    """The profiles shipped inside the package (the built-in `vainu` and `testo`)."""
    folder = importlib.resources.files(BUNDLED_PACKAGE)
    profiles = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            text = entry.read_text(encoding="utf-8")
            profiles.append(parse_profile(text, source=f"<bundled>/{entry.name}"))
    return profiles


def bundled_files() -> dict[str, str]:
    """The bundled profiles' file names and their ids (`vainu.toml`: `vainu`)."""
    return {p.source.removeprefix("<bundled>/"): p.id for p in bundled_profiles()}


def bundled_profile(profile_id: str) -> Profile:
    for profile in bundled_profiles():
        if profile.id == profile_id:
            return profile
    raise KeyError(profile_id)


def scan_profiles(
    files: Iterable[str | Path] = (),
    *,
    reserved: Collection[str],
    user_dir: Path | None = None,
    include_user: bool = True,
) -> list[ProfileFile]:
    """Every profile file Jobdock would look at, in order: the user's directory (sorted by
    name), then `files`. Problems are kept on each entry, not raised; a profile taking one of
    the `reserved` ids is one, unless it is the bundled profile of that id (`is_bundled`)."""
    found: list[tuple[Path, str]] = []
    folder = user_dir if user_dir is not None else user_profile_dir()
    if include_user and folder.is_dir():
        found += [(p, "user") for p in sorted(folder.glob("*.toml"))]
    found += [(Path(f), "command line") for f in files]
    entries = []
    for path, origin in found:
        try:
            entries.append(ProfileFile(str(path), origin, profile=_usable(path, reserved)))
        except ProfileError as exc:
            entries.append(ProfileFile(str(path), origin, error=exc))
    return entries


def is_bundled(profile: Profile) -> bool:
    """Whether `profile` is the bundled profile of its id, read from another place (the
    package's own file given to `profiles check`, or a copy of it): the same profile does not
    clash with itself."""
    try:
        bundled = bundled_profile(profile.id)
    except KeyError:
        return False
    return replace(bundled, source="") == replace(profile, source="")


def _usable(path: Path, reserved: Collection[str]) -> Profile:
    profile = read_profile(path)
    if profile.id in reserved and not is_bundled(profile):
        line = line_of(key_lines(path.read_text(encoding="utf-8")), "id")
        message = f"{profile.id!r} is a built-in provider's id; choose another"
        raise ProfileError(str(path), [Problem("id", message, line)])
    return profile


def load_profiles(
    files: Iterable[str | Path] = (),
    *,
    reserved: Collection[str],
    user_dir: Path | None = None,
    include_user: bool = True,
) -> list[Profile]:
    """The usable profiles: invalid files in the user's directory (or ones taking a `reserved`
    id) are logged and skipped; an invalid file named on the command line raises its
    `ProfileError`. A later profile with the same id replaces an earlier one (the command line
    wins over the directory); a file that is a bundled profile adds nothing (it is there)."""
    chosen: dict[str, Profile] = {}
    scanned = scan_profiles(files, reserved=reserved, user_dir=user_dir, include_user=include_user)
    for entry in scanned:
        if entry.error is not None:
            if entry.origin == "command line":
                raise entry.error
            log.warning("skipping invalid profile: %s", entry.error.user_message)
            continue
        assert entry.profile is not None
        if entry.profile.id in reserved:  # the bundled profile itself: already there
            log.debug("%s is the bundled profile %s", entry.path, entry.profile.id)
            continue
        chosen[entry.profile.id] = entry.profile
    return list(chosen.values())
