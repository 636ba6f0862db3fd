"""The headless commands of docs/cli.md: same engine as the window, for scripts and cron.

Exit codes: 0 success · 1 a job failed, a result was not saved or the API refused/was unreachable ·
2 bad usage or input · 3 `--timeout` reached · 4 no usable keyring · 130/143 `watch` stopped by
Ctrl+C/SIGTERM · 141 stdout closed by its reader. Errors are one line on stderr.
Secrets are read from stdin only (`--secret-stdin`), never from the command line. This module
parses the command line and turns errors into exit codes; each command's handler is in commands.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from jobdock import __version__
from jobdock.cli import profiles as profiles_cli
from jobdock.cli.commands import HANDLERS
from jobdock.cli.completion import SHELLS
from jobdock.cli.helptext import epilog, provider_ids
from jobdock.core.download.jobfolder import writable_problem
from jobdock.core.model.errors import (
    ConfigError,
    JobdockError,
    KeyringUnavailableError,
    StoreError,
    UsageError,
)
from jobdock.core.model.job import JobState
from jobdock.core.net.inputs import clip_line, positive_seconds, quoted
from jobdock.core.providers import builtin_ids
from jobdock.core.providers.profiles.load import load_profiles
from jobdock.runtime import Runtime, demo_dir, reset_demo

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_KEYRING = 0, 1, 2, 3, 4
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command its reader closed on


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _seconds(raw: str) -> float:
    """`--timeout`: a finite number of seconds above zero."""
    try:
        return positive_seconds(raw, what="--timeout")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


JOB_HELP = "The job's local id (the ID column of `jobdock jobs`)."


def _providers_line() -> str:
    from jobdock.core.providers import builtin_providers

    return provider_ids(list(builtin_providers()))


def _global_options(parser: argparse.ArgumentParser, *, late: bool) -> None:
    """The options every command takes, before the sub-command or (`late`) after it. After it,
    a default never overwrites what was given before it (SUPPRESS: set only when given)."""
    keep = argparse.SUPPRESS if late else None
    parser.add_argument(
        "--data-dir",
        default=keep,
        metavar="DIR",
        help="Where the job store, settings and logs live (default: the platform's user data dir;"
        " environment JOBDOCK_DATA_DIR).",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=keep if late else False,
        help="Use the built-in API simulator and its demo accounts (kept between runs).",
    )
    parser.add_argument(
        "--profile",
        action="append",
        dest="late_profile" if late else "profile",
        default=keep if late else [],
        metavar="FILE",
        help="Load a provider profile (TOML) for this run; may be repeated.",
    )


def _everywhere(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Give every sub-command (at any depth) the global options, and its help its own examples
    and exit codes (`helptext`), with the provider ids where it takes one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                where = f"{path} {name}".strip()
                takes_provider = any("--provider" in a.option_strings for a in child._actions)
                _global_options(child, late=True)
                child.formatter_class = argparse.RawDescriptionHelpFormatter
                child.epilog = epilog(where, before=_providers_line() if takes_provider else "")
                _everywhere(child, where)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jobdock",
        description="Follow asynchronous API jobs and save their results before the links "
        "expire. Without a command, the window opens.",
        epilog=epilog("", before=_providers_line()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jobdock {__version__}")
    _global_options(parser, late=False)
    sub = parser.add_subparsers(
        dest="command", parser_class=_Parser, metavar="COMMAND",
        help="What to do (`jobdock COMMAND --help` tells more); without one, the window opens.",
    )  # fmt: skip
    profiles_cli.add_parser(sub)

    accounts = sub.add_parser("accounts", help="manage API accounts")
    acc = accounts.add_subparsers(
        dest="accounts_command", required=True, parser_class=_Parser, help="What to do."
    )
    add = acc.add_parser("add", help="add (or update) an account")
    add.add_argument("name", metavar="NAME", help="A name of your choosing (no slash).")
    add.add_argument(
        "--provider", required=True, metavar="ID", help="The API's provider id (listed below)."
    )
    add.add_argument(
        "--base-url", metavar="URL",
        help="The API's base URL, for a sandbox, a region or a test server (default: the"
        " vendor's).",
    )  # fmt: skip
    add.add_argument(
        "--user", metavar="USER", help="The user name, for APIs with Basic auth (cisco-cce)."
    )
    add.add_argument(
        "--option", action="append", default=[], metavar="K=V",
        help="A provider option such as poll_min=5, token_url=URL or grant=refresh_token; may "
        "be repeated.",
    )  # fmt: skip
    add.add_argument(
        "--secret-stdin", action="store_true",
        help="Read the secret (API key, password) as one line from standard input; for an"
        " oauth2 profile, one NAME=VALUE line per secret (client_id, client_secret, and"
        " refresh_token for that grant) until end of input. Kept only in the OS keyring.",
    )  # fmt: skip
    listing = acc.add_parser("list", help="list accounts (never secrets)")
    listing.add_argument("--json", action="store_true", help="Print a JSON array of accounts.")
    rm = acc.add_parser("remove", help="remove an account and its keyring entry")
    rm.add_argument("name", metavar="NAME", help="The account's name.")
    check = acc.add_parser("test", help="check that the API answers and accepts the secret")
    check.add_argument("name", metavar="NAME", help="The account's name.")

    submit = sub.add_parser("submit", help="start a job")
    submit.add_argument("account", metavar="ACCOUNT", help="The account's name.")
    submit.add_argument(
        "--method", metavar="METHOD", help="The HTTP method (default: the provider's)."
    )
    submit.add_argument(
        "--path", metavar="PATH",
        help="The request path below the base URL (default: the provider's).",
    )  # fmt: skip
    submit.add_argument(
        "--param", action="append", default=[], metavar="K=V",
        help="A query parameter; may be repeated.",
    )  # fmt: skip
    submit.add_argument(
        "--body", metavar="DATA|@FILE", help="The request body, or @FILE to send a file's bytes."
    )
    submit.add_argument(
        "--content-type",
        metavar="TYPE",
        help="The body's media type (default: the provider's, else inferred as JSON or XML).",
    )
    submit.add_argument(
        "--label", default="", metavar="TEXT",
        help="A label to tell the job apart (shown in `jobs` and the window).",
    )  # fmt: skip
    submit.add_argument("--json", action="store_true", help="Print the job object, not its id.")

    track = sub.add_parser("track", help="follow an existing job by id or status URL")
    track.add_argument("account", metavar="ACCOUNT", help="The account's name.")
    track.add_argument("ref", metavar="REF", help="The provider's job id or the job's status URL.")
    track.add_argument("--json", action="store_true", help="Print the job object, not its id.")

    hooks = sub.add_parser("webhooks", help="Shoptet job:finished webhooks")
    hook = hooks.add_subparsers(
        dest="webhooks_command", required=True, parser_class=_Parser, help="What to do."
    )
    enable = hook.add_parser("enable", help="run the local receiver during `watch`")
    enable.add_argument(
        "--bind", metavar="ADDRESS", help="The address to listen on (default: 127.0.0.1)."
    )
    enable.add_argument(
        "--port", type=int, metavar="PORT", help="The port to listen on (default: 8787)."
    )
    enable.add_argument(
        "--public-url", metavar="URL",
        help="The base URL by which Shoptet reaches the receiver (a proxy or tunnel to it).",
    )  # fmt: skip
    hook.add_parser("disable", help="stop running the receiver")
    register = hook.add_parser("register", help="register job:finished for an account")
    register.add_argument("account", metavar="ACCOUNT", help="The Shoptet account's name.")
    register.add_argument(
        "url", nargs="?", metavar="URL",
        help="Where Shoptet delivers the events (default: the receiver's public URL, the"
        " --public-url of `webhooks enable` and the receiver's path).",
    )  # fmt: skip

    sync = sub.add_parser("sync", help="import the provider's job list")
    sync.add_argument(
        "account", metavar="ACCOUNT",
        help="The account's name; its provider must have a job list (shoptet).",
    )  # fmt: skip

    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--json", action="store_true", help="Print a JSON array of job objects.")
    states = [s.value for s in JobState]
    jobs.add_argument(
        "--state", choices=states, metavar="STATE",
        help=f"Only jobs in this state: {', '.join(states)}.",
    )  # fmt: skip

    watch = sub.add_parser("watch", help="poll and download until interrupted or done")
    watch.add_argument(
        "--until-done", action="store_true",
        help="Exit once the jobs unsettled at start, and those submitted meanwhile, are settled;"
        " the exit code speaks of those jobs only.",
    )  # fmt: skip
    watch.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS",
        help="Give up after this many seconds (a number above zero): exit 3.",
    )  # fmt: skip
    watch.add_argument(
        "--download-dir", type=Path, metavar="DIR",
        help="Save results under DIR for this run (default: the settings').",
    )  # fmt: skip
    watch.add_argument(
        "--no-auto-download", action="store_true", help="Follow jobs, but download nothing."
    )
    output = watch.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="Print one JSON event a line (docs/cli.md)."
    )
    output.add_argument(
        "-q", "--quiet", action="store_true",
        help="Print only failures and retries (stderr), no progress and no summary.",
    )  # fmt: skip
    output.add_argument(
        "-v", "--verbose", action="store_true",
        help="Also print every job event, and job changes on a terminal.",
    )  # fmt: skip

    download = sub.add_parser("download", help="download a job's results now")
    download.add_argument("job", metavar="JOB", help=JOB_HELP)
    _file_option(download)
    download.add_argument(
        "--to", type=Path, metavar="DIR",
        help="Save into DIR instead (a download begun elsewhere moves its .part there and"
        " goes on from it).",
    )  # fmt: skip
    for name, what in (
        ("pause", "pause a job's downloads (the .part files are kept for the resume)"),
        ("resume", "resume a job's paused downloads from their .part files"),
        ("cancel", "cancel a job's downloads and delete their .part files (the job stays)"),
    ):
        hand = sub.add_parser(name, help=what)
        hand.add_argument("job", metavar="JOB", help=JOB_HELP)
        _file_option(hand)

    remove = sub.add_parser("remove", help="stop tracking a job (files stay)")
    remove.add_argument("job", metavar="JOB", help=JOB_HELP)

    status = sub.add_parser("status", help="which process is this data dir's worker")
    status.add_argument("--json", action="store_true", help="Print a JSON object.")

    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument(
        "shell", choices=SHELLS, help=f"The shell to complete in: {', '.join(SHELLS)}."
    )

    reset = sub.add_parser("reset", help="with --demo: start the demo over")
    reset.add_argument(
        "--yes", action="store_true", help="Do not ask; delete the demo's data dir at once."
    )
    _everywhere(parser)
    return parser


def _file_number(raw: str) -> int:
    """`--file N`: a result's number, from 1, as `watch` and `jobs --json`'s `results` count."""
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"--file {quoted(raw)}: a file's number is a whole number from 1")
    return int(raw)


def _file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", type=_file_number, metavar="N",
        help="Only the job's N-th result file (from 1, as `watch` numbers them and `jobs"
        " --json` lists them); the job's other files go on as they are.",
    )  # fmt: skip


def main(
    argv: Sequence[str] | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    try:
        code = _main(argv, stdin=stdin, out=out)
        out.flush()  # here, not at exit: a reader that went away is a quiet end (_closed_pipe)
    except BrokenPipeError:
        return _closed_pipe()
    return code


def _main(argv: Sequence[str] | None, *, stdin: TextIO, out: TextIO) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.profile = [*args.profile, *getattr(args, "late_profile", [])]
        if args.command is None:
            raise UsageError("no command given (run `jobdock --help`)")
        if args.command == "profiles":  # needs neither the store nor the keyring
            return profiles_cli.run(args, out=out)
        if args.command == "completion":
            from jobdock.cli.completion import script

            out.write(script(parser, args.shell))
            out.flush()
            return EXIT_OK
        if args.command == "reset":
            return _reset(args, stdin=stdin, out=out)
        _check_download_folder(args)
        return asyncio.run(_dispatch(args, stdin=stdin, out=out))
    except KeyringUnavailableError as exc:
        return _fail(exc.user_message, EXIT_KEYRING)
    except (UsageError, ConfigError) as exc:
        return _fail(exc.user_message, EXIT_USAGE)
    except JobdockError as exc:
        return _fail(exc.user_message, EXIT_FAILED)
    except KeyboardInterrupt:
        return 130


def _closed_pipe() -> int:
    """Whoever read our output stopped (`jobs --json | head -1`): end quietly, as a command
    killed by SIGPIPE would. Python's advice (library/signal.html, "Note on SIGPIPE"): point
    stdout at devnull, so the flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE


