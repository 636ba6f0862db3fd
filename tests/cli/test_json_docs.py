"""The JSON objects docs/cli.md gives (`jobs --json`, `accounts list --json`, `profiles list
--json`) have exactly the keys the CLI prints: none undocumented, none documented and gone."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from jobdock.cli.profiles import list_profiles
from jobdock.cli.serialize import account_to_json, job_to_json
from jobdock.core.model.job import Account, Job, JobState, Result
from jobdock.core.providers.shoptet.quota import QuotaStatus

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def documented(title: str) -> str:
    """The code block under `## TITLE`."""
    text = DOCS.read_text()
    section = text[text.index(f"\n## {title}\n") :]
    return section.split("```", 2)[1]


def keys(block: str) -> set[str]:
    return set(re.findall(r'"(\w+)":', block)) - {"K"}


def test_jobs_json_keys_are_the_documented_ones() -> None:
    job = Job(id="j1", account="a", provider="vainu", state=JobState.SUCCEEDED,
              results=(Result(url="https://x.example/r.csv"),))  # fmt: skip
    printed = job_to_json(job)
    block = documented("`jobs --json`")
    job_part, result_part = block.split('"results": [', 1)
    assert keys(job_part) | {"results"} == set(printed)
    assert keys(result_part) == set(printed["results"][0])


def test_accounts_list_json_keys_are_the_documented_ones() -> None:
    printed = account_to_json(Account(name="a", provider="shoptet", base_url="https://x.example"))
    block = documented("`accounts list --json`")
    outer, quota = block.split('"rate_limit":', 1)
    assert keys(outer) | {"rate_limit"} == set(printed) | {"rate_limit"}
    assert keys(quota) == set(QuotaStatus().to_json())


def test_profiles_list_json_keys_are_the_documented_ones() -> None:
    out = io.StringIO()
    list_profiles([], out=out, as_json=True)
    rows = json.loads(out.getvalue())
    assert {frozenset(r) for r in rows} == {frozenset(keys(documented("`profiles list --json`")))}
