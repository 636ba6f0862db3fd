"""The job store: accounts, jobs with their results, per-job event history and settings in SQLite.

WAL mode so the window, a CLI `watch` and a `jobs --json` can use one file at once; the schema is
versioned with `PRAGMA user_version` and upgraded by the ordered `MIGRATIONS`. Results are kept as a
JSON column of the job row: they are always read and written with their job, and new result fields
need no migration. Secrets are never stored here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

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
from jobdock.core.net.inputs import quoted
from jobdock.core.store.rowmerge import merge

# `is_history` and `is_saved` over a stored row, for the rows written before the columns
# existed (migration 4); later writes set them from the Job (`_job_row`).
_SETTLED_SQL = """
    state IN ('succeeded', 'failed', 'cancelled') AND NOT EXISTS (
        SELECT 1 FROM json_each(jobs.results) AS r WHERE NOT (
            coalesce(json_extract(r.value, '$.held'), 0)
            OR (json_extract(r.value, '$.download_state') IN ('done', 'failed', 'expired', 'paused')
                AND json_extract(r.value, '$.retry_at') IS NULL))
        OR (json_extract(r.value, '$.expires_at') IS NOT NULL
            AND json_extract(r.value, '$.download_state') IN ('pending', 'downloading', 'paused')))
"""
_SAVED_SQL = """
    results != '[]' AND NOT EXISTS (
        SELECT 1 FROM json_each(jobs.results) AS r
        WHERE json_extract(r.value, '$.download_state') != 'done')
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY, provider TEXT NOT NULL, base_url TEXT NOT NULL, user TEXT,
        options TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, provider TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '', remote_id TEXT, status_url TEXT,
        state TEXT NOT NULL, remote_state TEXT NOT NULL DEFAULT '', progress REAL,
        created_at TEXT, finished_at TEXT, submitted_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        error TEXT, log TEXT, last_response TEXT, request TEXT,
        next_poll_at TEXT, deadline_at TEXT,
        poll_failures INTEGER NOT NULL DEFAULT 0, polls INTEGER NOT NULL DEFAULT 0,
        orphaned INTEGER NOT NULL DEFAULT 0, results TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX jobs_account ON jobs (account);
    CREATE INDEX jobs_state ON jobs (state);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, at TEXT NOT NULL,
        kind TEXT NOT NULL, message TEXT NOT NULL
    );
    CREATE INDEX events_job ON events (job_id, id);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: generic-202 keeps the Location seen beside a status monitor
    """
    ALTER TABLE jobs ADD COLUMN result_url TEXT;
    """,
    # 3: one engine per data dir: the worker's lease and the commands handed to it (lease.py)
    """
    CREATE TABLE lease (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
        since TEXT NOT NULL, heartbeat TEXT NOT NULL, beats INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE commands (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, job_id TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '{}', sender TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL, taken INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4: settled history is read by page, not at start: whether a job is history (`is_history`)
    # and saved (every result saved) are columns, kept with each write, so the start reads
    # only the other rows whole
    f"""
    ALTER TABLE jobs ADD COLUMN history INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN saved INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET history = ({_SETTLED_SQL}), saved = ({_SAVED_SQL});
    CREATE INDEX jobs_history ON jobs (history, submitted_at, id);
    """,
    # 5: the worker says in its lease whether it downloads results as jobs succeed, so that a
    # process following it knows whether to wait for them (lease.py)
    """
    ALTER TABLE lease ADD COLUMN downloads INTEGER NOT NULL DEFAULT 1;
    """,
)

_JOB_COLUMNS = (
    "id account provider label remote_id status_url state remote_state progress created_at "
    "finished_at submitted_at updated_at error log last_response request next_poll_at deadline_at "
    "poll_failures polls orphaned results result_url"
).split()
_WRITTEN_COLUMNS = (*_JOB_COLUMNS, "history", "saved")  # the last two derived (migration 4)


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def result_to_json(result: Result) -> dict[str, Any]:
    return {
        "url": result.url,
        "key": result.key,
        "expires_at": _dt(result.expires_at),
        "filename_hint": result.filename_hint,
        "needs_auth": result.needs_auth,
        "download_state": result.download_state.value,
        "path": result.path,
        "bytes": result.bytes,
        "bytes_done": result.bytes_done,
        "sha256": result.sha256,
        "verified": result.verified.value if result.verified is not None else None,
        "checksum": result.checksum,
        "decompress": result.decompress,
        "etag": result.etag,
        "last_modified": result.last_modified,
        "error": result.error,
        "retry_at": _dt(result.retry_at),
        "retries": result.retries,
        "held": result.held,
        # The names only: the values (a decryption key) are never written anywhere.
        **(
            {"link_header_names": list(result.link_header_names)}
            if result.link_header_names
            else {}
        ),
    }


def result_from_json(data: dict[str, Any]) -> Result:
    return Result(
        url=data["url"],
        key=data.get("key") or "",
        expires_at=_parse_dt(data.get("expires_at")),
        filename_hint=data.get("filename_hint"),
        needs_auth=bool(data.get("needs_auth")),
        download_state=_DOWNLOAD_STATES[data.get("download_state") or "pending"],
        path=data.get("path"),
        bytes=data.get("bytes"),
        bytes_done=int(data.get("bytes_done") or 0),
        sha256=data.get("sha256"),
        decompress=data.get("decompress"),
        verified=_VERIFIED.get(data.get("verified") or ""),  # rows from before: None
        checksum=data.get("checksum"),
        etag=data.get("etag"),
        last_modified=data.get("last_modified"),
        error=data.get("error"),
        retry_at=_parse_dt(data.get("retry_at")),
        retries=int(data.get("retries") or 0),
        held=bool(data.get("held")),
        link_header_names=tuple(str(n) for n in data.get("link_header_names") or ()),
    )


def _job_row(job: Job) -> tuple[Any, ...]:
    return (
        job.id, job.account, job.provider, job.label, job.remote_id, job.status_url,
        job.state.value, job.remote_state, job.progress, _dt(job.created_at),
        _dt(job.finished_at), _dt(job.submitted_at), _dt(job.updated_at), job.error, job.log,
        job.last_response, json.dumps(job.request.to_json()) if job.request else None,
        _dt(job.next_poll_at), _dt(job.deadline_at), job.poll_failures, job.polls,
        int(job.orphaned), json.dumps([result_to_json(r) for r in job.results]), job.result_url,
        int(is_history(job)), int(is_saved(job)),
    )  # fmt: skip


def is_history(job: Job) -> bool:
    """Settled (`Job.is_settled`) with no link left that is not saved and can expire: nothing
    the engine follows or the window's clock changes, so it is read by page, not at start."""
    waiting = (DownloadState.PENDING, DownloadState.DOWNLOADING, DownloadState.PAUSED)
    return job.is_settled and not any(
        r.expires_at is not None and r.download_state in waiting for r in job.results
    )


