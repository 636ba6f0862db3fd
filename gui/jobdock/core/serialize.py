"""Jobs and accounts as the JSON of docs/cli.md, and as a human-readable table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobdock.core.http import safe_url
from jobdock.core.job import Account, Job


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_to_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "account": job.account,
        "provider": job.provider,
        "remote_id": job.remote_id,
        "status_url": job.status_url,
        "state": job.state.value,
        "remote_state": job.remote_state,
        "progress": job.progress,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error.splitlines()[0] if job.error else None,
        "results": [
            {
                "url": r.url,
                "expires_at": _iso(r.expires_at),
                "download_state": r.download_state.value,
                "path": r.path if r.download_state.value == "done" else None,
                "bytes": r.bytes,
                "error": r.error,
                "sha256": r.sha256,
            }
            for r in job.results
        ],
        "label": job.label,
        "submitted_at": _iso(job.submitted_at),
        "orphaned": job.orphaned,
    }


def account_to_json(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "provider": account.provider,
        "base_url": account.base_url,
        "user": account.user,
        "options": dict(account.options),
    }


def _results_cell(job: Job) -> str:
    if not job.results:
        return "-"
    done = sum(1 for r in job.results if r.download_state.value == "done")
    return f"{done}/{len(job.results)} saved"


def job_table(jobs: list[Job]) -> str:
    header = ("ID", "ACCOUNT", "PROVIDER", "STATE", "REMOTE", "PROGRESS", "RESULTS", "NOTE")
    rows = [header]
    for job in jobs:
        progress = f"{job.progress:.0f}%" if job.progress is not None else "-"
        note = job.error or job.label or (safe_url(job.status_url) if job.status_url else "")
        state = job.state.value + (" (orphaned)" if job.orphaned else "")
        rows.append(
            (job.id, job.account, job.provider, state, job.remote_state or "-", progress,
             _results_cell(job), note.splitlines()[0][:80] if note else "")
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
