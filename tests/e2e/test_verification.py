"""How a saved file is verified, against the simulator's storage on 127.0.0.1 as object stores
really describe their bytes: ETags that are not MD5s (SSE-KMS, SSE-C, encrypted MinIO,
multipart), stated digests (Content-MD5 / Azure, x-goog-hash, RFC 9530, S3 checksums), a wrong
stated digest, S3's plain ETag that disagrees, and resumed downloads.

The simulator cannot answer from `*.amazonaws.com`: where S3's own ETag matters, the test stands
in for S3 through the engine's seam (`Transfers.trust_etag_host`); the host rule itself is unit
tested in tests/core/download/test_integrity.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from jobdock.core.model.job import DownloadState, Job, Verified
from jobdock.simulator import Simulator
from jobdock.simulator.faults import StorageFault
from jobdock.simulator.integrity import StoredDigests
from tests.e2e.conftest import Cli, add_account
from tests.e2e.test_downloads import Watch, assert_saved, engine_on, fetch, ranges, run

SIZE = 3 * 1024 * 1024


def _fetch(
    sim: Simulator, tmp_path: Path, *, trust_loopback: bool = False
) -> tuple[Job, Watch, list[tuple[str, str]]]:
    async def scenario() -> tuple[Job, Watch, list[tuple[str, str]]]:
        async with engine_on(sim, tmp_path) as engine:
            if trust_loopback:  # the simulator stands in for S3
                engine.transfers.trust_etag_host = lambda host: host == "127.0.0.1"
            job, watch = await fetch(engine, sim, size=SIZE)
            return job, watch, [(e.kind, e.message) for e in engine.events(job.id)]

    return run(scenario())


@pytest.mark.parametrize(
    ("etag", "trust_loopback"),
    [
        ("sse-kms", False),
        ("sse-c", False),
        ("opaque", False),
        ("multipart", False),
        # From S3 itself (an opaque plain ETag from S3 is the unverified test's case):
        ("sse-kms", True),
        ("sse-c", True),
        ("multipart", True),
    ],
)
def test_a_correct_file_whose_etag_is_not_its_md5_is_saved_at_once(
    simulator: Simulator, tmp_path: Path, etag: str, trust_loopback: bool
) -> None:
    """Outside S3 an ETag never fails a file; on S3, not one of an SSE-KMS / SSE-C object or a
    multipart upload."""
    simulator.config.storage_digests = StoredDigests(etag=etag)
    job, watch, _ = _fetch(simulator, tmp_path, trust_loopback=trust_loopback)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == Verified.SIZE
    assert len(simulator.requests("storage")) == 1, "downloaded once"


@pytest.mark.parametrize(
    ("digests", "verified"),
    [
        (StoredDigests(etag="md5"), Verified.MD5),
        (StoredDigests(etag="sse-kms", content_md5=True), Verified.MD5),
        (StoredDigests(etag="opaque", goog_hash=("crc32c",)), Verified.CRC32C),
        (StoredDigests(etag="opaque", goog_hash=("crc32c", "md5")), Verified.MD5),
        (StoredDigests(etag="multipart", repr_digest=("sha-256",)), Verified.SHA256),
        (StoredDigests(etag="opaque", repr_digest=("sha-256", "sha-512")), Verified.SHA512),
        (StoredDigests(etag="opaque", content_digest=("sha-256",)), Verified.SHA256),
        (StoredDigests(etag="sse-kms", amz_checksum="sha256"), Verified.SHA256),
        (StoredDigests(etag="multipart", amz_checksum="crc32"), Verified.CRC32),
        (StoredDigests(etag="multipart", amz_checksum="crc32c"), Verified.CRC32C),
    ],
    ids=lambda v: v.value if isinstance(v, Verified) else None,
)
def test_a_stated_digest_verifies_the_file_and_is_recorded(
    simulator: Simulator, tmp_path: Path, digests: StoredDigests, verified: Verified
) -> None:
    simulator.config.storage_digests = digests
    job, watch, events = _fetch(simulator, tmp_path)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == verified
    saved = [message for kind, message in events if kind == "saved"]
    assert len(saved) == 1 and f"{verified.value} checked" in saved[0]


def test_a_composite_s3_checksum_is_not_taken_for_the_files(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.config.storage_digests = StoredDigests(
        etag="multipart", amz_checksum="sha256", amz_checksum_type="COMPOSITE"
    )
    job, watch, _ = _fetch(simulator, tmp_path)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == Verified.SIZE


@pytest.mark.parametrize(
    "digests",
    [
        StoredDigests(content_md5=True, wrong=True),
        StoredDigests(etag="opaque", goog_hash=("crc32c",), wrong=True),
        StoredDigests(etag="opaque", repr_digest=("sha-256",), wrong=True),
        StoredDigests(etag="opaque", content_digest=("sha-512",), wrong=True),
        StoredDigests(etag="sse-kms", amz_checksum="crc32", wrong=True),
    ],
    ids=["content-md5", "x-goog-hash", "repr-digest", "content-digest", "x-amz-checksum"],
)
def test_bytes_that_differ_from_a_stated_digest_are_refused(
    simulator: Simulator, tmp_path: Path, digests: StoredDigests
) -> None:
    simulator.config.storage_digests = digests
    job, watch, events = _fetch(simulator, tmp_path)
    (result,) = job.results
    assert result.download_state == DownloadState.FAILED
    assert "checksum mismatch" in (result.error or "")
    assert result.verified is None
    assert not watch.folder.exists() or list(watch.folder.iterdir()) == [], "nothing kept"
    assert len(simulator.requests("storage")) == 2, "downloaded once more from zero, then failed"
    assert ranges(simulator) == [None, None]
    assert not [kind for kind, _ in events if kind == "saved"]


def test_s3s_own_etag_that_disagrees_twice_keeps_the_file_unverified(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A plain 32-hex ETag from S3 (no SSE-KMS / SSE-C header) that is not the MD5: the file is
    downloaded once more from zero and, the same bytes again, kept marked unverified."""
    simulator.config.storage_digests = StoredDigests(etag="opaque")
    job, watch, events = _fetch(simulator, tmp_path, trust_loopback=True)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == Verified.UNVERIFIED
    assert ranges(simulator) == [None, None], "the second download starts from zero"
    retries = [message for kind, message in events if kind == "download-retry"]
    assert len(retries) == 1 and "differs from the ETag" in retries[0]
    saved = [message for kind, message in events if kind == "saved"]
    assert "ETag disagreed with two identical downloads" in saved[0]


