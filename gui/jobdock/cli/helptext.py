"""How every command's `--help` ends (docs/cli.md): its own examples, copy-pasteable lines that
start `jobdock ` (a comment after `#`), and the exit codes that apply to that command, not to
every command. Keyed by the command's path (`""` for `jobdock` itself, `"accounts add"`);
`epilog` refuses a command with no entry, so a new command cannot go without. The tests parse
every example with the real parser, so none can drift from the flags.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

Example = tuple[str, str]  # the command line, and what it does ("" for nothing to add)
Code = tuple[int, str]

_WIDTH = 96  # the widest line an epilog prints (the formatter does not wrap epilogs)

# The lines many commands share.
USAGE: Code = (2, "bad usage or input (one line on stderr)")
STORE = "the job store could not be read or written (the message says why)"
KEYRING: Code = (4, "no usable keyring (the message says how to fix it)")
PIPE: Code = (141, "standard output was closed by its reader (`| head`): nothing more is printed")
GROUP: Sequence[Code] = (
    (
        2,
        "no command given, or one it does not know (each command's --help"
        " lists its own exit codes)",
    ),
)


@dataclass(frozen=True)
class CommandHelp:
    examples: Sequence[Example]
    codes: Sequence[Code]
    after: str = ""  # a last line under the exit codes


def _api(done: str, usage: str) -> list[Code]:
    """The codes of a command that asks the API (submit, track, sync, accounts test)."""
    return [
        (0, done),
        (1, f"the API refused or could not be reached, or {STORE}"),
        (2, usage),
        KEYRING,
        PIPE,
    ]


def _store(done: str, usage: str = USAGE[1], *, keyring: bool = False) -> list[Code]:
    """The codes of a command that only reads or changes the store."""
    return [(0, done), (1, STORE), (2, usage), *([KEYRING] if keyring else []), PIPE]


def provider_ids(ids: Sequence[str]) -> str:
    """The `provider ids:` paragraph of the commands that take one."""
    text = (
        f"provider ids: {', '.join(ids)}, and the id of any profile of yours (`jobdock profiles"
        " list`)"
    )
    return "\n  ".join(_wrap(text, _WIDTH - 2))


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of `width` at most, never breaking inside `backquotes` or a flag."""
    parts = text.split("`")
    glued = "`".join(p.replace(" ", "\0") if n % 2 else p for n, p in enumerate(parts))
    lines = textwrap.wrap(glued, width, break_on_hyphens=False, break_long_words=False)
    return [line.replace("\0", " ") for line in lines]


