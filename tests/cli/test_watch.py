"""`watch` on a data dir with a long settled history: it answers for the unsettled jobs and
never reads the history for that (a cron `watch` on 100,000 stored jobs starts at once)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobdock.cli.watch import watch
from jobdock.core.model.job import DownloadState, Job, JobState, Result
from jobdock.core.model.paths import AppPaths
from jobdock.core.store.credentials import MemoryCredentialStore
from jobdock.core.store.jobs import JobStore
from jobdock.runtime import Runtime

NOW = datetime.now(UTC)


def settled(n: int) -> Job:
    at = NOW - timedelta(days=10) + timedelta(seconds=n)
    result = Result(url=f"https://s.example/{n}.csv", download_state=DownloadState.DONE,
                    path=f"/d/{n}.csv", bytes=10)  # fmt: skip
    return Job(id=f"h{n:05d}", account="gone", provider="vainu", label=f"old {n}",
               state=JobState.SUCCEEDED, submitted_at=at, updated_at=at,
               results=(result,))  # fmt: skip


def test_watch_until_done_reads_no_settled_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = AppPaths.resolve(tmp_path / "data").ensure()
    store = JobStore.open(paths.store_file)
    store.put_jobs([settled(n) for n in range(300)])
    store.close()
    read: list[str] = []
    get_jobs = JobStore.get_jobs

    def spy(self: JobStore, job_ids: list[str]) -> list[Job]:
        read.extend(job_ids)
        return get_jobs(self, job_ids)

    monkeypatch.setattr(JobStore, "get_jobs", spy)

    async def scenario() -> tuple[int, str]:
        async with Runtime.open(data_dir=paths.data_dir, credentials=MemoryCredentialStore(),
                                profiles=[]) as runtime:  # fmt: skip
            out = io.StringIO()
            code = await watch(runtime.engine, out=out, err=io.StringIO(), until_done=True,
                               time_limit=30, download_dir=None, auto_download=True,
                               as_json=True)  # fmt: skip
            return code, out.getvalue()

    code, out = asyncio.run(scenario())
    assert code == 0 and '"jobs": []' in out
    assert not [i for i in read if i.startswith("h")], "settled history was read"
