"""Jobs and accounts as the JSON of docs/cli.md, and as a human-readable table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobdock.core.model.job import Account, DownloadState, Job, Result
from jobdock.core.net.http import safe_url


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
        "results": [_result_to_json(r) for r in job.results],
        "label": job.label,
        "submitted_at": _iso(job.submitted_at),
        "orphaned": job.orphaned,
    }


def _result_to_json(result: Result) -> dict[str, Any]:
    done = result.download_state == DownloadState.DONE
    return {
        "url": result.url,
        "expires_at": _iso(result.expires_at),
        "download_state": result.download_state.value,
        "path": result.path if done else None,
        "bytes": result.bytes,
        "error": result.error,
        "sha256": result.sha256,
        # How the saved file was checked (docs/cli.md); null until it is saved.
        "verified": result.verified.value if done and result.verified else None,
        # When a download that failed for a passing reason is tried again (docs/cli.md).
        "retry_at": _iso(result.retry_at),
        # Paused or cancelled by the user: not downloaded until asked (docs/cli.md).
        "held": result.held,
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


def watch_event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """One line of `watch --json` (docs/cli.md, "watch --json"): `event`, `at`, then its fields."""
    return {"event": kind, "at": at.isoformat(), **fields}


def result_event_fields(job: Job, index: int) -> dict[str, Any]:
    """The fields `saved` and `download_failed` events carry: the job, the file's place in its
    results, and the file as `jobs --json` shows it."""
    return {"job_id": job.id, "account": job.account, "index": index,
            **_result_to_json(job.results[index])}  # fmt: skip