HELP: dict[str, CommandHelp] = {
    "": CommandHelp(
        examples=[
            ("jobdock --demo jobs", "the demo's jobs (its simulator and accounts persist)"),
            ("jobdock --demo watch --until-done", "follow them until settled, saving every result"),
            ("jobdock accounts add work --provider vainu --secret-stdin < key.txt", ""),
            ("jobdock submit work --param country=FI --json", ""),
            ("jobdock watch --until-done --timeout 3600 --download-dir ~/exports", "from cron"),
            ("jobdock pause 1a2b3c4d --file 2", "pause a job's second file (its .part is kept)"),
            ("jobdock jobs --json | jq -r '.[] | select(.state == \"failed\") | .id'", ""),
            ("jobdock completion bash > ~/.local/share/bash-completion/completions/jobdock", ""),
        ],
        codes=[
            (0, "success; every job watched settled, succeeded and its results are saved"),
            (
                1,
                "a job failed, a result was not saved or expired, the API refused or was"
                " unreachable, or the job store could not be read or written",
            ),
            USAGE,
            (3, "`watch --timeout` reached before every job watched settled"),
            KEYRING,
            (130, "`watch` stopped by Ctrl+C (state saved, .part files kept)"),
            (143, "`watch` stopped by SIGTERM (state saved, .part files kept)"),
            PIPE,
        ],
        after="each command's --help lists the codes that apply to it",
    ),
    # profiles ----------------------------------------------------------------------------------
    "profiles": CommandHelp(
        examples=[
            ("jobdock profiles list", ""),
            ("jobdock profiles check ~/.config/jobdock/profiles/acme.toml", ""),
        ],
        codes=GROUP,
    ),
    "profiles list": CommandHelp(
        examples=[
            ("jobdock profiles list", "built in, bundled and your own, and invalid files"),
            ("jobdock --profile ./acme.toml profiles list", "with a profile file for this run"),
            ("jobdock profiles list --json | jq -r '.[] | select(.valid) | .id'", ""),
        ],
        codes=[
            (0, "the list was printed (invalid profile files are listed as such)"),
            USAGE,
            PIPE,
        ],
    ),
    "profiles check": CommandHelp(
        examples=[
            ("jobdock profiles check acme.toml", ""),
            ("jobdock profiles check ~/.config/jobdock/profiles/*.toml", ""),
        ],
        codes=[
            (0, "every file is a valid profile (`FILE: ok (profile ID: NAME)` each)"),
            (
                2,
                "a file is not a valid profile (a `file:line: key: message` line on stderr a"
                " problem), or bad usage",
            ),
            PIPE,
        ],
    ),
    # accounts ----------------------------------------------------------------------------------
    "accounts": CommandHelp(
        examples=[
            ("jobdock accounts add work --provider vainu --secret-stdin < vainu-key.txt", ""),
            ("jobdock accounts list", ""),
            ("jobdock accounts test work", ""),
            ("jobdock --demo accounts list", "demo-vainu, demo-shoptet, … on 127.0.0.1"),
        ],
        codes=GROUP,
    ),
    "accounts add": CommandHelp(
        examples=[
            ("jobdock accounts add work --provider vainu --secret-stdin < vainu-key.txt", ""),
            (
                "jobdock accounts add shop --provider shoptet --secret-stdin < shoptet-token.txt",
                "",
            ),
            (
                "jobdock accounts add seller --provider amazon-sp-reports --base-url"
                " https://sellingpartnerapi-eu.amazon.com --secret-stdin < lwa.txt",
                "client_id=…, client_secret=…, refresh_token=… lines",
            ),
            (
                "jobdock accounts add uniprot --provider uniprot-idmapping",
                "a public API: no secret",
            ),
        ],
        codes=[
            (0, "the account was added (or updated)"),
            (1, STORE),
            (
                2,
                "bad usage or input: an unknown provider, a bad --base-url or --option, a"
                " missing or malformed secret on stdin (nothing is stored)",
            ),
            KEYRING,
            PIPE,
        ],
    ),
    "accounts list": CommandHelp(
        examples=[
            ("jobdock accounts list", "name, provider and base URL a line (never a secret)"),
            ("jobdock accounts list --json | jq -r '.[].name'", ""),
            ("jobdock --demo accounts list", ""),
        ],
        codes=_store("the accounts were listed"),
    ),
    "accounts remove": CommandHelp(
        examples=[
            ("jobdock accounts remove work", "its jobs stay, marked orphaned"),
            ("jobdock --demo accounts remove demo-testo", ""),
        ],
        codes=_store(
            "the account and its keyring entry were removed",
            "bad usage, or no account of that name",
            keyring=True,
        ),
    ),
    "accounts test": CommandHelp(
        examples=[
            ("jobdock accounts test work", "connected to ORIGIN: credentials accepted"),
            ("jobdock --demo accounts test demo-shoptet", ""),
        ],
        codes=_api(
            "the API answered and accepted the credentials",
            "bad usage, no account of that name, or no secret for it",
        ),
    ),
    # jobs ---------------------------------------------------------------------------------------
    "submit": CommandHelp(
        examples=[
            (
                "jobdock submit work --param country=FI --param async_format=csv",
                "prints the new job's id",
            ),
            ("jobdock submit seller --body @report-spec.json --json", "the job object"),
            (
                "jobdock submit uniprot --label FGFR2"
                " --body 'ids=P21802,P12345&from=UniProtKB_AC-ID&to=UniProtKB'",
                "",
            ),
            ("jobdock --demo submit demo-vainu --param sim_duration=5", ""),
        ],
        codes=_api(
            "the job was started (its id, or with --json its object, printed)",
            "bad usage or input: no account of that name, a --body that does not parse"
            " as the JSON or XML it is sent as, a --param or --method that is not one"
            " line",
        ),
    ),
    "track": CommandHelp(
        examples=[
            ("jobdock track work https://api.vainu.app/api/v2/companies/async/123/", ""),
            ("jobdock track seller 50039018196", "an SP-API report started elsewhere, by its id"),
            ("jobdock track shop 3ax1844 --json", "a Shoptet job by its id"),
        ],
        codes=_api(
            "the job is tracked (its id, or with --json its object, printed)",
            "bad usage or input: no account of that name, a REF the provider cannot"
            " follow, longer than 8,192 characters or of more than one line",
        ),
    ),
    "sync": CommandHelp(
        examples=[
            ("jobdock sync shop", "Shoptet's job list of the last 30 days"),
            ("jobdock --demo sync demo-shoptet", ""),
        ],
        codes=_api(
            "the provider's jobs were imported (`synced N jobs from ACCOUNT (M new)`)",
            "bad usage, no account of that name, or a provider with no job list",
        ),
    ),
    "jobs": CommandHelp(
        examples=[
            ("jobdock jobs", "a table: ID, ACCOUNT, PROVIDER, STATE, …"),
            ("jobdock jobs --state failed", ""),
            ("jobdock jobs --json | jq -r '.[] | select(.state == \"failed\") | .id'", ""),
            ("jobdock --demo jobs", ""),
        ],
        codes=_store("the jobs were listed"),
    ),
    "watch": CommandHelp(
        examples=[
            ("jobdock watch", "poll and download until Ctrl+C"),
            ("jobdock watch --until-done --timeout 3600 --download-dir ~/exports", "from cron"),
            ("jobdock watch --until-done --json | jq -c 'select(.event == \"saved\")'", ""),
            ("jobdock --demo watch --until-done -v", "every state change and job event too"),
        ],
        codes=[
            (
                0,
                "every job watched settled, succeeded and its results are saved (or, with"
                " --no-auto-download, left for `jobdock download`)",
            ),
            (
                1,
                "a job watched failed or was cancelled, a result was not saved or expired, or"
                f" {STORE}",
            ),
            USAGE,
            (3, "--timeout reached before every job watched settled"),
            KEYRING,
            (130, "stopped by Ctrl+C (state saved, .part files kept for the next run)"),
            (143, "stopped by SIGTERM (the same)"),
            PIPE,
        ],
    ),
    "download": CommandHelp(
        examples=[
            ("jobdock download 1a2b3c4d", "every file of the job; prints each saved path"),
            ("jobdock download 1a2b3c4d --file 2 --to ~/exports", ""),
        ],
        codes=[
            (0, "every file asked for was saved (its path printed)"),
            (
                1,
                "a file was not saved (`jobdock: STATE: reason` on stderr), the API refused or"
                f" could not be reached, or {STORE}",
            ),
            (
                2,
                "bad usage: no job of that id, a --file the job does not have, a --to that is"
                " not a writable folder",
            ),
            KEYRING,
            PIPE,
        ],
    ),
    "pause": CommandHelp(
        examples=[
            ("jobdock pause 1a2b3c4d", "every unfinished download of the job"),
            ("jobdock pause 1a2b3c4d --file 2", "its second file only"),
        ],
        codes=_store(
            "done, also when nothing was under way to pause",
            "bad usage: no job of that id, or a --file the job does not have",
        ),
    ),
    "resume": CommandHelp(
        examples=[
            ("jobdock resume 1a2b3c4d", ""),
            ("jobdock resume 1a2b3c4d --file 2", ""),
        ],
        codes=[
            (
                0,
                "resumed (the worker goes on with them), or, with no worker running, every"
                " file resumed was saved; also when nothing was paused",
            ),
            (
                1,
                "a file this command downloaded itself was not saved, the API refused or could"
                f" not be reached, or {STORE}",
            ),
            (2, "bad usage: no job of that id, or a --file the job does not have"),
            KEYRING,
            PIPE,
        ],
    ),
    "cancel": CommandHelp(
        examples=[
            ("jobdock cancel 1a2b3c4d --file 2", "its .part is deleted; the job itself stays"),
            ("jobdock cancel 1a2b3c4d", ""),
        ],
        codes=_store(
            "done, also when nothing was under way to cancel",
            "bad usage: no job of that id, or a --file the job does not have",
        ),
    ),
    "remove": CommandHelp(
        examples=[
            ("jobdock remove 1a2b3c4d", "the files it saved stay"),
            (
                'jobdock --demo remove "$(jobdock --demo jobs --state failed --json | jq -r'
                " '.[0].id')\"",
                "the demo's first failed job",
            ),
        ],
        codes=_store("the job is no longer tracked", "bad usage, or no job of that id"),
    ),
    "status": CommandHelp(
        examples=[
            ("jobdock status", ""),
            ("jobdock status --json | jq .worker.pid", ""),
            ("jobdock --demo status", ""),
        ],
        codes=[
            (0, "the worker (or that there is none) was printed"),
            (1, "the job store could not be read (the message says why)"),
            (2, "bad usage (one line on stderr)"),
            PIPE,
        ],
    ),
    "completion": CommandHelp(
        examples=[
            ("jobdock completion bash > ~/.local/share/bash-completion/completions/jobdock", ""),
            ('jobdock completion zsh > "${fpath[1]}/_jobdock"', ""),
            ("jobdock completion fish > ~/.config/fish/completions/jobdock.fish", ""),
        ],
        codes=[(0, "the script was printed"), (2, "bad usage (a shell it does not know)"), PIPE],
    ),
    "reset": CommandHelp(
        examples=[
            ("jobdock --demo reset", "asks first"),
            ("jobdock --demo reset --yes", ""),
            ("jobdock --demo --data-dir /tmp/jobdock-demo reset --yes", ""),
        ],
        codes=[
            (0, "the demo's data dir was deleted, or nothing when the answer was not yes"),
            (1, "a file in it could not be deleted (what is left stays)"),
            (
                2,
                "without --demo; without --yes when stdin is not a terminal; while a --demo"
                " process runs on it; a --data-dir that is not a demo dir",
            ),
            PIPE,
        ],
    ),
    # webhooks ---------------------------------------------------------------------------------
    "webhooks": CommandHelp(
        examples=[
            ("jobdock webhooks enable --public-url https://hooks.example.com", ""),
            ("jobdock webhooks register shop", ""),
        ],
        codes=GROUP,
    ),
    "webhooks enable": CommandHelp(
        examples=[
            (
                "jobdock webhooks enable --public-url https://hooks.example.com",
                "a proxy or tunnel to 127.0.0.1:8787",
            ),
            (
                "jobdock webhooks enable --bind 0.0.0.0 --port 8787 --public-url"
                " https://hooks.example.com",
                "",
            ),
        ],
        codes=_store("the setting was saved (the receiver runs during `watch`)"),
    ),
    "webhooks disable": CommandHelp(
        examples=[
            ("jobdock webhooks disable", "`watch` runs no receiver; polling goes on"),
            ("jobdock --demo webhooks disable", ""),
        ],
        codes=_store("the setting was saved"),
    ),
    "webhooks register": CommandHelp(
        examples=[
            ("jobdock webhooks register shop", "at the receiver's public URL (see enable)"),
            (
                "jobdock webhooks register shop https://relay.example.com/shoptet",
                "a receiver of your own",
            ),
        ],
        codes=_api(
            "registered; the signature key is stored in the keyring",
            "bad usage: no account of that name, not a Shoptet account, no URL given"
            " and no --public-url set",
        ),
    ),
}


def _lines(items: Sequence[str]) -> str:
    return "".join(f"  {item}\n" for item in items)


def format_examples(examples: Sequence[Example]) -> str:
    width = max((len(line) for line, note in examples if note and len(line) <= 50), default=0)
    rows = [f"{line.ljust(width)}  # {note}" if note else line for line, note in examples]
    return "examples:\n" + _lines(rows)


def format_codes(codes: Sequence[Code], after: str = "") -> str:
    rows = []
    for code, text in codes:
        first, *rest = _wrap(text, _WIDTH - 7)
        rows += [f"{code:<5}{first}", *(f"{'':5}{more}" for more in rest)]
    return "exit codes:\n" + _lines(rows) + (f"\n{after}\n" if after else "")


def epilog(path: str, *, before: str = "") -> str:
    """The end of `jobdock PATH --help`: `before` (the provider ids), examples, exit codes."""
    entry = HELP[path]  # KeyError: a command with no examples and exit codes of its own
    head = f"{before}\n\n" if before else ""
    return f"{head}{format_examples(entry.examples)}\n{format_codes(entry.codes, entry.after)}"
