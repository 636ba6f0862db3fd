"""The storage origins: S3-like servers of result files behind pre-signed, expiring URLs.

Objects live in one `ObjectStore` shared by `storage` and `storage-alt` (the second origin exists
for redirects across hosts). A GET is checked in S3's order (signature, expiry, key), then served
with `ETag`, `Last-Modified`, `Accept-Ranges` and `Content-Disposition`, honouring `Range` and
`If-Range`, streamed in chunks from the stored bytes; the ETag and any stated digests are as the
object's `StoredDigests` say (`simulator.integrity`: S3 plain, SSE-KMS, multipart, GCS, Azure,
RFC 9530, S3 checksums, or a deliberately wrong digest). Planted `StorageFault`s break the download
in the ways real storage does: resets mid-body, ignored ranges, truncation, lying lengths,
redirects, URLs that expire while being read, bodies that trickle or stall after the headers, and
bodies without a length.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from jobdock.simulator.config import SimConfig
from jobdock.simulator.faults import FaultQueue, StorageFault, StoragePlan
from jobdock.simulator.integrity import Described, StoredDigests, describe, structured
from jobdock.simulator.server import Api, Site
from jobdock.simulator.signing import Signer
from jobdock.simulator.wire import (
    Reply,
    Request,
    Responder,
    element,
    http_date,
    iso_utc,
    xml_reply,
)

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True, kw_only=True)
class StoredObject:
    key: str
    data: bytes
    etag: str
    modified: float
    content_type: str
    filename: str | None = None
    disposition: str | None = None
    digests: StoredDigests = field(default_factory=StoredDigests)
    described: Described | None = None  # the headers `digests` gives, computed when stored
    # Headers every GET must send (S3 SSE-C's customer key: Databricks' `http_headers`)
    required_headers: tuple[tuple[str, str], ...] = ()

    def content_disposition(self) -> str | None:
        """The raw value planted by a test, else one built from the (raw, unsanitised) name."""
        if self.disposition is not None:
            return self.disposition
        if self.filename is None:
            return None
        plain = all(32 <= ord(c) < 127 or 160 <= ord(c) < 256 for c in self.filename)
        if not plain:  # control characters or non-Latin-1: RFC 5987 form, still unsanitised
            encoded = quote(self.filename, safe="")
            return f"attachment; filename*=UTF-8''{encoded}"
        escaped = self.filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'attachment; filename="{escaped}"'


class ObjectStore:
    """Result files by key; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, StoredObject] = {}

    def put(self, obj: StoredObject) -> None:
        with self._lock:
            self._objects[obj.key] = obj

    def get(self, key: str) -> StoredObject | None:
        with self._lock:
            return self._objects.get(key)


def _s3_error(status: int, code: str, message: str, **extra: str) -> Reply:
    root = element("Error", None, element("Code", code), element("Message", message))
    for name, value in extra.items():
        root.append(element(name, value))
    root.append(element("RequestId", secrets.token_hex(8).upper()))
    return xml_reply(status, root)


