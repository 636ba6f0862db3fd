"""Saving one result to disk: stream to `<name>.part`, resume with `Range`, verify, rename.

The `.part` file and the validators (ETag / Last-Modified) are recorded in the job's `Result`
through `on_started`, so a later attempt, even after a restart, resumes from the bytes already
on disk with `Range` + `If-Range`; a server that ignores `Range` (or an `If-Range` that no longer
matches) answers 200 and the download restarts cleanly from zero. The final name appears only
once every byte is written, verified and fsync'ed; a kill at any moment leaves the finished file
or a `.part`, never a short file under the final name. What the answer vouches for is decided by
`integrity` (the length always; digests only where the server states they cover the whole file;
an ETag is a hint), and the returned `Result.verified` records how the file was checked.

No probe request. The download's own GET answers with everything a probe (`GET` with
`Range: bytes=0-0`; never `HEAD`, which a URL pre-signed for GET refuses) would tell: status,
size (`Content-Length` / `Content-Range`), ETag, Last-Modified and the suggested name arrive
before any byte is written, and the name, the free-space check and `on_started` are decided on
them. Whether the server honours `Range` is seen in the same answer (206, or 200: start from
zero), so a probe would only add a round trip and one more use of a short-lived signed URL.

Throughput: by default the bytes move in a worker thread with a blocking HTTP/1.1 client whose
bodies are read straight into a few reused 1 MiB buffers (`bulk_http.SyncRoute` / `BulkTransport`;
the credential routing of `ApiSession`). Each filled buffer is written to the file while other
threads hash it (SHA-256, plus what the server states: `digests.HashedBuffers`; a resumed
download hashes the `.part`'s bytes first, so every digest is of the whole file);
writeback to disk starts every `WRITEBACK` bytes and those pages leave the cache, so the final
fsync is short and a big download does not fill memory with its file. The event loop (the GUI
thread under qasync) only gets progress, at most four times a second. Cancelling the download
flags the worker and shuts its socket down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import httpx

from jobdock.core.download import integrity
from jobdock.core.download.digests import hash_file
from jobdock.core.download.filenames import choose_filename, inside
from jobdock.core.download.jobfolder import JobFolder, open_folder, part_name
from jobdock.core.download.partfile import Plan, Pumped, claim, part_path, pump, stream_to_part
from jobdock.core.download.partfile import move_part as move_part_into
from jobdock.core.download.speed import MinSpeed
from jobdock.core.model.errors import DiskFullError, DownloadError, LinkExpiredError
from jobdock.core.model.job import DownloadState, Result
from jobdock.core.net.bulk_http import BODY, BodyReader, SyncRoute, shut_down
from jobdock.core.net.http import (
    TIMEOUT,
    ApiSession,
    body_excerpt,
    read_excerpt,
    read_excerpt_sync,
    safe_url,
)
from jobdock.core.net.inputs import quoted, url_problem

T = TypeVar("T")
CHUNK = 1024 * 1024
PROGRESS_INTERVAL = 0.25  # at most four progress reports a second per download
# Not a refusal: a file that fits is saved even when it leaves less than this free (a note says
# so). Only the write knows for sure whether a file fits, and a full disk is transient.
FREE_SPACE_RESERVE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Started:
    """What is known once the server answered: recorded so a restart can resume."""

    path: Path
    total: int | None
    etag: str | None
    last_modified: str | None
    warning: str | None = None  # e.g. the file leaves little free space


ProgressFn = Callable[[int, int | None], None]
StartedFn = Callable[[Started], None]


async def download(
    session: ApiSession,
    result: Result,
    *,
    folder: Path,
    on_started: StartedFn,
    on_progress: ProgressFn,
    threaded: bool = True,
    sync_transport: httpx.BaseTransport | None = None,
    trust_etag_host: integrity.TrustFn = integrity.trusted_etag_host,
    earlier_sha256: str | None = None,
    root: Path | None = None,
    min_speed: MinSpeed | None = None,
) -> Result:
    """Fetch `result.url` into `folder`; returns the finished `Result` (state DONE).
    `root` is the download folder `folder` is in: no folder below it may be a link.

    `threaded` (the default) moves the bytes in a worker thread with a blocking client
    (`SyncRoute`, through `sync_transport` when given); otherwise on the event loop through the
    session's async clients (tests that script answers with an async transport). `on_started`
    runs on the loop before the first byte is written; `on_progress` on the loop, at most four
    times a second plus once at the end. `trust_etag_host` says whose plain ETag is the MD5 of
    the content (S3's; a test seam); `earlier_sha256` is the SHA-256 of an earlier download that
    such an ETag disagreed with: the same bytes again are kept, marked unverified. A body
    slower than `min_speed` is dropped (transient `NetworkError`; the .part keeps every byte
    received, for the resume).

    Raises `LinkExpiredError` (403/404/410), `DownloadError` (transient ones marked so),
    `ChecksumError` (the .part is removed: the next attempt starts from zero) or
    `NetworkError`; any other `.part` is left in place for the next attempt."""
    problem = url_problem(result.url)
    if problem is not None:  # a `data:` or `file:` link is no download, whatever names it
        raise DownloadError(f"refusing the result link {quoted(safe_url(result.url))}: {problem}")
    verify = _Verify(trust_etag_host, earlier_sha256, result.checksum)
    with open_folder(folder, root=root) as place:
        return await _download_into(
            session, result, place, on_started, on_progress, verify, threaded, sync_transport,
            min_speed,
        )  # fmt: skip


async def _download_into(
    session: ApiSession,
    result: Result,
    place: JobFolder,
    on_started: StartedFn,
    on_progress: ProgressFn,
    verify: _Verify,
    threaded: bool,
    sync_transport: httpx.BaseTransport | None,
    min_speed: MinSpeed | None,
) -> Result:
    target = _resumable(result, place)
    offset = 0
    if target is not None:
        offset = place.file_size(part_path(target).name) or 0  # refuses a planted link
    headers = {"Accept-Encoding": "identity"}
    validator = result.etag or result.last_modified
    if offset and validator:
        headers["Range"] = f"bytes={offset}-"
        headers["If-Range"] = validator
    else:
        offset = 0
    if offset and result.bytes is not None:
        # Still no room for the rest of a file of known size (a full disk's retries): say so
        # without asking the server again.
        _check_free_space(place.path, result.bytes - offset)
    progress = _Throttled(asyncio.get_running_loop(), on_progress)
    try:
        return await _download(
            session, result, place, target, offset, headers, on_started, progress, verify,
            threaded=threaded, sync_transport=sync_transport, min_speed=min_speed,
        )  # fmt: skip
    except _RangeRefused:
        # e.g. the .part already held every byte of a body whose length was a lie: the next
        # attempt starts from zero, and the checks decide what it is worth.
        if target is not None:
            place.unlink(part_path(target).name)
        raise


async def move_part(
    previous: Path,
    folder: Path,
    *,
    root: Path | None,
    source_root: Path | None,
    on_moved: Callable[[Path], None],
) -> None:
    """Bring the `.part` of `previous` (a download begun in another folder) into `folder`, so
    that the download resumes there with `Range` (`partfile.move_part`: nothing there is
    replaced, nothing is left behind). `root`/`source_root`: the download folders `folder` and
    `previous` are in. `on_moved` gets the path the download goes on as, on the loop, also when
    the awaiting task is cancelled meanwhile (the move is then complete)."""
    moved: list[Path] = []

    def work() -> None:
        with open_folder(folder, root=root) as place:
            new = move_part_into(previous, place, root=source_root)
            if new is not None:
                moved.append(new)

    try:
        await _in_thread(work, "move")
    finally:
        if moved:
            on_moved(moved[0])


def _resumable(result: Result, place: JobFolder) -> Path | None:
    """The file a previous attempt was writing, when it is in this folder (a `.part` there is
    resumed); None for a fresh name."""
    if not result.path:
        return None
    previous = Path(result.path)
    if previous.parent != place.path and previous.parent.resolve() != place.path.resolve():
        return None  # saved elsewhere before (another `--to`): start afresh here
    return place.path / previous.name


async def _download(
    session: ApiSession,
    result: Result,
    place: JobFolder,
    target: Path | None,
    offset: int,
    headers: dict[str, str],
    on_started: StartedFn,
    progress: _Throttled,
    verify: _Verify,
    *,
    threaded: bool,
    sync_transport: httpx.BaseTransport | None,
    min_speed: MinSpeed | None,
) -> Result:
    # The link's own headers (Databricks' `http_headers`), to the link's origin only.
    link_headers = dict(result.link_headers) or None
    if threaded:
        read_timeout = min_speed.read_timeout if min_speed is not None else TIMEOUT.read
        route = SyncRoute(session, sync_transport, read_timeout=read_timeout)
        try:
            response = await _in_thread(
                lambda: _open_sync(route, result.url, headers, link_headers),
                "open",
                discard=_close_response,
            )
            try:
                claims = verify.claims(response)
                plan = _plan(response, result, place, target, offset, on_started, claims)
                with claim(plan.target, folder=place) as fh:
                    stop = threading.Event()
                    pumped = await _in_thread(
                        lambda: pump(response, fh, plan, stop, progress, min_speed=min_speed),
                        "download",
                        interrupt=lambda: _interrupt(stop, response),
                    )
                    response.close()
                    return await _finish_in_thread(result, plan, pumped, claims, verify, place)
            finally:
                response.close()
        finally:
            route.close()
    async with session.stream(
        "GET", result.url, headers=headers, link_headers=link_headers
    ) as response:
        await _raise_for_download(response, result.url)
        claims = verify.claims(response)
        plan = _plan(response, result, place, target, offset, on_started, claims)
        with claim(plan.target, folder=place) as fh:
            pumped = await stream_to_part(response, fh, plan, progress, min_speed=min_speed)
            return await _finish_in_thread(result, plan, pumped, claims, verify, place)


@dataclass(frozen=True)
class _Verify:
    """How this download judges what the server vouches for (see `integrity`)."""

    trust_etag_host: integrity.TrustFn
    earlier_sha256: str | None
    api_checksum: str | None  # what the job answer stated (`Result.checksum`)

    def claims(self, response: httpx.Response) -> integrity.Claims:
        # The host that answered (after redirects), not the one the link named.
        host = response.request.url.host
        return integrity.claims_of(
            response.headers,
            status=response.status_code,
            host=host,
            trust_etag_host=self.trust_etag_host,
            api_checksum=self.api_checksum,
        )


async def _finish_in_thread(
    result: Result,
    plan: Plan,
    pumped: Pumped,
    claims: integrity.Claims,
    verify: _Verify,
    place: JobFolder,
) -> Result:
    """Verify and rename (the caller still holds the .part's claim, until the thread is done:
    a cancelled task still waits for it)."""
    return await _in_thread(
        lambda: _finish(result, plan, pumped, claims, verify.earlier_sha256, place), "finish"
    )


class _RangeRefused(DownloadError):
    """HTTP 416 to a resume: the .part is of no use any more."""


def _plan(
    response: httpx.Response,
    result: Result,
    place: JobFolder,
    target: Path | None,
    offset: int,
    on_started: StartedFn,
    claims: integrity.Claims,
) -> Plan:
    """Check the answer's headers, pick the file name, check free space, record the start."""
    folder = place.path
    if response.status_code == 206:
        _check_content_range(response, offset)
    else:
        offset = 0  # no Range support, or If-Range saw a different object: from zero
    total = _expected_total(response, offset)
    # An offset is always that of `target`'s .part (a resume): `target` is set along with it.
    if (
        offset
        and target is not None
        and result.bytes is not None
        and total is not None
        and total != result.bytes
    ):
        place.unlink(part_path(target).name)
        raise DownloadError(
            f"the file changed on the server ({result.bytes:,} → {total:,} bytes); starting again",
            transient=True,
        )
    name = choose_filename(
        disposition=response.headers.get("content-disposition"),
        hint=result.filename_hint,
        url=result.url,
    )
    preferred = inside(folder, name)
    # A link planted where this result goes is refused (and left for the user to see), never
    # written through or stepped around.
    place.refuse_link(name)
    place.file_size(part_name(name))
    if target is None:
        target = folder / place.unique(name)
    warning = _check_free_space(folder, (total - offset) if total is not None else None)
    etag = response.headers.get("etag")
    on_started(
        Started(
            path=target,
            total=total,
            etag=etag,
            last_modified=response.headers.get("last-modified"),
            warning=warning,
        )
    )
    return Plan(target, preferred, offset, total, claims.algorithms)


async def _raise_for_download(response: httpx.Response, url: str) -> None:
    if response.status_code in (403, 404, 410):
        await read_excerpt(response)  # the storage's own words say why (their start)
    _raise_for_status(response, url)


def _raise_for_status(response: httpx.Response, url: str) -> None:
    """Raise for an answer that is not the file (its error body read already, if any)."""
    code = response.status_code
    if code in (200, 206):
        return
    where = safe_url(url)
    if code in (403, 404, 410):
        # S3: AccessDenied "Request has expired"; R2: ExpiredRequest.
        excerpt = body_excerpt(response)
        detail = f": {excerpt}" if excerpt else ""
        raise LinkExpiredError(f"result link refused (HTTP {code}{detail}) at {where}")
    if code == 416:
        raise _RangeRefused(
            f"server refused the byte range (HTTP 416) at {where}; starting again from zero",
            transient=True,
        )
    transient = code == 429 or code >= 500
    raise DownloadError(f"download failed (HTTP {code}) from {where}", transient=transient)


def _check_content_range(response: httpx.Response, offset: int) -> None:
    value = response.headers.get("content-range", "")
    match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", value)
    if not match or int(match.group(1)) != offset:
        raise DownloadError(f"server answered the wrong byte range ({value!r})", transient=True)


def _expected_total(response: httpx.Response, offset: int) -> int | None:
    if response.status_code == 206:
        total = response.headers.get("content-range", "").rsplit("/", 1)[-1]
        if total.isdigit():
            return int(total)
    length = response.headers.get("content-length")
    if length and length.isdigit():
        return int(length) + offset
    return None


def _check_free_space(folder: Path, needed: int | None) -> str | None:
    """Refuse, for now, a file of known size that cannot fit (transient: nothing is written and
    the next attempt looks again); a note when it fits with less than the reserve to spare. An
    unknown size is just written: a full disk then stops it, transiently, keeping the .part."""
    if needed is None:
        return None
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFullError(
            f"not enough free space in {folder}: {needed:,} bytes needed, {free:,} free; "
            "the download starts once there is room"
        )
    if free - needed < FREE_SPACE_RESERVE:
        return f"saving this file leaves only {free - needed:,} bytes free in {folder}"
    return None


class _Throttled:
    """Progress for the loop: at most one report per `PROGRESS_INTERVAL`, plus the last one;
    callable from any thread (reports reach the loop through `call_soon_threadsafe`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, report: ProgressFn) -> None:
        self._loop = loop
        self._report = report
        self._last = float("-inf")
        self._thread = threading.get_ident()

    def __call__(self, done: int, total: int | None, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        if threading.get_ident() == self._thread:
            self._report(done, total)
            return
        try:
            self._loop.call_soon_threadsafe(self._report, done, total)
        except RuntimeError:
            pass  # the loop is closed: nobody is listening any more


async def _in_thread(
    work: Callable[[], T],
    what: str,
    *,
    interrupt: Callable[[], None] | None = None,
    discard: Callable[[T], None] | None = None,
) -> T:
    """Run blocking `work` in its own thread. Cancelling the awaiting task calls `interrupt`
    and still waits for the thread, so nothing it holds (the .part file) outlives the call;
    what the thread made for a task that is gone by then goes to `discard` (an open answer)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        outcome: Callable[[], None]
        try:
            outcome = functools.partial(future.set_result, work())
        except BaseException as exc:  # handed to the awaiting task
            outcome = functools.partial(future.set_exception, exc)
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:
            pass  # loop closed

    threading.Thread(target=run, name=f"jobdock-{what}", daemon=True).start()
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if interrupt is not None:
            interrupt()
        await _outlast(future)
        if discard is not None and not future.cancelled() and future.exception() is None:
            discard(future.result())
        raise


async def _outlast(future: asyncio.Future[T]) -> None:
    """Wait until `future` (a thread's outcome) is settled, however often the waiting task is
    cancelled meanwhile: a thread that outlived its task would go on writing to a descriptor
    that the task's `with` block has closed, and the number may name another file by then."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({future})
    if not future.cancelled():
        future.exception()  # the thread's own error ("download stopped") is the cancel's echo


def _close_response(response: httpx.Response) -> None:
    response.close()


def _open_sync(
    route: SyncRoute, url: str, headers: dict[str, str], link_headers: dict[str, str] | None
) -> httpx.Response:
    """(Worker thread) send the GET, follow redirects; the answer with its body unread, or
    the error it stands for."""
    response = route.open(url, headers=headers, link_headers=link_headers)
    try:
        if response.status_code in (403, 404, 410):
            read_excerpt_sync(response)  # the start of the storage's words, never all
        _raise_for_status(response, url)
    except BaseException:
        response.close()
        raise
    return response


def _interrupt(stop: threading.Event, response: httpx.Response) -> None:
    """Make a worker blocked in a read return now: flag it, then shut its socket down."""
    stop.set()
    body = response.extensions.get(BODY)
    if isinstance(body, BodyReader):
        body.abort()
        return
    stream = response.extensions.get("network_stream")  # httpx's own transports
    shut_down(stream.get_extra_info("socket") if stream is not None else None)


def _finish(
    result: Result,
    plan: Plan,
    pumped: Pumped,
    claims: integrity.Claims,
    earlier_sha256: str | None,
    place: JobFolder,
) -> Result:
    """Verify, then rename into place (in a worker thread: it may hash the whole file)."""
    target = plan.target
    part = part_path(target)
    total, written = plan.total, pumped.written
    if total is not None and written != total:
        raise DownloadError(
            f"incomplete download: got {written:,} of {total:,} bytes", transient=True
        )
    digests = pumped.digests
    if digests is None:  # the event-loop path: hash the whole file now
        digests = hash_file(part, claims.algorithms)
    try:
        verified = integrity.judge(claims, digests, total=total, earlier=earlier_sha256)
    except DownloadError:
        place.unlink(part.name)  # these bytes are not worth resuming
        raise
    sha256 = digests["sha256"].hex()
    if _same_file(place, plan.preferred.name, written, sha256):
        place.unlink(part.name)  # identical bytes are already saved under the suggested name
        final = plan.preferred
    else:
        final = place.path / place.put(part.name, target.name)  # never replaces anything
    return replace(
        result,
        download_state=DownloadState.DONE,
        path=str(final),
        bytes=written,
        bytes_done=written,
        sha256=sha256,
        verified=verified,
        error=None,
    )


def _same_file(place: JobFolder, name: str, size: int, sha256: str) -> bool:
    """Whether the plain file `name` (never a link) holds these bytes."""
    fd = place.open_read(name)
    if fd is None:
        return False
    with open(fd, "rb") as fh:
        if os.fstat(fd).st_size != size:
            return False
        sha = hashlib.sha256()
        while block := fh.read(CHUNK):
            sha.update(block)
    return sha.hexdigest() == sha256


class RateMeter:
    """Speed (bytes/s, smoothed) and ETA of one download, for progress reports."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._last_t = self._start
        self._last_bytes = 0
        self.speed = 0.0

    def update(self, done: int) -> float:
        now = self._clock()
        dt = now - self._last_t
        if dt >= 0.2:  # reports come every 0.25 s, give or take the loop's jitter
            instant = (done - self._last_bytes) / dt
            self.speed = instant if self.speed == 0 else 0.7 * self.speed + 0.3 * instant
            self._last_t, self._last_bytes = now, done
        return self.speed

    def eta(self, done: int, total: int | None) -> float | None:
        if total is None or self.speed <= 0:
            return None
        return max(0.0, (total - done) / self.speed)
