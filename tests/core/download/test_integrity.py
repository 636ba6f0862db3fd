"""`integrity`: which digests an answer states for the whole file, whose ETag is trusted, and the
verdict once the bytes are hashed (pure functions; the downloads themselves are tested against
the simulator in tests/e2e/test_verification.py)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path

import crc32c
import httpx
import pytest

from jobdock.core.download import integrity
from jobdock.core.download.digests import hash_file
from jobdock.core.download.integrity import Claims, Stated, claims_of, judge, trusted_etag_host
from jobdock.core.model.errors import ChecksumError, HintMismatchError
from jobdock.core.model.job import Verified

BODY = b"col1,col2\n" + b"1,2\n" * 1000
MD5 = hashlib.md5(BODY).digest()
SHA256 = hashlib.sha256(BODY).digest()
S3 = "bucket.s3.eu-west-1.amazonaws.com"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def claims(headers: dict[str, str], *, status: int = 200, host: str = S3) -> Claims:
    return claims_of(
        httpx.Headers(headers), status=status, host=host, trust_etag_host=trusted_etag_host
    )


def digests_of(data: bytes = BODY) -> dict[str, bytes]:
    return {
        "sha256": hashlib.sha256(data).digest(),
        "sha512": hashlib.sha512(data).digest(),
        "sha1": hashlib.sha1(data).digest(),
        "md5": hashlib.md5(data).digest(),
        "crc32": zlib.crc32(data).to_bytes(4, "big"),
        "crc32c": crc32c.crc32c(data).to_bytes(4, "big"),
    }


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("bucket.s3.amazonaws.com", True),
        ("s3.eu-west-1.amazonaws.com", True),
        ("Bucket.S3.Dualstack.US-East-1.AmazonAWS.com.", True),
        ("amazonaws.com", False),
        ("amazonaws.com.evil.example", False),
        ("evilamazonaws.com", False),
        ("storage.googleapis.com", False),
        ("account.blob.core.windows.net", False),
        ("127.0.0.1", False),
    ],
)
def test_only_s3_hosts_have_etags_worth_a_second_download(host: str, trusted: bool) -> None:
    assert trusted_etag_host(host) is trusted


def test_a_plain_s3_etag_is_a_trusted_hint_unless_encrypted_with_kms_or_a_customer_key() -> None:
    etag = f'"{MD5.hex()}"'
    plain = claims({"ETag": etag})
    assert plain.hint == Stated("md5", MD5, "ETag") and plain.hint_trusted and not plain.stated
    for sse in (
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption": "aws:kms:dsse"},
        {"x-amz-server-side-encryption-customer-algorithm": "AES256"},
    ):
        encrypted = claims({"ETag": etag, **sse})
        assert encrypted.hint is not None and not encrypted.hint_trusted, sse
    assert claims({"ETag": etag, "x-amz-server-side-encryption": "AES256"}).hint_trusted
    elsewhere = claims({"ETag": etag}, host="storage.googleapis.com")
    assert elsewhere.hint is not None and not elsewhere.hint_trusted


@pytest.mark.parametrize("etag", [f'"{MD5.hex()}-3"', f'W/"{MD5.hex()}"', '"abc"', ""])
def test_multipart_weak_and_short_etags_are_no_hint(etag: str) -> None:
    assert claims({"ETag": etag}).hint is None


def test_content_md5_covers_only_a_full_answer_and_azure_blob_md5_any() -> None:
    full = claims({"Content-MD5": b64(MD5)})
    assert full.stated == (Stated("md5", MD5, "Content-MD5"),)
    assert claims({"Content-MD5": b64(MD5)}, status=206).stated == ()  # the range's, if at all
    ranged = claims({"x-ms-blob-content-md5": b64(MD5)}, status=206)
    assert ranged.stated == (Stated("md5", MD5, "x-ms-blob-content-md5"),)


def test_goog_hash_members_unless_the_bytes_are_transcoded() -> None:
    crc = crc32c.crc32c(BODY).to_bytes(4, "big")
    value = f"crc32c={b64(crc)},md5={b64(MD5)}"
    assert [s.algorithm for s in claims({"x-goog-hash": value}).stated] == ["crc32c", "md5"]
    assert claims({"x-goog-hash": value}, status=206).stated != ()  # of the whole object
    assert claims({"x-goog-hash": value, "Content-Encoding": "gzip"}).stated == ()
    # Decompressive transcoding: no Content-Encoding, yet the hashes are of the gzip bytes.
    transcoded = {"x-goog-hash": value, "x-goog-stored-content-encoding": "gzip"}
    assert claims(transcoded).stated == ()
    stored_plain = {"x-goog-hash": value, "x-goog-stored-content-encoding": "identity"}
    assert len(claims(stored_plain).stated) == 2


def test_rfc9530_repr_digest_after_a_resume_content_digest_only_whole() -> None:
    sha512 = hashlib.sha512(BODY).digest()
    value = f"sha-256=:{b64(SHA256)}:, sha-512=:{b64(sha512)}:;note=x, unixsum=:AAA=:"
    repr_ = claims({"Repr-Digest": value}, status=206).stated
    assert [(s.algorithm, s.digest) for s in repr_] == [("sha256", SHA256), ("sha512", sha512)]
    assert len(claims({"Content-Digest": value}).stated) == 2
    assert claims({"Content-Digest": value}, status=206).stated == ()


def test_amz_checksums_only_of_full_object_type_never_composite() -> None:
    value = b64(SHA256)
    full = {"x-amz-checksum-sha256": value, "x-amz-checksum-type": "FULL_OBJECT"}
    assert claims(full).stated == (Stated("sha256", SHA256, "x-amz-checksum-sha256"),)
    composite = {"x-amz-checksum-sha256": value + "-3", "x-amz-checksum-type": "COMPOSITE"}
    assert claims(composite).stated == ()
    assert claims({**composite, "x-amz-checksum-type": "FULL_OBJECT"}).stated == ()
    assert claims({"x-amz-checksum-sha256": value}).stated == ()  # type unknown
    nvme = {"x-amz-checksum-crc64nvme": b64(b"\x01" * 8), "x-amz-checksum-type": "FULL_OBJECT"}
    assert claims(nvme).algorithms == ()  # stated, but not computable here


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-MD5": "not base64!"},
        {"Content-MD5": b64(b"short")},
        {"Repr-Digest": "sha-256=abc"},
        {"x-goog-hash": "md5"},
    ],
)
def test_malformed_digests_state_nothing(headers: dict[str, str]) -> None:
    assert claims(headers).stated == ()


def test_a_matching_stated_digest_verifies_with_the_strongest_algorithm() -> None:
    stated = (Stated("md5", MD5, "Content-MD5"), Stated("sha256", SHA256, "Repr-Digest"))
    verdict = judge(Claims(stated=stated), digests_of(), total=len(BODY), earlier=None)
    assert verdict == Verified.SHA256


def test_a_stated_digest_that_differs_fails_whatever_else_matches() -> None:
    stated = (Stated("sha256", SHA256, "Repr-Digest sha-256"), Stated("md5", b"\0" * 16, "X"))
    with pytest.raises(ChecksumError, match=r"MD5 .* differs from the server's X") as caught:
        judge(Claims(stated=stated), digests_of(), total=len(BODY), earlier=None)
    assert not isinstance(caught.value, HintMismatchError)


def test_a_stated_digest_that_cannot_be_computed_proves_nothing() -> None:
    stated = (Stated("crc64nvme", b"\1" * 8, "x-amz-checksum-crc64nvme"),)
    assert judge(Claims(stated=stated), digests_of(), total=1, earlier=None) == Verified.SIZE


def test_an_etag_that_matches_verifies_even_where_a_mismatch_would_not_count() -> None:
    hint = Stated("md5", MD5, "ETag")
    assert judge(Claims(hint=hint), digests_of(), total=1, earlier=None) == Verified.MD5


def test_an_untrusted_etag_that_differs_leaves_the_length_check() -> None:
    hint = Stated("md5", b"\7" * 16, "ETag")
    assert judge(Claims(hint=hint), digests_of(), total=1, earlier=None) == Verified.SIZE
    assert judge(Claims(hint=hint), digests_of(), total=None, earlier=None) == Verified.UNVERIFIED


def test_a_trusted_etag_that_differs_asks_for_a_second_download_then_unverified() -> None:
    trusted = Claims(hint=Stated("md5", b"\7" * 16, "ETag"), hint_trusted=True)
    with pytest.raises(HintMismatchError) as caught:
        judge(trusted, digests_of(), total=len(BODY), earlier=None)
    assert caught.value.first and caught.value.sha256 == SHA256.hex()
    same = judge(trusted, digests_of(), total=len(BODY), earlier=SHA256.hex())
    assert same == Verified.UNVERIFIED
    with pytest.raises(HintMismatchError, match="first download") as again:
        judge(trusted, digests_of(), total=len(BODY), earlier="0" * 64)
    assert not again.value.first


def test_claims_ask_only_for_the_digests_they_need() -> None:
    both = claims(
        {"ETag": f'"{MD5.hex()}"', "Repr-Digest": f"sha-512=:{b64(hashlib.sha512(BODY).digest())}:"}
    )
    assert both.algorithms == ("sha512", "md5")
    assert claims({"ETag": '"opaque-tag"'}).algorithms == ()


def test_hash_file_matches_the_stated_encodings(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(BODY)
    wanted = ("sha256", "md5", "crc32c", "crc32")
    expected = {k: v for k, v in digests_of().items() if k in wanted}
    assert hash_file(path, ("md5", "crc32c", "crc32")) == expected


def test_a_job_answers_checksum_in_hex_or_base64_is_a_stated_digest() -> None:
    as_hex = integrity.api_checksum("sha256", SHA256.hex().upper())
    assert as_hex == integrity.api_checksum("sha256", b64(SHA256)) == f"sha256:{SHA256.hex()}"
    assert integrity.api_checksum("sha256", MD5.hex()) is None  # the wrong size
    assert integrity.api_checksum("sha256", 12) is None
    assert integrity.api_checksum("whirlpool", SHA256.hex()) is None
    found = claims_of(
        httpx.Headers({}),
        status=206,
        host="api.example",
        trust_etag_host=trusted_etag_host,
        api_checksum=as_hex,
    )
    assert found.stated == (Stated("sha256", SHA256, "job answer's checksum"),)
