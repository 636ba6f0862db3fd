"""The headless commands of docs/cli.md: same engine as the window, for scripts and cron.

Exit codes: 0 success · 1 a job failed, a result was not saved or the API refused/was unreachable ·
2 bad usage or input · 3 `--timeout` reached · 4 no usable keyring · 130/143 `watch` stopped by
Ctrl+C/SIGTERM · 141 stdout closed by its reader. Errors are one line on stderr.
Secrets are read from stdin only (`--secret-stdin`), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from jobdock import __version__
from jobdock.cli import profiles as profiles_cli
from jobdock.cli.completion import SHELLS
from jobdock.cli.helptext import epilog, provider_ids
from jobdock.cli.serialize import account_to_json, job_to_json
from jobdock.core.download.jobfolder import writable_problem
from jobdock.core.model.errors import (
    ConfigError,
    JobdockError,
    KeyringUnavailableError,
    StoreError,
    UsageError,
)
from jobdock.core.model.job import Account, DownloadState, Job, JobState, Result
from jobdock.core.net.inputs import clip_line, has_line_break, positive_seconds, quoted
from jobdock.core.net.requests import build_request
from jobdock.core.providers import builtin_ids
from jobdock.core.providers.profiles.load import load_profiles
from jobdock.core.providers.shoptet.quota import QuotaStatus, SupportsQuota
from jobdock.runtime import Runtime, demo_dir, reset_demo

if TYPE_CHECKING:
    from jobdock.core.engine.engine import Engine

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
        handler = _HANDLERS[args.command]
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


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects K=V, got {quoted(value)}")
        if has_line_break(value):  # it may become a header or part of a request line
            raise UsageError(f"{flag} must be one line, got {quoted(value)}")
        pairs.append((key, val))
    return pairs


async def _accounts(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    engine = rt.engine
    if args.accounts_command == "list":
        accounts = engine.accounts()
        if args.json:
            json.dump([_account_json(engine, a) for a in accounts], out, indent=2)
            out.write("\n")
        else:
            for a in accounts:
                user = f" user={a.user}" if a.user else ""
                quota = engine.account_status(a.name)
                bucket = f" bucket={quota.bucket_filling}/{quota.bucket_size}" if quota else ""
                out.write(f"{a.name}\t{a.provider}\t{a.base_url}{user}{bucket}\n")
        return EXIT_OK
    if args.accounts_command == "test":
        out.write(await engine.check_account(args.name) + "\n")
        return EXIT_OK
    if args.accounts_command == "remove":
        await engine.remove_account(args.name)
        out.write(f"removed account {args.name} (its jobs stay, marked orphaned)\n")
        return EXIT_OK
    provider = engine.provider(args.provider)
    options = dict(_pairs(args.option, "--option"))
    secret = None
    names = provider.secret_names_for(options)  # an oauth2 account's grant chooses them
    if args.secret_stdin and names:
        secret = _named_secrets(stdin, names)
    elif args.secret_stdin:
        secret = stdin.readline().rstrip("\r\n")
        if not secret:
            raise UsageError("--secret-stdin: no secret on standard input")
    account = Account(
        name=args.name,
        provider=provider.id,
        base_url=args.base_url or provider.default_base_url,
        user=args.user,
        options=options,
    )
    if not account.name.strip() or "/" in account.name or has_line_break(account.name):
        raise UsageError(f"invalid account name {quoted(args.name)}")
    if account.user is not None and has_line_break(account.user):
        raise UsageError(f"--user must be one line, got {quoted(account.user)}")
    await engine.add_account(account, secret)
    where = f"; secret stored in {engine.credentials.backend_name()}" if secret else ""
    out.write(f"account {account.name} ({provider.id}, {account.base_url}){where}\n")
    return EXIT_OK


def _named_secrets(stdin: TextIO, names: tuple[str, ...]) -> str:
    """Several secrets on stdin, one `NAME=VALUE` line each (docs/cli.md), as one keyring entry."""
    from jobdock.core.providers.profiles.oauth import encode_secrets

    values: dict[str, str] = {}
    for line in stdin.read().splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or name.strip() not in names:
            raise UsageError(
                f"--secret-stdin: expected NAME=VALUE lines, NAME one of {', '.join(names)}; "
                f"got a line starting {quoted(name[:20])}"
            )
        values[name.strip()] = value
    missing = [n for n in names if not values.get(n)]
    if missing:
        raise UsageError(f"--secret-stdin: missing {', '.join(missing)} (one NAME=VALUE line each)")
    return encode_secrets(values)


async def _submit(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    account = rt.engine.account(args.account)
    provider = rt.engine.provider(account.provider)
    request = build_request(
        provider.default_request(),
        method=args.method,
        path=args.path,
        params=_pairs(args.param, "--param"),
        body=args.body,
        content_type=args.content_type,
        body_type=provider.body_content_type,
    )
    job = await rt.engine.submit(account.name, request, label=args.label)
    _print_job(job, out, as_json=args.json)
    return EXIT_OK


async def _track(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    job = await rt.engine.track(args.account, args.ref)
    _print_job(job, out, as_json=args.json)
    return EXIT_OK


def _print_job(job: Job, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        json.dump(job_to_json(job), out, indent=2)
        out.write("\n")
    else:
        out.write(f"{job.id}\n")


async def _sync(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    before = set(rt.engine.known_ids())
    jobs = await rt.engine.sync(args.account)
    new = sum(1 for j in jobs if j.id not in before)
    out.write(f"synced {len(jobs)} jobs from {args.account} ({new} new)\n")
    return EXIT_OK


async def _jobs(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    jobs = rt.engine.stored_jobs(state=JobState(args.state) if args.state else None)
    if args.json:
        json.dump([job_to_json(j) for j in jobs], out, indent=2)
        out.write("\n")
        return EXIT_OK
    from jobdock.cli.serialize import job_table

    out.write(job_table(jobs))
    return EXIT_OK


async def _watch(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    from jobdock.cli.watch import watch
    from jobdock.cli.watch_report import NORMAL, QUIET, VERBOSE

    return await watch(
        rt.engine,
        out=out,
        until_done=args.until_done,
        time_limit=args.timeout,
        download_dir=args.download_dir,
        auto_download=not args.no_auto_download,
        as_json=args.json,
        verbosity=QUIET if args.quiet else VERBOSE if args.verbose else NORMAL,
    )


def _index(args: argparse.Namespace) -> int | None:
    return args.file - 1 if args.file is not None else None


async def _download(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    index = _index(args)
    job = await rt.engine.download(args.job, to=args.to, index=index)
    return _print_saved(job, out, range(len(job.results)) if index is None else [index])


def _print_saved(job: Job, out: TextIO, indexes: Iterable[int]) -> int:
    """`download`'s lines: each saved file's path (stdout), each other's state (stderr)."""
    code = EXIT_OK
    for n in indexes:
        result = job.results[n]
        if result.download_state == DownloadState.DONE:
            out.write(f"{result.path}\n")
        else:
            code = EXIT_FAILED
            print(f"jobdock: {result.download_state.value}: {result.error}", file=sys.stderr)
    return code