def is_saved(job: Job) -> bool:
    """Every result of the job saved (the window's "downloaded")."""
    return bool(job.results) and all(r.download_state == DownloadState.DONE for r in job.results)


_STATES = {s.value: s for s in JobState}
_DOWNLOAD_STATES = {s.value: s for s in DownloadState}
_VERIFIED = {v.value: v for v in Verified}
_SELECT_JOBS = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"


def _job_from_row(row: tuple[Any, ...]) -> Job:
    """A job from a row of `_SELECT_JOBS` (a plain tuple in `_JOB_COLUMNS` order: positional
    reads and dict look-ups keep loading 10,000 jobs at startup fast)."""
    (job_id, account, provider, label, remote_id, status_url, state, remote_state, progress,
     created_at, finished_at, submitted_at, updated_at, error, log, last_response, request,
     next_poll_at, deadline_at, poll_failures, polls, orphaned, results,
     result_url) = row  # fmt: skip
    return Job(
        id=job_id,
        account=account,
        provider=provider,
        label=label,
        remote_id=remote_id,
        status_url=status_url,
        result_url=result_url,
        state=_STATES[state],
        remote_state=remote_state,
        progress=progress,
        created_at=_parse_dt(created_at),
        finished_at=_parse_dt(finished_at),
        submitted_at=datetime.fromisoformat(submitted_at),
        updated_at=datetime.fromisoformat(updated_at),
        error=error,
        log=log,
        last_response=last_response,
        request=SubmitRequest.from_json(json.loads(request)) if request else None,
        next_poll_at=_parse_dt(next_poll_at),
        deadline_at=_parse_dt(deadline_at),
        poll_failures=poll_failures,
        polls=polls,
        orphaned=bool(orphaned),
        results=tuple(result_from_json(r) for r in json.loads(results)) if results != "[]" else (),
    )


