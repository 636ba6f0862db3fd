"""Each bundled vendor profile's page (docs/profiles/<id>.md) runs as written against the
simulator: its `jobdock accounts add` line with the simulator's base URL (and the options the
fake's demo account declares: a token endpoint, the result hosts) in place of the vendor's, the
secrets on stdin, then its copy-paste `jobdock submit` line exactly as the page gives it, and
`watch --until-done` exits 0 with every result saved as served, under the names the page says to
expect."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from jobdock.simulator import Simulator, demo
from jobdock.simulator.config import DemoAccount
from tests.e2e.conftest import FAST_POLLS, Cli
from tests.e2e.profiles.support import saved_files

DOCS = Path(__file__).parents[2] / "docs" / "profiles"
PAGES = sorted(path.stem for path in DOCS.glob("*.md"))
_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_COMMAND = re.compile(r"\bjobdock (accounts add|submit) ")


def commands(page: str, verb: str) -> list[list[str]]:
    """The page's `jobdock VERB …` commands, each as the shell would split it: from the code
    blocks, continuation lines (`\\`, or a line that ends a pipe) joined, what a pipe feeds in
    front of `jobdock` left out."""
    found = []
    for block in _FENCE.findall((DOCS / f"{page}.md").read_text(encoding="utf-8")):
        text = re.sub(r"\\\n\s*", " ", block)
        text = re.sub(r"\|\n\s*", "| ", text)
        for line in text.splitlines():
            match = _COMMAND.search(line)
            if match is not None and match.group(1) == verb:
                found.append(shlex.split(line[match.start() :])[1:])
    return found


def demo_account(sim: Simulator, provider: str) -> DemoAccount:
    (account,) = [a for a in demo.profile_accounts(sim) if a.provider == provider]
    return account


def stdin_of(secret: str) -> str:
    """What `--secret-stdin` reads: the one secret, or NAME=VALUE lines of named secrets."""
    try:
        named = json.loads(secret)
    except ValueError:
        return secret + "\n"
    return "".join(f"{name}={value}\n" for name, value in named.items())


def add_as_documented(cli: Cli, sim: Simulator, page: str) -> str:
    """Run the page's (first) `accounts add` with the simulator's URLs; the account's name. A
    page may give more, each adding the same account another way (Salesforce's two grants)."""
    added = commands(page, "accounts add")
    assert added and len({(a[2], a[a.index("--provider") + 1]) for a in added}) == 1, added
    args = added[0]
    name, provider = args[2], args[args.index("--provider") + 1]
    assert provider == page, f"the page of {page} adds a {provider} account"
    if "--base-url" in args:  # the vendor's; the simulator's in its place
        at = args.index("--base-url")
        del args[at : at + 2]
    account = demo_account(sim, provider)
    options = [p for k, v in account.options.items() for p in ("--option", f"{k}={v}")]
    secret = stdin_of(account.secret) if "--secret-stdin" in args else None
    cli(*args, "--base-url", account.base_url, *options, *FAST_POLLS, stdin=secret)
    return name


@pytest.mark.parametrize("page", PAGES)
def test_a_pages_submit_line_runs_as_written_and_saves_what_it_says(
    page: str, cli: Cli, simulator: Simulator
) -> None:
    name = add_as_documented(cli, simulator, page)
    (submit,) = commands(page, "submit")
    assert submit[1] == name, "the submit line uses the account the page adds"
    cli(*submit)  # exactly as the page gives it
    cli("watch", "--until-done", "--timeout", "60")
    (job,) = cli.json("jobs", "--json")
    assert job["state"] == "succeeded", job
    served = simulator.expected_results(page, job["remote_id"])
    assert served and saved_files(job) == served
    names = expected_names(page)
    for result in job["results"]:  # each file named as the page's "Result" section says
        filename = Path(result["path"]).name
        assert any(re.fullmatch(n, filename) for n in names), (filename, names)


# A placeholder in a file name the page gives: `<reportId>`, `{jobId}`, `…`, `JOB_ID`, `N`; and a
# page number, `001`.
_PLACEHOLDER = re.compile(r"<[^>]*>|\{[^}]*\}|…|(?<![a-z])[A-Z][A-Z_]*(?![a-z])|\d{3}")
_FILE_NAME = re.compile(r"`([^`.:][^`:]*\.[a-z]{2,5}(?:\.gz)?)`")  # not `.zip`, not a URL


def expected_names(page: str) -> list[str]:
    """The file names the page's "## Result" section gives, each as a pattern."""
    text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
    section = text.partition("\n## Result")[2].partition("\n## ")[0]
    patterns = []
    for name in _FILE_NAME.findall(section):
        shape, at = [], 0
        for match in _PLACEHOLDER.finditer(name):
            shape += [re.escape(name[at : match.start()]),
                      r"\d{3,}" if match.group().isdigit() else ".+"]  # fmt: skip
            at = match.end()
        patterns.append("".join([*shape, re.escape(name[at:])]))
    assert patterns, f"docs/profiles/{page}.md names no result file in its Result section"
    return patterns