async def _pause(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    before = rt.engine.job(args.job)
    job = await rt.engine.pause_download(args.job, index=_index(args))
    paused = _changed(before, job, lambda r: r.download_state == DownloadState.PAUSED)
    for n in paused:
        out.write(f"job {job.id}: file {n + 1} paused ({job.results[n].bytes_done:,} bytes kept)\n")
    if not paused:
        out.write(f"job {job.id}: {_which(args, job)}nothing to pause\n")
    return EXIT_OK


async def _resume(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    before = rt.engine.job(args.job)
    job = await rt.engine.resume_download(args.job, index=_index(args))
    resumed = _changed(before, job, lambda r: r.download_state != DownloadState.PAUSED,
                       was=lambda r: r.download_state == DownloadState.PAUSED)  # fmt: skip
    for n in resumed:
        out.write(f"job {job.id}: file {n + 1} resumed\n")
    if not resumed:
        out.write(f"job {job.id}: {_which(args, job)}nothing paused to resume\n")
        return EXIT_OK
    if not await rt.engine.settle_downloads():
        return EXIT_OK  # the worker (the window, a `watch`) goes on with them
    return _print_saved(rt.engine.job(args.job), out, resumed)


async def _cancel(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    before = rt.engine.job(args.job)
    job = await rt.engine.cancel_download(args.job, index=_index(args))
    cancelled = _changed(
        before, job, lambda r: r.held and r.download_state == DownloadState.PENDING,
        was=lambda r: not r.held or r.download_state == DownloadState.PAUSED,
    )  # fmt: skip
    for n in cancelled:
        out.write(f"job {job.id}: file {n + 1} cancelled (partial file deleted)\n")
    if not cancelled:
        out.write(f"job {job.id}: {_which(args, job)}nothing to cancel\n")
    return EXIT_OK


def _changed(
    before: Job,
    after: Job,
    now: Callable[[Result], bool],
    *,
    was: Callable[[Result], bool] | None = None,
) -> list[int]:
    """The indexes of `after`'s results that are `now` and were not (`was`: were so) before."""
    then = {r.key: r for r in before.results}
    changed = []
    for n, result in enumerate(after.results):
        old = then.get(result.key)
        if old is None or not now(result):
            continue
        if was(old) if was is not None else not now(old):
            changed.append(n)
    return changed


def _which(args: argparse.Namespace, job: Job) -> str:
    if args.file is None:
        return ""
    state = job.results[args.file - 1].download_state.value
    return f"file {args.file} is {state}: "


async def _remove(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    await rt.engine.remove(args.job)
    out.write(f"removed job {args.job} (downloaded files stay)\n")
    return EXIT_OK


async def _status(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    status = rt.engine.status()
    if args.json:
        json.dump(status, out, indent=2)
        out.write("\n")
        return EXIT_OK
    worker = status["worker"]
    if isinstance(worker, dict):
        out.write(
            f"worker: pid {worker['pid']} on {worker['host']} since {worker['since']} "
            f"(last heartbeat {worker['heartbeat']})"
            + (
                ""
                if worker.get("auto_download", True)
                else "; it downloads no result as jobs succeed"
            )
            + "\n"
        )
    else:
        out.write("worker: none (no window or `jobdock watch` runs on this data dir)\n")
    this = "is" if status["is_worker"] else "is not"
    out.write(f"this process (pid {status['pid']} on {status['host']}) {this} the worker\n")
    return EXIT_OK


def _account_json(engine: Engine, account: Account) -> dict[str, Any]:
    """CLI.md's account object; accounts with a request quota (Shoptet) add `rate_limit`."""
    data = account_to_json(account)
    if isinstance(engine.provider(account.provider), SupportsQuota):
        quota = engine.account_status(account.name) or QuotaStatus()
        data["rate_limit"] = quota.to_json()
    return data


async def _webhooks(rt: Runtime, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    engine = rt.engine
    if args.webhooks_command == "register":
        url = await engine.register_webhook(args.account, args.url)
        where = engine.credentials.backend_name()
        out.write(f"registered {url} for job:finished; signature key stored in {where}\n")
        return EXIT_OK
    changes: dict[str, object] = {"webhook_enabled": args.webhooks_command == "enable"}
    if args.webhooks_command == "enable":
        for key, value in (("webhook_bind", args.bind), ("webhook_port", args.port),
                           ("webhook_public_url", args.public_url)):  # fmt: skip
            if value is not None:
                changes[key] = value
    settings = engine.configure(persist=True, **changes)
    if not settings.webhook_enabled:
        out.write("webhook receiver disabled\n")
        return EXIT_OK
    path = engine.webhook_path()
    out.write(f"webhook receiver enabled on {settings.webhook_bind}:{settings.webhook_port}{path}")
    public = engine.webhook_public_url()
    out.write(f"; public URL {public}\n" if public else "; no public URL set (--public-url)\n")
    return EXIT_OK


_HANDLERS: dict[str, Any] = {
    "webhooks": _webhooks,
    "accounts": _accounts,
    "submit": _submit,
    "track": _track,
    "sync": _sync,
    "jobs": _jobs,
    "watch": _watch,
    "download": _download,
    "pause": _pause,
    "resume": _resume,
    "cancel": _cancel,
    "remove": _remove,
    "status": _status,
}
