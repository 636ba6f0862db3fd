"""`jobdock profiles`: list the providers Jobdock knows (built in, bundled profiles, the user's
profiles and those given with `--profile`) and check profile files before use. Neither command
opens the job store or the keyring. `check` prints one `file:line: key: message` line on stderr
a problem and exits 2 when any file is invalid, 0 when all are valid.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from jobdock.core.providers import builtin_ids, builtin_providers
from jobdock.core.providers.profiles.load import scan_profiles
from jobdock.core.providers.profiles.provider import ProfileProvider
from jobdock.core.providers.profiles.schema import format_problem

EXIT_OK, EXIT_INVALID = 0, 2


def add_parser(sub: Any) -> None:
    """The `profiles` sub-command on the CLI's sub-parsers."""
    profiles = sub.add_parser("profiles", help="list and check provider profiles")
    commands = profiles.add_subparsers(
        dest="profiles_command", required=True, parser_class=type(profiles), help="What to do."
    )
    listing = commands.add_parser("list", help="the providers and profiles Jobdock knows")
    listing.add_argument(
        "--json", action="store_true", help="Print a JSON array, one object a provider or file."
    )
    check = commands.add_parser("check", help="validate profile files (exit 2 when invalid)")
    check.add_argument(
        "files", nargs="+", metavar="FILE", help="A profile file (TOML) to check; one or more."
    )


def run(args: argparse.Namespace, *, out: TextIO, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    if args.profiles_command == "check":
        return check(args.files, out=out, err=err)
    return list_profiles(args.profile or [], out=out, as_json=args.json)


def check(files: list[str], *, out: TextIO, err: TextIO) -> int:
    """Each file as a profile the user could add; a bundled profile's own file (in the package or
    in a checkout, or a copy of it) may have the id it is bundled under."""
    code = EXIT_OK
    reserved = builtin_ids()  # a bundled profile's own file is that profile (`is_bundled`)
    for entry in scan_profiles(files, reserved=reserved, include_user=False):
        problems = entry.error.problems if entry.error else []
        if problems:
            code = EXIT_INVALID
            for problem in problems:
                err.write(format_problem(entry.path, problem) + "\n")
        else:
            assert entry.profile is not None
            which = ", the bundled one" if entry.profile.id in reserved else ""
            out.write(f"{entry.path}: ok (profile {entry.profile.id}: {entry.profile.name}"
                      f"{which})\n")  # fmt: skip
    return code


def list_profiles(files: list[str], *, out: TextIO, as_json: bool) -> int:
    rows: list[dict[str, object]] = []
    for provider in builtin_providers().values():
        bundled = isinstance(provider, ProfileProvider)
        rows.append({
            "id": provider.id,
            "name": provider.display_name,
            "kind": "bundled profile" if bundled else "built-in",
            "source": provider.profile.source if isinstance(provider, ProfileProvider) else None,
            "valid": True,
            "problems": [],
        })  # fmt: skip
    for entry in scan_profiles(files, reserved=builtin_ids()):
        problems = entry.error.problems if entry.error else []
        rows.append({
            "id": entry.profile.id if entry.profile else None,
            "name": entry.profile.name if entry.profile else None,
            "kind": f"{entry.origin} profile",
            "source": entry.path,
            "valid": not problems,
            "problems": [format_problem(entry.path, p) for p in problems],
        })  # fmt: skip
    if as_json:
        json.dump(rows, out, indent=2)
        out.write("\n")
        return EXIT_OK
    for row in rows:
        where = f"\t{row['source']}" if row["source"] else ""
        if row["valid"]:
            out.write(f"{row['id']}\t{row['name']}\t{row['kind']}{where}\n")
        else:
            listed = row["problems"]
            assert isinstance(listed, list)
            out.write(f"(invalid)\t{listed[0]}\t{row['kind']}\n")
    return EXIT_OK