class JobStore:
    """One SQLite file. Every method is a short transaction; callers batch with `put_jobs`."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> JobStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            store = cls(db, path)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the job store {path}: {exc}") from None
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (a full disk): a transaction left open would
                # make every later write fail with "cannot start a transaction within one".
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot write the job store {self.path}: {exc}") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the job store {self.path} was written by a newer Jobdock "
                f"(schema {version}, this one knows {len(MIGRATIONS)})"
            )
        for number in range(version, len(MIGRATIONS)):
            with self._tx() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # accounts ------------------------------------------------------------------------------
    def put_account(self, account: Account, *, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO accounts (name, provider, base_url, user, options, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "provider=excluded.provider, base_url=excluded.base_url, user=excluded.user, "
                "options=excluded.options",
                (
                    account.name, account.provider, account.base_url, account.user,
                    json.dumps(dict(account.options)), _dt(now),
                ),
            )  # fmt: skip
            db.execute("UPDATE jobs SET orphaned = 0 WHERE account = ?", (account.name,))

    def get_account(self, name: str) -> Account:
        row = self._db.execute("SELECT * FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UsageError(f"unknown account {quoted(name)} (see `jobdock accounts list`)")
        return _account_from_row(row)

    def list_accounts(self) -> list[Account]:
        rows = self._db.execute("SELECT * FROM accounts ORDER BY name").fetchall()
        return [_account_from_row(r) for r in rows]

    def remove_account(self, name: str) -> None:
        self.get_account(name)
        with self._tx() as db:
            db.execute("DELETE FROM accounts WHERE name = ?", (name,))
            db.execute("UPDATE jobs SET orphaned = 1 WHERE account = ?", (name,))

    # jobs ----------------------------------------------------------------------------------
    def put_jobs(
        self, jobs: Iterable[Job], *, bases: Mapping[str, Job | None] | None = None
    ) -> dict[str, Job | None]:
        """Write jobs with compare-and-set on `updated_at`; returns what each row now holds
        (None: the row was removed meanwhile, and stays removed).

        `bases` maps a job id to the version its writer last read (None: a new job). A row still
        at that version is overwritten; a row another process changed since is merged
        (`rowmerge.merge`: fields only the writer changed are taken, fields both changed keep
        the stored value), so a stale process never overwrites newer work. Without a base a write
        is dropped when the stored row is newer. One transaction: no other writer in between."""
        latest = {j.id: j for j in jobs}  # a job named twice: its last version
        jobs = list(latest.values())
        rows = [_job_row(j) for j in jobs]
        bases = bases or {}
        with self._tx() as db:
            stored = self._stamps_of([j.id for j in jobs])
            written: dict[str, Job | None] = {}
            plain: list[tuple[Any, ...]] = []
            for job, row in zip(jobs, rows, strict=True):
                base = bases.get(job.id)
                stamp = stored.get(job.id)
                if stamp is None:
                    if base is None:
                        plain.append(row)
                        written[job.id] = job
                    else:
                        written[job.id] = None  # removed by another process: stays removed
                elif base is not None and stamp == base.updated_at.isoformat():
                    plain.append(row)
                    written[job.id] = job
                else:
                    theirs = self._jobs_where("WHERE id = ?", (job.id,))[0]
                    if base is None:
                        keep = theirs.updated_at > job.updated_at
                        outcome = theirs if keep else job
                    else:
                        outcome = merge(base, job, theirs)
                    if outcome is not theirs:
                        plain.append(_job_row(outcome))
                    written[job.id] = outcome
            db.executemany(self._upsert_sql(), plain)
        return written

    @staticmethod
    def _upsert_sql() -> str:
        placeholders = ", ".join("?" for _ in _WRITTEN_COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in _WRITTEN_COLUMNS if c != "id")
        return (
            f"INSERT INTO jobs ({', '.join(_WRITTEN_COLUMNS)}) VALUES ({placeholders}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )

    def _stamps_of(self, job_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(job_ids), 500):  # SQLite's limit on `?` is 999 on old builds
            chunk = job_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(
                self._tuples(f"SELECT id, updated_at FROM jobs WHERE id IN ({marks})", tuple(chunk))
            )
        return found

    def put_job(self, job: Job) -> None:
        self.put_jobs([job])

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE) for the lease and command tables."""
        return self._tx()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Plain-tuple rows of a query (the lease and command tables)."""
        return self._tuples(sql, params)

    def _tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows as plain tuples, read by position (faster than the connection's `Row`s)."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()

    def _jobs_where(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Job]:
        return [_job_from_row(r) for r in self._tuples(f"{_SELECT_JOBS} {where}", params)]

    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        """These jobs (those that exist), in no particular order."""
        found: list[Job] = []
        for start in range(0, len(job_ids), 500):  # SQLite's limit on `?` is 999 on old builds
            chunk = job_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found += self._jobs_where(f"WHERE id IN ({marks})", tuple(chunk))
        return found

    def job_stamps(self) -> dict[str, str]:
        """Every job's id and `updated_at` as stored: cheap enough to compare every second."""
        return dict(self._tuples("SELECT id, updated_at FROM jobs"))

    def data_version(self) -> int:
        """A number that changes whenever another connection (another Jobdock process on this
        data dir) commits to the file; this connection's own commits leave it alone."""
        return int(self._tuples("PRAGMA data_version")[0][0])

    def get_job(self, job_id: str) -> Job:
        found = self._jobs_where("WHERE id = ?", (job_id,))
        if not found:
            raise UsageError(f"unknown job {quoted(job_id)} (see `jobdock jobs`)")
        return found[0]

    def unsettled_jobs(self) -> list[Job]:
        """The jobs that are not settled history (`is_history`), oldest first: what an engine
        follows from its start."""
        return self._jobs_where("WHERE history = 0 ORDER BY submitted_at, id")

    def unsettled_index(self) -> list[tuple[str, str]]:
        """The jobs `unsettled_jobs` reads, as (id, updated_at), oldest first: enough to read
        them later, a block at a time (`get_jobs`)."""
        return self._tuples(
            "SELECT id, updated_at FROM jobs WHERE history = 0 ORDER BY submitted_at, id"
        )

    def settled_index(self) -> list[tuple[str, str, str, int, str, str]]:
        """The settled history (`is_history`), oldest first, as (id, account, state, saved,
        submitted_at, updated_at): enough to count and page them without reading them whole."""
        return self._tuples(
            "SELECT id, account, state, saved, submitted_at, updated_at FROM jobs "
            "WHERE history = 1 ORDER BY submitted_at, id"
        )

    def account_job_ids(self, account: str) -> list[str]:
        """The ids of an account's jobs (nothing else is read)."""
        return [row[0] for row in self._tuples("SELECT id FROM jobs WHERE account = ?", (account,))]

    def list_jobs(self, *, state: JobState | None = None) -> list[Job]:
        if state is None:
            return self._jobs_where("ORDER BY submitted_at, id")
        return self._jobs_where("WHERE state = ? ORDER BY submitted_at, id", (state.value,))

    def find_job(
        self, account: str, *, remote_id: str | None = None, status_url: str | None = None
    ) -> Job | None:
        found: list[Job] = []
        if remote_id is not None:
            found = self._jobs_where("WHERE account = ? AND remote_id = ?", (account, remote_id))
        if not found and status_url is not None:
            found = self._jobs_where("WHERE account = ? AND status_url = ?", (account, status_url))
        return found[0] if found else None

    def remove_job(self, job_id: str) -> None:
        self.get_job(job_id)
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))

    # events --------------------------------------------------------------------------------
    def add_events(self, events: Iterable[JobEvent]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT INTO events (job_id, at, kind, message) VALUES (?, ?, ?, ?)",
                [(e.job_id, _dt(e.at), e.kind, e.message) for e in events],
            )

    def events(self, job_id: str) -> list[JobEvent]:
        rows = self._db.execute(
            "SELECT * FROM events WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall()
        return [
            JobEvent(
                job_id=r["job_id"],
                at=datetime.fromisoformat(r["at"]),
                kind=r["kind"],
                message=r["message"],
            )
            for r in rows
        ]

    # settings ------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row is not None else default

    def set_setting(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )


def _account_from_row(row: sqlite3.Row) -> Account:
    return Account(
        name=row["name"],
        provider=row["provider"],
        base_url=row["base_url"],
        user=row["user"],
        options=json.loads(row["options"] or "{}"),
    )
