"""The job model: canonical states, jobs, their results and their event history.

Everything here is an immutable value; the store and the engine produce new values with
`dataclasses.replace` instead of mutating shared objects, so a batch handed to the window can never
change under it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit


class JobState(enum.StrEnum):
    """The canonical job states of docs/providers.md; the raw state is kept beside them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class DownloadState(enum.StrEnum):
    """Where a result's file stands on this machine."""

    PENDING = "pending"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    PAUSED = "paused"  # stopped by the user, the `.part` kept for a resume with Range

    @property
    def is_settled(self) -> bool:
        return self in (
            DownloadState.DONE,
            DownloadState.FAILED,
            DownloadState.EXPIRED,
            DownloadState.PAUSED,
        )


class Verified(enum.StrEnum):
    """How a saved file was verified (`core.integrity`): the algorithm of the server-stated
    digest that matched, `size` when only its length could be checked, `unverified` when not
    even that (no length known, or S3's ETag disagreed with two identical downloads)."""

    SHA512 = "sha512"
    SHA256 = "sha256"
    SHA1 = "sha1"
    MD5 = "md5"
    CRC32C = "crc32c"
    CRC32 = "crc32"
    SIZE = "size"
    UNVERIFIED = "unverified"


def utcnow() -> datetime:
    return datetime.now(UTC)


def origin_of(url: str) -> str:
    """scheme://host[:port], lower-cased, default ports dropped: what "same origin" means."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True, kw_only=True)
class Account:
    """An API account: everything but its secret, which lives only in the keyring."""

    name: str
    provider: str
    base_url: str
    user: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return origin_of(self.base_url)


@dataclass(frozen=True, kw_only=True)
class SubmitRequest:
    """What the user asked a provider to start; kept with the job so it can be re-submitted."""

    method: str = "GET"
    path: str = ""
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "path": self.path,
            "params": [list(p) for p in self.params],
            "body": self.body.decode("utf-8", "surrogateescape") if self.body is not None else None,
            "content_type": self.content_type,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SubmitRequest:
        body = data.get("body")
        params = data.get("params") or []
        assert isinstance(params, list)
        return cls(
            method=str(data.get("method") or "GET"),
            path=str(data.get("path") or ""),
            params=tuple((str(k), str(v)) for k, v in params),
            body=body.encode("utf-8", "surrogateescape") if isinstance(body, str) else None,
            content_type=str(data["content_type"]) if data.get("content_type") else None,
        )


@dataclass(frozen=True, kw_only=True)
class Result:
    """One result file of a job: where it can be fetched, until when, and where it was saved.
    `key` names it across link refreshes (`links.link_key`, given when the result was first
    listed); a result stored before keys existed is known by its URL's key."""

    url: str
    key: str = ""
    expires_at: datetime | None = None
    filename_hint: str | None = None
    needs_auth: bool = False
    download_state: DownloadState = DownloadState.PENDING
    path: str | None = None
    bytes: int | None = None
    bytes_done: int = 0
    sha256: str | None = None
    verified: Verified | None = None  # set with DONE; None for files saved before it existed
    checksum: str | None = None  # "<algorithm>:<hex>" stated by the API's job answer
    decompress: str | None = None  # "gzip": saved decompressed, once the raw bytes are verified
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    # A failure for a passing reason (network, 5xx, disk full) is tried again at `retry_at`;
    # `retries` counts those rounds. None: nothing scheduled (done, or failed for good).
    retry_at: datetime | None = None
    retries: int = 0
    # The user paused or cancelled its download: nothing fetches it until they ask again
    # (resume, or download now), also after a restart.
    held: bool = False
    # Headers the link's GET must send to the link's origin (Databricks' `http_headers`, a
    # decryption key). Secrets-like: the values live in memory only; the store keeps their
    # names (`link_header_names`), and a result loaded without the values gets them anew by
    # polling the job for a fresh link before it is downloaded.
    link_headers: tuple[tuple[str, str], ...] = ()
    link_header_names: tuple[str, ...] = ()

    @property
    def link_headers_missing(self) -> bool:
        """The link needs headers whose values this process does not have (read from the
        store after a restart): the link must be refreshed before it is fetched."""
        return bool(self.link_header_names) and not self.link_headers

    @property
    def is_settled(self) -> bool:
        """Saved, expired, failed with no retry to come, or held by the user."""
        return self.held or (self.download_state.is_settled and self.retry_at is None)

    @property
    def is_under_way(self) -> bool:
        """Downloading or to be on its own (pending, or a retry to come), and not held by the
        user: what pause and cancel stop."""
        if self.held:
            return False
        state = self.download_state
        return state in (DownloadState.PENDING, DownloadState.DOWNLOADING) or (
            state == DownloadState.FAILED and self.retry_at is not None
        )

    def replace_state(
        self, state: DownloadState = DownloadState.PENDING, *, error: str | None = None
    ) -> Result:
        """This result with a new download state (PENDING forgets where and how it was saved);
        any scheduled retry is dropped."""
        if state == DownloadState.PENDING:
            return dataclasses.replace(
                self,
                download_state=state,
                path=None,
                verified=None,
                error=error,
                retry_at=None,
                retries=0,
            )
        return dataclasses.replace(self, download_state=state, error=error, retry_at=None)

    def is_expired(self, now: datetime) -> bool:
        """Past its expiry time: a hint for display and ordering, never a verdict (`expiry`)."""
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, kw_only=True)
class Job:
    """A job followed by Jobdock. `id` is local; `remote_id` and `status_url` are the provider's."""

    id: str
    account: str
    provider: str
    label: str = ""
    remote_id: str | None = None
    status_url: str | None = None
    result_url: str | None = None  # generic-202: the Location kept beside a status monitor
    state: JobState = JobState.QUEUED
    remote_state: str = ""
    progress: float | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    submitted_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    error: str | None = None
    log: str | None = None
    last_response: str | None = None
    request: SubmitRequest | None = None
    results: tuple[Result, ...] = ()
    next_poll_at: datetime | None = None
    deadline_at: datetime | None = None
    poll_failures: int = 0
    polls: int = 0
    orphaned: bool = False

    def replace(self, **changes: object) -> Job:
        # Ignored: mypy checks replace()'s keywords field by field, which a dict of changes
        # (typed object) cannot be; replace() itself still refuses an unknown field (TypeError).
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_settled(self) -> bool:
        """Nothing left to do: terminal on the server and every result saved, expired or failed
        with no retry to come."""
        if not self.state.is_terminal:
            return False
        return all(r.is_settled for r in self.results)


@dataclass(frozen=True, kw_only=True)
class JobEvent:
    """One line of a job's history: a state change, an error, a download."""

    job_id: str
    at: datetime
    kind: str
    message: str