def test_s3s_own_etag_that_matches_verifies_without_a_second_download(
    simulator: Simulator, tmp_path: Path
) -> None:
    job, watch, _ = _fetch(simulator, tmp_path, trust_loopback=True)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == Verified.MD5
    assert len(simulator.requests("storage")) == 1


@pytest.mark.parametrize(
    ("digests", "verified"),
    [
        (StoredDigests(etag="opaque", repr_digest=("sha-256",)), Verified.SHA256),
        # Azure: Content-MD5 on the first (200) answer, x-ms-blob-content-md5 on the 206.
        (StoredDigests(etag="opaque", content_md5=True), Verified.MD5),
        (StoredDigests(etag="opaque", goog_hash=("crc32c",)), Verified.CRC32C),
        # Content-Digest on the 206 is the range's: it neither verifies nor fails the file.
        (StoredDigests(etag="opaque", content_digest=("sha-256",)), Verified.SIZE),
    ],
    ids=["repr-digest", "azure-md5", "x-goog-hash", "content-digest"],
)
def test_a_resumed_download_is_verified_over_the_whole_file(
    simulator: Simulator, tmp_path: Path, digests: StoredDigests, verified: Verified
) -> None:
    simulator.config.storage_digests = digests
    simulator.storage.add_fault(StorageFault(reset_at=[0.5]))
    job, watch, _ = _fetch(simulator, tmp_path)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == verified
    seen = ranges(simulator)
    assert seen[0] is None and len(seen) == 2 and (seen[1] or "").startswith("bytes=")
    assert [r.status for r in simulator.requests("storage")] == [200, 206]


def test_a_resumed_download_with_a_wrong_stated_digest_is_refused(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.config.storage_digests = StoredDigests(
        etag="opaque", repr_digest=("sha-256",), wrong=True
    )
    simulator.storage.add_fault(StorageFault(reset_at=[0.5]))
    job, _, _ = _fetch(simulator, tmp_path)
    (result,) = job.results
    assert result.download_state == DownloadState.FAILED
    assert "checksum mismatch" in (result.error or "")


def test_jobs_json_shows_how_each_file_was_verified(cli: Cli, simulator: Simulator) -> None:
    simulator.config.storage_digests = StoredDigests(etag="sse-kms", repr_digest=("sha-256",))
    account = add_account(cli, simulator, "vainu")
    job_id = cli("submit", account, "--param", "async_format=csv").stdout.strip()
    downloads = cli.data_dir.parent / "downloads"
    cli("watch", "--until-done", "--timeout", "60", "--download-dir", str(downloads))
    (job,) = cli.json("jobs", "--json")
    assert job["id"] == job_id
    (result,) = job["results"]
    assert result["download_state"] == "done", result
    (expected,) = simulator.expected_results("vainu", job["remote_id"])
    assert result["sha256"] == hashlib.sha256(expected).hexdigest()
    assert result["verified"] == "sha256"


def test_a_body_cut_to_a_lying_length_is_caught_by_a_stated_digest(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A too-short Content-Length makes a short body look complete; outside S3 only a stated
    digest can tell, and then the file is downloaded once more and saved whole."""
    simulator.config.storage_digests = StoredDigests(etag="opaque", repr_digest=("sha-256",))
    simulator.storage.add_fault(StorageFault(wrong_length=1000))
    job, watch, events = _fetch(simulator, tmp_path)
    assert_saved(simulator, job, watch)
    assert job.results[0].verified == Verified.SHA256
    retries = [message for kind, message in events if kind == "download-retry"]
    assert len(retries) == 1 and "Repr-Digest" in retries[0]
