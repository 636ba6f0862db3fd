"""What a storage answer vouches for about a file's bytes, and the verdict once they are hashed.

The rule (README, "How it behaves"): the length (Content-Length / Content-Range total) is always
checked; a mismatch fails the file only against a digest the server states covers the whole
object: `Content-MD5` on a full 200 answer, `x-ms-blob-content-md5`, `x-goog-hash`, `Repr-Digest`,
`Content-Digest` on a full 200 answer, `x-amz-checksum-*` of type `FULL_OBJECT`, or a checksum
the API's own job answer gives for the file (`api_checksum`). An ETag is not
a checksum: SSE-KMS and SSE-C objects, multipart uploads, MinIO with encryption, GCS and Azure all
have ETags that are not the content's MD5. An MD5-looking ETag is only a hint: a match verifies
the file, a mismatch is trusted only from S3 itself (`trusted_etag_host`, no SSE-KMS / SSE-C),
and then only enough to download once more from zero; when both downloads hash the same the file
is kept, marked unverified. The digests are of the raw bytes as received (no content decoding),
which is what every header above describes. Pure functions, unit-tested on their own.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jobdock.core.download.digests import ALGORITHMS
from jobdock.core.model.errors import ChecksumError, HintMismatchError
from jobdock.core.model.job import Verified

_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64, "crc32": 4, "crc32c": 4}
_SIZES["crc64nvme"] = 8  # stated by S3, not computable here (`digests.ALGORITHMS`)
# Strongest first: the one recorded when several stated digests match.
_STRENGTH = ("sha512", "sha256", "sha1", "md5", "crc32c", "crc32")
_NAMES = {"sha512": "SHA-512", "sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5"}
_PLAIN_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
# RFC 9530 algorithm keys (https://www.iana.org/assignments/http-digest-hash-alg/): the two
# active ones and the deprecated ones that are still plain digests of the bytes.
_RFC9530 = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5", "sha": "sha1"}
_SF_MEMBER = re.compile(r"\s*([a-z*][a-z0-9_.*-]*)\s*=\s*:([A-Za-z0-9+/=]*):\s*(?:;[^,]*)?\s*$")
_AMZ = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
_KMS = ("aws:kms", "aws:kms:dsse")

TrustFn = Callable[[str], bool]


def trusted_etag_host(host: str) -> bool:
    """Whether an MD5-looking ETag from `host` may be taken as the content's MD5 (S3 itself:
    `*.amazonaws.com`). Anywhere else an ETag is opaque (GCS, Azure, MinIO, R2, CDNs)."""
    host = host.lower().rstrip(".")
    return host.endswith(".amazonaws.com")


@dataclass(frozen=True)
class Stated:
    """A digest of the whole file as the server states it, and the header that said so."""

    algorithm: str
    digest: bytes
    source: str


@dataclass(frozen=True)
class Claims:
    """What one answer says about the bytes of the whole file."""

    stated: tuple[Stated, ...] = ()  # a mismatch with any computable one fails the file
    hint: Stated | None = (
        None  # an MD5-looking ETag: a match verifies, a mismatch alone never fails
    )
    hint_trusted: bool = False  # S3's own plain ETag: a mismatch is worth a second download

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The digests to compute (besides SHA-256, which is always recorded)."""
        wanted = [s.algorithm for s in self.stated]
        if self.hint is not None:
            wanted.append("md5")
        return tuple(a for a in dict.fromkeys(wanted) if a in ALGORITHMS and a != "sha256")


def api_checksum(algorithm: str, value: object) -> str | None:
    """A checksum from a job answer (hex or base64) as `Result.checksum` keeps it,
    `"<algorithm>:<hex>"`; None when it is not one of `algorithm`'s size."""
    if not isinstance(value, str) or algorithm not in _SIZES:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) == 2 * _SIZES[algorithm]:
        return f"{algorithm}:{text.lower()}"
    decoded = _b64(algorithm, text, "")
    return f"{algorithm}:{decoded[0].digest.hex()}" if decoded else None


def claims_of(
    headers: Mapping[str, str],
    *,
    status: int,
    host: str,
    trust_etag_host: TrustFn,
    api_checksum: str | None = None,
) -> Claims:
    """The digests an answer (`status` 200 or 206, from `host`) states for the whole file, with
    the one the job answer gave (`Result.checksum`), if any."""
    whole = status == 200  # the body is the whole file: digests of the content describe it
    stated = [
        *_from_job_answer(api_checksum),
        *(_b64("md5", headers.get("content-md5"), "Content-MD5") if whole else []),
        # Azure: "returned with the value of the whole blob's MD5", also to a range request
        # (https://learn.microsoft.com/en-us/rest/api/storageservices/get-blob).
        *_b64("md5", headers.get("x-ms-blob-content-md5"), "x-ms-blob-content-md5"),
        *_goog_hash(headers),
        *_structured("Repr-Digest", headers.get("repr-digest")),
        *(_structured("Content-Digest", headers.get("content-digest")) if whole else []),
        *_amz_checksums(headers),
    ]
    hint = _etag_hint(headers.get("etag"))
    trusted = hint is not None and _s3_plain_etag(headers) and trust_etag_host(host)
    return Claims(stated=tuple(stated), hint=hint, hint_trusted=trusted)


def _from_job_answer(checksum: str | None) -> list[Stated]:
    algorithm, _, digest = (checksum or "").partition(":")
    if algorithm not in _SIZES or len(digest) != 2 * _SIZES[algorithm]:
        return []
    try:
        return [Stated(algorithm, bytes.fromhex(digest), "job answer's checksum")]
    except ValueError:
        return []