def _missing_headers(req: Request, obj: StoredObject) -> Reply | None:
    """S3's answer to a GET of an SSE-C object without its key headers (400), or with others
    (403); None when every required header came as stored."""
    sent = [req.header(name) for name, _ in obj.required_headers]
    if any(value is None for value in sent):
        return _s3_error(400, "InvalidRequest", "The object was stored using a form of Server "
                         "Side Encryption. The correct parameters must be provided to retrieve "
                         "the object.")  # fmt: skip
    if any(value != wanted for value, (_, wanted) in zip(sent, obj.required_headers, strict=True)):
        return _s3_error(403, "AccessDenied", "The calculated MD5 hash of the key did not match "
                         "the hash that was provided.")  # fmt: skip
    return None


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end-exclusive) for a single satisfiable range, None for none, "bad" for 416."""
    match = _RANGE.match((header or "").strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = min(int(last), size)
        return (size - length, size) if length > 0 else "bad"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return "bad"
    return start, end


class StorageApi(Api):
    """Serves GETs of pre-signed object URLs (see module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        store: ObjectStore,
        signer: Signer,
        config: SimConfig,
        faults: FaultQueue,
        alt: Callable[[], StorageServer],
    ) -> None:
        super().__init__()
        self.name = name
        self.store = store
        self.signer = signer
        self.config = config
        self._faults = faults
        self._alt = alt
        # Downloads being answered now, and the most at once: how tests see a client's limit.
        self._count_lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0

    def handle(self, req: Request, out: Responder) -> None:
        with self._count_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self._handle(req, out)
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def _handle(self, req: Request, out: Responder) -> None:
        obj, failure = self._lookup(req)
        if failure is not None or obj is None:
            out.send(failure or _s3_error(404, "NoSuchKey", "The specified key does not exist."))
            return
        refused = _missing_headers(req, obj)
        if refused is not None:
            out.send(refused)
            return
        plan = self._faults.take_storage(obj.key)
        if plan is not None and plan.redirect:
            url = self._alt().presign(obj.key, ttl=self.config.link_ttl)
            out.send(Reply(status=302, headers=(("Location", url),)))
            return
        self._serve(req, out, obj, plan)

    def _lookup(self, req: Request) -> tuple[StoredObject | None, Reply | None]:
        if req.method != "GET":
            return None, _s3_error(
                403, "SignatureDoesNotMatch", f"The URL was signed for GET, not {req.method}."
            )
        prefix = f"/{self.signer.bucket}/"
        if not req.path.startswith(prefix):
            return None, _s3_error(404, "NoSuchBucket", "The specified bucket does not exist.")
        params = req.params
        problem = self.signer.check(req.path, params, self.config.clock())
        if problem == "missing":
            return None, _s3_error(403, "AccessDenied", "Access Denied")
        if problem == "tampered":
            return None, _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if problem == "expired":
            expires = self.signer.expires_at(params) or 0.0
            return None, _s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                Expires=iso_utc(expires),
                ServerTime=iso_utc(self.config.clock()),
            )
        return self.store.get(req.path[len(prefix) :]), None

    def _serve(
        self, req: Request, out: Responder, obj: StoredObject, plan: StoragePlan | None
    ) -> None:
        size = len(obj.data)
        headers = [
            ("ETag", obj.etag),
            ("Last-Modified", http_date(obj.modified)),
            ("Accept-Ranges", "bytes"),
            ("Content-Type", obj.content_type),
        ]
        disposition = obj.content_disposition()
        if disposition is not None:
            headers.append(("Content-Disposition", disposition))
        wanted = None if plan is not None and plan.no_range else req.header("Range")
        if_range = req.header("If-Range")
        if wanted and if_range and if_range not in (obj.etag, http_date(obj.modified)):
            wanted = None
        span = _byte_range(wanted, size)
        if span == "bad":
            headers.append(("Content-Range", f"bytes */{size}"))
            out.send(Reply(status=416, headers=tuple(headers)))
            return
        status, (start, end) = (200, (0, size)) if not isinstance(span, tuple) else (206, span)
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        headers += _digest_headers(obj, status, (start, end))
        self._stream(req, out, obj, (start, end), plan, status, headers)

    def _stream(
        self,
        req: Request,
        out: Responder,
        obj: StoredObject,
        span: tuple[int, int],
        plan: StoragePlan | None,
        status: int,
        headers: list[tuple[str, str]],
    ) -> None:
        start, end = span
        declared = end - start
        if plan is not None and plan.wrong_length is not None:
            declared = plan.wrong_length
        cut, action = end, ""
        if plan is not None:
            for fraction, kind in (
                (plan.reset_at, "reset"),
                (plan.expire_at, "expire"),
                (plan.truncate_at, "truncate"),
            ):
                if fraction is not None:
                    cut = min(max(int(fraction * len(obj.data)), start), end)
                    action = kind
                    break
        length = [] if plan is not None and plan.no_length else [("Content-Length", str(declared))]
        out.begin(status, [*headers, *length])
        view = memoryview(obj.data)
        rate = plan.rate if plan is not None and plan.rate else None
        slow, stall = self._slow_parts(obj, (start, cut), plan)
        if not self._send(out, view, (start, slow), rate):
            return
        if plan is not None and plan.trickle and slow < stall:
            # A peer that holds the download: a few bytes at a time, never a read timeout.
            if not self._send(out, view, (slow, stall), plan.trickle):
                return
        if stall < cut:
            out.idle(self.stopping)
            return
        if action == "expire":
            self.signer.revoke(req.params.get("X-Amz-Signature", ""))
        if action in ("reset", "expire"):
            out.reset()
        elif action == "truncate" or declared != end - start or length == []:
            out.hangup()

    @staticmethod
    def _slow_parts(
        obj: StoredObject, span: tuple[int, int], plan: StoragePlan | None
    ) -> tuple[int, int]:
        """Where, in `span`, the body starts trickling and where it stalls (`span`'s end for
        neither)."""
        start, cut = span
        if plan is None:
            return cut, cut

        def at(fraction: float) -> int:
            return min(max(int(fraction * len(obj.data)), start), cut)

        stall = at(plan.stall_at) if plan.stall_at is not None else cut
        slow = at(plan.trickle_at) if plan.trickle else stall
        return min(slow, stall), stall

    def _send(
        self, out: Responder, view: memoryview, span: tuple[int, int], rate: float | None
    ) -> bool:
        """Write `view[span]`, at about `rate` bytes a second when given; False if stopping."""
        start, end = span
        step = CHUNK if rate is None else max(1, min(CHUNK, int(rate / 20)))
        began = time.monotonic()
        for offset in range(start, end, step):
            if rate is not None:  # a slow link: no byte leaves before its time
                due = began + (offset - start) / rate
                if self.stopping.wait(max(0.0, due - time.monotonic())):
                    return False
            out.write(view[offset : min(offset + step, end)])
        return True


