"""How the simulator's storage describes an object's bytes: ETags and stated digests.

Real object stores differ here, and a downloader must tell a checksum from an opaque tag: S3's
ETag is the MD5 only for plain or SSE-S3 objects (SSE-KMS and SSE-C ones get another 32 hex
digits, multipart uploads `"<hex>-<parts>"`), GCS states `x-goog-hash`, Azure `Content-MD5` /
`x-ms-blob-content-md5`, RFC 9530 servers `Repr-Digest` / `Content-Digest`, S3 in checksum mode
`x-amz-checksum-*` with `x-amz-checksum-type`. `StoredDigests` picks the behaviour per object
(`SimConfig.storage_digests` for objects the fake APIs store); `describe` computes the headers
once, when the object is stored (docs/simulator.md).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import zlib
from dataclasses import dataclass

import crc32c

_PARTS = 3  # a "multipart upload" of three parts
_RFC9530 = {"sha-256": "sha256", "sha-512": "sha512"}
Header = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class StoredDigests:
    """What the storage says about one object's bytes.

    `etag`: `md5` (the quoted hex MD5: S3 plain/SSE-S3), `sse-kms` (32 random hex digits plus
    `x-amz-server-side-encryption: aws:kms`), `sse-c` (32 random hex digits plus
    `x-amz-server-side-encryption-customer-algorithm: AES256`), `opaque` (32 random hex digits,
    no header: MinIO with encryption, other stores), `multipart` (S3's `"<hex>-3"`).
    `content_md5`: `Content-MD5` on a whole-object 200 and, as Azure does, the whole object's
    `x-ms-blob-content-md5` on a 206. `goog_hash`: `x-goog-hash` members (`crc32c`, `md5`).
    `repr_digest` / `content_digest`: RFC 9530 algorithms (`sha-256`, `sha-512`); Content-Digest
    is of the bytes of each answer (a range's for a 206). `amz_checksum`: one of `crc32`,
    `crc32c`, `sha1`, `sha256` as `x-amz-checksum-<name>` with `x-amz-checksum-type:
    amz_checksum_type` (`COMPOSITE`: the checksum of the three parts' checksums, `-3` appended).
    `wrong`: every stated digest (not the ETag) is that of other bytes.
    """

    etag: str = "md5"
    content_md5: bool = False
    goog_hash: tuple[str, ...] = ()
    repr_digest: tuple[str, ...] = ()
    content_digest: tuple[str, ...] = ()
    amz_checksum: str | None = None
    amz_checksum_type: str = "FULL_OBJECT"
    wrong: bool = False


@dataclass(frozen=True)
class Described:
    """An object's ETag and its headers: on every answer, on a 200 only, on a 206 only."""

    etag: str
    always: tuple[Header, ...] = ()
    whole: tuple[Header, ...] = ()
    ranged: tuple[Header, ...] = ()


def describe(data: bytes, how: StoredDigests) -> Described:
    """The ETag and stated-digest headers of `data` stored as `how` says."""
    stated = data + b"\x00" if how.wrong else data  # "other bytes": what a wrong digest is of
    etag, sse = _etag_headers(data, how.etag)
    always: list[Header] = list(sse)
    if how.goog_hash:
        members = [f"{name}={_b64(_digest(name, stated))}" for name in how.goog_hash]
        always.append(("x-goog-hash", ",".join(members)))
    if how.repr_digest:
        always.append(("Repr-Digest", structured(stated, how.repr_digest)))
    if how.amz_checksum is not None:
        always += _amz(stated, how.amz_checksum, how.amz_checksum_type)
    whole: list[Header] = []
    ranged: list[Header] = []
    if how.content_md5:
        whole.append(("Content-MD5", _b64(hashlib.md5(stated).digest())))
        ranged.append(("x-ms-blob-content-md5", _b64(hashlib.md5(stated).digest())))
    return Described(etag, tuple(always), tuple(whole), tuple(ranged))


def structured(data: bytes, algorithms: tuple[str, ...]) -> str:
    """An RFC 9530 dictionary, e.g. `sha-256=:<b64>:, sha-512=:<b64>:`."""
    return ", ".join(f"{name}=:{_b64(_digest(_RFC9530[name], data))}:" for name in algorithms)


def _etag_headers(data: bytes, kind: str) -> tuple[str, list[Header]]:
    if kind == "md5":
        return f'"{hashlib.md5(data).hexdigest()}"', []
    if kind == "multipart":
        parts = b"".join(hashlib.md5(p).digest() for p in _split(data))
        return f'"{hashlib.md5(parts).hexdigest()}-{_PARTS}"', []
    headers = {
        "sse-kms": [("x-amz-server-side-encryption", "aws:kms")],
        "sse-c": [("x-amz-server-side-encryption-customer-algorithm", "AES256")],
        "opaque": [],
    }[kind]
    return f'"{_random_hex(data)}"', headers


def _random_hex(data: bytes) -> str:
    """32 hex digits that are not the MD5 (a random tag, as encrypted objects get)."""
    while (tag := secrets.token_hex(16)) == hashlib.md5(data).hexdigest():
        pass  # never, in practice
    return tag


def _amz(data: bytes, name: str, kind: str) -> list[Header]:
    if kind == "COMPOSITE":
        value = _b64(_digest(name, b"".join(_digest(name, p) for p in _split(data)))) + "-3"
    else:
        value = _b64(_digest(name, data))
    return [(f"x-amz-checksum-{name}", value), ("x-amz-checksum-type", kind)]


def _split(data: bytes) -> list[bytes]:
    step = max(1, -(-len(data) // _PARTS))
    return [data[i : i + step] for i in range(0, _PARTS * step, step)]


def _digest(name: str, data: bytes) -> bytes:
    if name == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    if name == "crc32c":
        return crc32c.crc32c(data).to_bytes(4, "big")
    return hashlib.new(name, data).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