def _reset(args: argparse.Namespace, *, stdin: TextIO, out: TextIO) -> int:
    """`jobdock --demo reset`: delete the demo's data dir (only that), after a yes."""
    if not args.demo:
        raise UsageError("reset starts the demo over; run it as `jobdock --demo reset`")
    folder = demo_dir(args.data_dir)
    if not args.yes:
        if not stdin.isatty():
            raise UsageError(f"reset deletes {folder}; confirm with --yes")
        out.write(f"Delete the demo's jobs, accounts and files in {folder}? [y/N] ")
        out.flush()
        if stdin.readline().strip().lower() not in ("y", "yes"):
            out.write("nothing deleted\n")
            return EXIT_OK
    reset_demo(folder, chosen=args.data_dir is not None)
    out.write(f"demo reset: deleted {folder}; the next `jobdock --demo` starts afresh\n")
    return EXIT_OK


def _check_download_folder(args: argparse.Namespace) -> None:
    """A `--download-dir` / `--to` that cannot hold files is bad usage, said before anything
    starts (and before the setting is taken)."""
    for flag, attr in (("--download-dir", "download_dir"), ("--to", "to")):
        folder = getattr(args, attr, None)
        problem = writable_problem(folder) if folder is not None else None
        if problem is not None:
            line = f"{flag} {str(folder)[:200]!r}: {problem[:300]}"
            raise UsageError(line.replace("\n", " "))  # one line, whatever the path holds


def _warn(message: str) -> None:
    """A warning that does not stop the command: one line on stderr (already redacted)."""
    print(f"jobdock: warning: {clip_line(message)}", file=sys.stderr, flush=True)


def _fail(message: str, code: int) -> int:
    print(f"jobdock: {clip_line(message) or 'error'}", file=sys.stderr)
    return code


async def _dispatch(args: argparse.Namespace, *, stdin: TextIO, out: TextIO) -> int:
    profiles = load_profiles(args.profile, reserved=builtin_ids())
    async with Runtime.open(data_dir=args.data_dir, demo=args.demo, profiles=profiles) as runtime:
        runtime.engine.on_notice = _warn  # an account's rotated refresh token not kept
        handler = HANDLERS[args.command]
        try:
            code: int = await handler(runtime, args, stdin, out)
        except JobdockError as exc:
            # The error line goes through the engine's redactor like everything it stores.
            exc.user_message = runtime.engine.redactor(exc.user_message)
            raise
    problem = runtime.engine.store_problem  # after the engine's last try at closing
    if problem is not None:
        raise StoreError(f"{problem}; {runtime.engine.unsaved_changes} job changes were lost")
    return code