def _digest_headers(obj: StoredObject, status: int, span: tuple[int, int]) -> list[tuple[str, str]]:
    described = obj.described
    if described is None:
        return []
    headers = [*described.always, *(described.whole if status == 200 else described.ranged)]
    if obj.digests.content_digest:  # RFC 9530: of this answer's content, a range's for a 206
        content = obj.data[span[0] : span[1]] + (b"\x00" if obj.digests.wrong else b"")
        headers.append(("Content-Digest", structured(content, obj.digests.content_digest)))
    return headers


class StorageServer:
    """The handle tests and fakes use for one storage origin (`sim.storage`, `sim.storage_alt`)."""

    def __init__(self, site: Site, api: StorageApi) -> None:
        self.site = site
        self.api = api

    @property
    def name(self) -> str:
        return self.site.name

    @property
    def origin(self) -> str:
        return self.site.origin

    @property
    def bucket(self) -> str:
        return self.api.signer.bucket

    def put(
        self,
        key: str,
        data: bytes,
        *,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        disposition: str | None = None,
        digests: StoredDigests | None = None,
        required_headers: tuple[tuple[str, str], ...] = (),
    ) -> str:
        """Store `data` (shared by both storage origins); `disposition` is sent verbatim;
        `digests` (default `SimConfig.storage_digests`) says how the bytes are described;
        `required_headers` must come with every GET (an SSE-C key: 400 without, 403 if
        wrong)."""
        how = digests if digests is not None else self.api.config.storage_digests
        described = describe(bytes(data), how)
        self.api.store.put(
            StoredObject(
                key=key,
                data=bytes(data),
                etag=described.etag,
                modified=self.api.config.clock(),
                content_type=content_type,
                filename=filename,
                disposition=disposition,
                digests=how,
                described=described,
                required_headers=required_headers,
            )
        )
        return key

    def presign(self, key: str, ttl: float = 3600.0, *, signed_at: float | None = None) -> str:
        """A GET URL for `key` on this origin, valid `ttl` seconds from `signed_at` (now)."""
        when = self.api.config.clock() if signed_at is None else signed_at
        return self.api.signer.presign(self.origin, key, ttl=ttl, signed_at=when)

    def object_bytes(self, key: str) -> bytes:
        obj = self.api.store.get(key)
        if obj is None:
            raise KeyError(key)
        return obj.data

    def add_fault(self, fault: StorageFault) -> None:
        self.site.faults.add(fault)

    @property
    def in_flight(self) -> int:
        """Requests being answered at this moment (a download's whole body included)."""
        return self.api.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests answered at once since the simulator started."""
        return self.api.peak_in_flight

    def clear_faults(self) -> None:
        self.site.faults.clear()