def _b64(algorithm: str, value: str | None, source: str) -> list[Stated]:
    if not value:
        return []
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return []  # malformed: states nothing (never a reason to refuse the file)
    if len(digest) != _SIZES[algorithm]:
        return []
    return [Stated(algorithm, digest, source)]


def _goog_hash(headers: Mapping[str, str]) -> list[Stated]:
    """GCS: `x-goog-hash: crc32c=<b64>,md5=<b64>` (one header or several). The hashes are of the
    object as stored: with decompressive transcoding (stored gzip, served decoded, neither
    Content-Encoding nor Content-Length in the answer, `x-goog-stored-content-encoding: gzip`)
    they do not describe the bytes received (https://cloud.google.com/storage/docs/transcoding),
    and with a Content-Encoding the served coding may differ from the stored one."""
    value = headers.get("x-goog-hash")
    if not value or headers.get("content-encoding"):
        return []
    if headers.get("x-goog-stored-content-encoding", "identity").lower() != "identity":
        return []
    found: list[Stated] = []
    for member in value.split(","):
        name, _, encoded = member.strip().partition("=")
        if name.lower() in ("md5", "crc32c"):
            found += _b64(name.lower(), encoded, f"x-goog-hash {name.lower()}")
    return found


def _structured(source: str, value: str | None) -> list[Stated]:
    """RFC 9530 `Repr-Digest` / `Content-Digest`: a structured-field dictionary of byte
    sequences, e.g. `sha-256=:<b64>:, sha-512=:<b64>:`. Unknown algorithms are skipped."""
    if not value:
        return []
    found: list[Stated] = []
    for member in value.split(","):
        match = _SF_MEMBER.match(member)
        if match is None or match.group(1) not in _RFC9530:
            continue
        found += _b64(_RFC9530[match.group(1)], match.group(2), f"{source} {match.group(1)}")
    return found


def _amz_checksums(headers: Mapping[str, str]) -> list[Stated]:
    """S3's `x-amz-checksum-<algorithm>`, only when `x-amz-checksum-type: FULL_OBJECT`: a
    COMPOSITE one (multipart uploads; the value ends in `-<parts>`) is a checksum of the parts'
    checksums, not of the bytes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    checking-object-integrity.html). S3 sends them to a GET only in checksum mode, which a
    pre-signed URL must carry in its signed query: an unsigned `x-amz-*` request header would
    make S3 refuse the URL, so Jobdock never adds one."""
    if headers.get("x-amz-checksum-type", "").strip().upper() != "FULL_OBJECT":
        return []
    found: list[Stated] = []
    for algorithm in _AMZ:
        value = headers.get(f"x-amz-checksum-{algorithm}")
        if value and not re.search(r"-\d+$", value.strip()):
            found += _b64(algorithm, value, f"x-amz-checksum-{algorithm}")
    return found


def _etag_hint(etag: str | None) -> Stated | None:
    """A strong ETag of 32 hex digits (no `-N` multipart suffix, not weak): maybe an MD5."""
    plain = _PLAIN_MD5_ETAG.match((etag or "").strip())
    return Stated("md5", bytes.fromhex(plain.group(1)), "ETag") if plain else None


def _s3_plain_etag(headers: Mapping[str, str]) -> bool:
    """S3 documents its ETag as the MD5 of the data only for objects neither SSE-KMS nor SSE-C
    encrypted (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html)."""
    sse = headers.get("x-amz-server-side-encryption", "").strip().lower()
    return sse not in _KMS and not headers.get("x-amz-server-side-encryption-customer-algorithm")


def judge(
    claims: Claims, digests: Mapping[str, bytes], *, total: int | None, earlier: str | None
) -> Verified:
    """How the file whose `digests` were computed is verified; raises `ChecksumError` when a
    stated digest differs, `HintMismatchError` when a trusted ETag differs (download again;
    `earlier` is the SHA-256 hex of a first download that already differed)."""
    matched: list[str] = []
    for stated in claims.stated:
        got = digests.get(stated.algorithm)
        if got is None:
            continue  # not computable here: it proves nothing either way
        if got != stated.digest:
            raise ChecksumError(
                f"checksum mismatch: the file's {_name(stated.algorithm)} {got.hex()} differs "
                f"from the server's {stated.source} ({stated.digest.hex()})"
            )
        matched.append(stated.algorithm)
    if matched:
        return Verified(min(matched, key=_STRENGTH.index))
    hint, md5 = claims.hint, digests.get("md5")
    if hint is not None and md5 is not None:
        if md5 == hint.digest:
            return Verified.MD5
        if claims.hint_trusted:
            return _hint_disagrees(hint, md5, digests["sha256"].hex(), earlier)
    return Verified.SIZE if total is not None else Verified.UNVERIFIED


def _hint_disagrees(hint: Stated, md5: bytes, sha256: str, earlier: str | None) -> Verified:
    if earlier == sha256:
        return Verified.UNVERIFIED  # the same bytes twice: the ETag is what is wrong
    detail = f"the file's MD5 {md5.hex()} differs from the ETag ({hint.digest.hex()})"
    if earlier is not None:
        detail += " and from a first download, which differed too"
    raise HintMismatchError(f"checksum mismatch: {detail}", sha256=sha256, first=earlier is None)


def _name(algorithm: str) -> str:
    return _NAMES.get(algorithm, algorithm.upper())
