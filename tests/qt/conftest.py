"""Fixtures for the window's tests: hand-made jobs and a fake engine (`qasync_loop` lives in
tests/conftest.py).

`FakeEngine` has the parts of `jobdock.core.engine.engine.Engine` the window uses, records
every call, and publishes batches the way the engine does, so models and actions are tested
without network.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobdock.core.engine.engine import PollHealth
from jobdock.core.model.job import Account, DownloadState, Job, JobEvent, JobState, Result
from jobdock.core.model.paths import AppPaths
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.store.credentials import Redactor
from jobdock.core.store.settings import EngineSettings

NOW = datetime(2025, 11, 23, 12, 0, tzinfo=UTC)


def make_job(n: int, **changes: Any) -> Job:
    values: dict[str, Any] = {
        "id": f"job{n:04d}",
        "account": "acme" if n % 2 else "globex",
        "provider": "vainu" if n % 2 else "testo",
        "label": f"export {n}",
        "remote_id": f"r{n}",
        "state": JobState.RUNNING,
        "remote_state": "process",
        "progress": 40.0,
        "created_at": NOW - timedelta(minutes=5),
        "submitted_at": NOW - timedelta(minutes=5) + timedelta(seconds=n),
    }
    values.update(changes)
    return Job(**values)


def succeeded(n: int, *, expires_in: float = 3600, state: DownloadState = DownloadState.PENDING,
              path: str | None = None, **changes: Any) -> Job:  # fmt: skip
    result = Result(
        url=f"https://storage.example/r{n}.csv?signature=s3cr3t",
        expires_at=NOW + timedelta(seconds=expires_in),
        download_state=state,
        path=path,
        bytes=2048 if path else None,
    )
    return make_job(
        n, state=JobState.SUCCEEDED, remote_state="completed", progress=100.0,
        finished_at=NOW - timedelta(minutes=1), results=(result,), **changes,
    )  # fmt: skip


class FakeCredentials:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def backend_name(self) -> str:
        if self.error is not None:
            raise self.error
        return "fake keyring"


class FakeEngine:
    """Just enough of `Engine` for the window; calls are recorded in `calls`."""

    def __init__(self, jobs: list[Job] | None = None, *, download_dir: Path = Path("/tmp/jd")):
        self._jobs = {j.id: j for j in jobs or []}
        self._listeners: list[Callable[[UpdateBatch], None]] = []
        self._accounts = {
            "acme": Account(name="acme", provider="vainu", base_url="https://api.vainu.app/api/v2"),
            "globex": Account(name="globex", provider="testo", base_url="https://data.example"),
        }
        self.calls: list[tuple[str, ...]] = []
        self.settings = EngineSettings(download_dir=download_dir)
        self.paths = AppPaths(data_dir=download_dir / "data", default_download_dir=download_dir)
        self.store_problem: str | None = None  # why the store refuses writes, while it does
        self.health = PollHealth()
        self.redactor = Redactor()
        self.credentials = FakeCredentials()
        from jobdock.core.providers import builtin_providers

        self.providers = builtin_providers()

    # reading
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def job(self, job_id: str) -> Job:
        return self._jobs[job_id]

    def count_of_account(self, account: str) -> int:
        return sum(1 for job in self._jobs.values() if job.account == account)

    def events(self, job_id: str) -> list[JobEvent]:
        return [JobEvent(job_id=job_id, at=NOW, kind="submitted", message="hello")]

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def account(self, name: str) -> Account:
        return self._accounts[name]

    def provider(self, provider_id: str) -> Any:
        return self.providers[provider_id]

    def folder_for(self, job: Job) -> Path:
        return self.settings.download_dir / job.account / job.id

    # publishing
    def subscribe(self, listener: Callable[[UpdateBatch], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, changed: tuple[Job, ...] = (), removed: tuple[str, ...] = (),
                progress: tuple[Any, ...] = ()) -> None:  # fmt: skip
        for job in changed:
            self._jobs[job.id] = job
        for job_id in removed:
            self._jobs.pop(job_id, None)
        batch = UpdateBatch(changed=changed, removed=removed, progress=progress)
        for listener in list(self._listeners):
            listener(batch)

    # actions
    async def download(
        self, job_id: str, *, to: Path | None = None, index: int | None = None
    ) -> Job:
        self.calls.append(("download", job_id) if index is None and to is None
                          else ("download", job_id, index, str(to)))  # fmt: skip
        return self.job(job_id)

    async def refresh(self, job_id: str) -> Job:
        self.calls.append(("refresh", job_id))
        return self.job(job_id)

    async def pause_download(self, job_id: str, *, index: int | None = None) -> Job:
        self.calls.append(("pause", job_id) if index is None else ("pause", job_id, index))
        return self.job(job_id)

    async def resume_download(self, job_id: str, *, index: int | None = None) -> Job:
        self.calls.append(("resume", job_id) if index is None else ("resume", job_id, index))
        return self.job(job_id)

    async def cancel_download(self, job_id: str, *, index: int | None = None) -> Job:
        self.calls.append(("cancel", job_id) if index is None else ("cancel", job_id, index))
        return self.job(job_id)

    async def resubmit(self, job_id: str) -> Job:
        self.calls.append(("resubmit", job_id))
        return self.job(job_id)

    async def remove(self, job_id: str) -> None:
        self.calls.append(("remove", job_id))
        self.publish(removed=(job_id,))

    async def track(self, account: str, ref: str, *, label: str = "") -> Job:
        self.calls.append(("track", account, ref))
        job = make_job(900, account=account, remote_id=ref, id="tracked1")
        self.publish(changed=(job,))
        return job

    async def submit(self, account: str, request: Any, *, label: str = "") -> Job:
        self.calls.append(("submit", account, request.method, request.path))
        job = make_job(901, account=account, id="submitted1", label=label)
        self.publish(changed=(job,))
        return job

    async def sync(self, account: str) -> list[Job]:
        self.calls.append(("sync", account))
        return []

    async def add_account(self, account: Account, secret: str | None) -> Account:
        self.calls.append(("add_account", account.name, "secret" if secret else "no secret"))
        self.provider(account.provider).check_account(account)  # as the engine's accounts do
        self._accounts[account.name] = account
        return account

    async def remove_account(self, name: str) -> None:
        self.calls.append(("remove_account", name))
        self._accounts.pop(name, None)

    def configure(self, *, persist: bool = False, **changes: Any) -> EngineSettings:
        import dataclasses

        self.calls.append(("configure", *sorted(changes)))
        self.settings = dataclasses.replace(self.settings, **changes)
        return self.settings


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


@pytest.fixture(autouse=True)
def _qt_garbage_collected_here() -> Iterator[None]:
    # A test's windows, models and timers must die on this (the GUI) thread. Left to the
    # cycle collector they die wherever it next runs, often in a later test's download or
    # server thread: Qt then warns "Timers cannot be stopped from another thread" or crashes.
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _no_quit_on_last_window_closed(qapp: Any) -> Any:
    # As in the app (jobdock.qt.app.main): closing the last window must not quit the
    # QApplication, which would stop a running qasync loop in the middle of a test.
    qapp.setQuitOnLastWindowClosed(False)
    yield
