"""store.py: round trips, migrations, restart survival, orphaning, settings."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobdock.core.model.errors import StoreError, UsageError
from jobdock.core.model.job import (
    Account,
    DownloadState,
    Job,
    JobEvent,
    JobState,
    Result,
    SubmitRequest,
    Verified,
)
from jobdock.core.store.jobs import MIGRATIONS, JobStore

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _job(**changes: object) -> Job:
    job = Job(
        id="j1",
        account="acc",
        provider="testo",
        remote_id="r-1",
        status_url="https://api.example/v3/devices/status/r-1",
        state=JobState.RUNNING,
        remote_state="In Progress",
        progress=40.0,
        created_at=NOW,
        submitted_at=NOW,
        updated_at=NOW,
        request=SubmitRequest(
            method="POST", path="/v3/devices/status", params=(("a", "1"),), body=b'{"x": 1}',
            content_type="application/json",
        ),
        results=(
            Result(url="https://s/1", expires_at=NOW, filename_hint="a.csv"),
            Result(url="https://s/2", download_state=DownloadState.DONE, path="/x/b.csv", bytes=5,
                   sha256="ab", verified=Verified.CRC32C, etag='"e"'),
        ),
    )  # fmt: skip
    return job.replace(**changes)


def test_job_round_trip_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore.open(path)
    store.put_account(Account(name="acc", provider="testo", base_url="https://a"), now=NOW)
    store.put_job(_job())
    store.add_events([JobEvent(job_id="j1", at=NOW, kind="state", message="running")])
    store.close()

    again = JobStore.open(path)
    assert again.get_job("j1") == _job()
    assert again.list_jobs(state=JobState.RUNNING) == [_job()]
    assert again.list_jobs(state=JobState.FAILED) == []
    assert [e.message for e in again.events("j1")] == ["running"]
    assert again.find_job("acc", remote_id="r-1") == _job()
    assert again.find_job("acc", status_url=_job().status_url) == _job()
    assert again.find_job("other", remote_id="r-1") is None
    again.close()


def test_results_stored_before_verification_was_recorded_load_as_unknown(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore.open(path)
    store.put_account(Account(name="acc", provider="testo", base_url="https://a"), now=NOW)
    store.put_job(_job())
    store.close()
    db = sqlite3.connect(path)
    (stored,) = db.execute("SELECT results FROM jobs WHERE id = 'j1'").fetchone()
    old = json.loads(stored)
    assert old[1]["verified"] == "crc32c"
    for result in old:
        del result["verified"]  # a row written before the key existed
    db.execute("UPDATE jobs SET results = ? WHERE id = 'j1'", (json.dumps(old),))
    db.commit()
    db.close()
    again = JobStore.open(path)
    loaded = again.get_job("j1")
    again.close()
    assert [r.verified for r in loaded.results] == [None, None]
    assert loaded.results[1].sha256 == "ab" and loaded.results[1].path == "/x/b.csv"


def test_wal_and_schema_version(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "s.db")
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer Jobdock"):
        JobStore.open(tmp_path / "s.db")


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the job store"):
        JobStore.open(tmp_path / "s.db")


def test_remove_account_orphans_jobs_and_readding_adopts_them(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "s.db")
    store.put_account(Account(name="acc", provider="testo", base_url="https://a"), now=NOW)
    store.put_job(_job())
    store.remove_account("acc")
    assert store.get_job("j1").orphaned
    with pytest.raises(UsageError, match="unknown account"):
        store.get_account("acc")
    store.put_account(Account(name="acc", provider="testo", base_url="https://b"), now=NOW)
    assert not store.get_job("j1").orphaned
    assert store.get_account("acc").base_url == "https://b"
    store.close()


def test_remove_job_and_unknown_job(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "s.db")
    store.put_job(_job())
    store.add_events([JobEvent(job_id="j1", at=NOW, kind="x", message="y")])
    store.remove_job("j1")
    assert store.events("j1") == []
    with pytest.raises(UsageError, match="unknown job"):
        store.get_job("j1")
    store.close()


def test_settings(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "s.db")
    assert store.get_setting("engine", {"d": 1}) == {"d": 1}
    store.set_setting("engine", {"auto_download": False})
    store.set_setting("engine", {"auto_download": True})
    assert store.get_setting("engine") == {"auto_download": True}
    store.close()


def test_failed_batch_leaves_store_unchanged(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "s.db")
    store.put_job(_job())
    bad = _job(id="j2").replace(state="not-a-state")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        store.put_jobs([_job(progress=99.0), bad])
    assert store.get_job("j1").progress == 40.0
    store.close()


def test_schema_1_file_is_migrated_keeping_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO jobs (id, account, provider, state, submitted_at, updated_at) "
        "VALUES ('old', 'acc', 'vainu', 'running', ?, ?)",
        (NOW.isoformat(), NOW.isoformat()),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = JobStore.open(path)
    assert store.schema_version == len(MIGRATIONS) >= 2
    job = store.get_job("old")
    assert job.state == JobState.RUNNING and job.result_url is None
    store.put_job(job.replace(result_url="https://api/x"))
    assert store.get_job("old").result_url == "https://api/x"
    store.close()
