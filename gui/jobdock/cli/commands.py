"""The handlers of the headless commands (docs/cli.md), one a command, each handed the runtime,
the parsed arguments, stdin and stdout: accounts, submit and track, sync, jobs, watch, the
downloads (download, pause, resume, cancel), remove, status and webhooks. main.py parses the
command line, opens the runtime and turns errors into exit codes; a handler returns its code or
raises a `JobdockError`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from jobdock.cli.serialize import account_to_json, job_to_json
from jobdock.core.model.errors import UsageError
from jobdock.core.model.job import Account, DownloadState, Job, JobState, Result
from jobdock.core.net.inputs import has_line_break, quoted
from jobdock.core.net.requests import build_request
from jobdock.core.providers.shoptet.quota import QuotaStatus, SupportsQuota
from jobdock.runtime import Runtime

if TYPE_CHECKING:
    from jobdock.core.engine.engine import Engine

EXIT_OK, EXIT_FAILED = 0, 1  # as main.py's (docs/cli.md)


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


HANDLERS: dict[str, Any] = {  # `jobdock COMMAND`: its handler
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
