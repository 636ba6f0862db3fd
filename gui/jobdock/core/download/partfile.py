"""The `.part` file of a download: where the bytes of an answer go until they are verified.

`claim` opens it locked (`filelock`: `flock`, or `msvcrt.locking` on Windows) for as long as the
download and its rename take, so two Jobdock processes on one data dir, the window and a
`jobdock watch`, never write one file together.

`pump` is the worker-thread path (the downloader's default): the body is read into reused
buffers (`bulk_http.BodyReader.readinto`, or a copy of any other transport's pieces), written as
it arrives while `digests.HashedBuffers` hashes it in other threads, pushed to disk in stretches
and fsync'ed at the end. `stream_to_part` is the event-loop path for async transports; its file
is hashed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from jobdock.core.download import filelock
from jobdock.core.download.digests import HashedBuffers
from jobdock.core.download.jobfolder import JobFolder, open_folder, part_name
from jobdock.core.download.speed import MinSpeed, SpeedWatch
from jobdock.core.model.errors import DiskFullError, DownloadError, NetworkError
from jobdock.core.net.bulk_http import BODY, BodyReader

WRITEBACK = 32 * 1024 * 1024  # start writing the .part to disk every this many bytes


class Progress(Protocol):
    def __call__(self, done: int, total: int | None, *, final: bool = False) -> None: ...


@dataclass(frozen=True)
class Plan:
    """Where the answer's bytes go, decided from its headers before any is written."""

    target: Path
    preferred: Path
    offset: int
    total: int | None
    algorithms: tuple[str, ...]  # digests to compute beside SHA-256 (`integrity.Claims`)


@dataclass(frozen=True)
class Pumped:
    written: int
    digests: Mapping[str, bytes] | None = None  # of the whole file; None: hash it afterwards


def part_path(path: Path) -> Path:
    """Where the bytes of `path` gather until the file is complete."""
    return path.with_name(part_name(path.name))


@contextlib.contextmanager
def claim(target: Path, *, folder: JobFolder | None = None) -> Iterator[io.FileIO]:
    """The `.part` of `target`, open for writing and locked against every other Jobdock process
    (the window and a `jobdock watch` on the same data dir) until the block ends: hold it until
    the file has its final name. It is opened in `folder` (the open job folder; by default
    `target`'s own) without following a link, and created with `O_EXCL`. Raises a transient
    `DownloadError` when another process holds it, or renamed it to its final name meanwhile
    (the next attempt sees the finished file), a permanent one for a planted link."""
    if folder is None:
        with open_folder(target.parent) as opened, claim(target, folder=opened) as fh:
            yield fh
        return
    part = part_path(target)
    fd = folder.open_part(part.name)
    with open(fd, "r+b", buffering=0) as fh, _locked(fd, part.name):
        done = not folder.names(part.name, fd)
        if not done and folder.half_renamed(part.name, os.fstat(fd)):
            folder.unlink(part.name)  # its move into place was cut short: finish it
            done = True
        if done:
            raise DownloadError(
                f"{part.name} was just completed by another Jobdock process", transient=True
            )
        yield fh


@contextlib.contextmanager
def _locked(fd: int, name: str) -> Iterator[None]:
    """The `.part` open as `fd` locked against every other process until the block ends; a
    transient `DownloadError` when another one holds it."""
    if not filelock.try_lock(fd):
        raise DownloadError(
            f"{name} is being written by another Jobdock process (the window or"
            " `jobdock watch` on the same data dir)",
            transient=True,
        )
    try:
        yield
    finally:
        filelock.unlock(fd)


def move_part(previous: Path, place: JobFolder, *, root: Path | None = None) -> Path | None:
    """(Worker thread) Bring the `.part` of `previous`, a download begun in another folder, into
    `place` under a name nothing there uses (never replacing anything, leaving no `.part`
    behind); returns the path the download goes on as, None when there is no such `.part`.
    `root`: the download folder `previous` is in (no folder below it may be a link). The `.part`
    is locked meanwhile, as a download locks it."""
    if not previous.parent.is_dir():
        return None  # never made anew just to look into it
    name = part_name(previous.name)
    with open_folder(previous.parent, root=root) as source:
        if source.file_size(name) is None:  # refuses a planted link
            return None
        fd = source.open_read(name)
        if fd is None:
            return None
        with open(fd, "rb", buffering=0) as fh, _locked(fd, name):
            if not source.names(name, fh.fileno()):
                return None  # completed or removed meanwhile
            final = place.take_part(source, name, previous.name, fh.fileno())
    return place.path / final


def pump(
    response: httpx.Response,
    fh: io.FileIO,
    plan: Plan,
    stop: threading.Event,
    progress: Progress,
    *,
    min_speed: MinSpeed | None = None,
) -> Pumped:
    """(Worker thread) body → the claimed .part `fh`, hashed beside the writing; fsync'ed.
    Each piece is written as it arrives (a broken connection loses nothing received); a body
    slower than `min_speed` raises a transient `NetworkError` (the .part keeps what came)."""
    part = part_path(plan.target)
    read = _body_reader(response)
    written = plan.offset
    speed = SpeedWatch(min_speed, written) if min_speed is not None else None
    try:
        with HashedBuffers(algorithms=plan.algorithms) as buffers:
            _hash_prefix(fh, plan.offset, buffers)
            fh.seek(plan.offset)
            fh.truncate()
            fd = fh.fileno()
            flushed = written
            try:
                while not stop.is_set():
                    buffer = buffers.take()
                    count = read(buffer)
                    if not count:
                        buffers.give_back(buffer)
                        break
                    buffers.feed(buffer, count)
                    with memoryview(buffer) as view:
                        _write_all(fd, view[:count])
                    written += count
                    if written - flushed >= WRITEBACK:
                        # This stretch starts going to disk; the one before, written out by
                        # now, leaves the page cache.
                        start = max(plan.offset, flushed - WRITEBACK)
                        _start_writeback(fd, start, written - start)
                        flushed = written
                    progress(written, plan.total)
                    if speed is not None:
                        speed.check(written)
            except httpx.HTTPError as exc:
                raise NetworkError(_interrupted(exc, written, min_speed)) from None
            if stop.is_set():
                raise DownloadError("download stopped", transient=True)
            os.fsync(fd)
            digests = buffers.finish()
    except OSError as exc:
        raise write_error(part, exc, written=written, total=plan.total) from None
    progress(written, plan.total, final=True)
    return Pumped(written, digests)


def _interrupted(exc: httpx.HTTPError, written: int, min_speed: MinSpeed | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        within = f" in {min_speed.read_timeout:g} s" if min_speed is not None else ""
        return f"download stalled: no byte{within} after {written:,} bytes; resuming"
    return f"download interrupted after {written:,} bytes: {type(exc).__name__}"


def write_error(path: Path, exc: OSError, *, written: int, total: int | None) -> DownloadError:
    """The error for a failed write to `path`: a full disk (or quota) is transient, says how
    much is needed and where, and keeps the .part for the resume once there is room."""
    if exc.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DownloadError(f"cannot write {path}: {exc.strerror or exc}")
    try:
        free: int | None = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    needed = f"{total - written:,} more bytes needed" if total is not None else "size unknown"
    room = f"{free:,} bytes free" if free is not None else "free space unknown"
    return DiskFullError(
        f"disk full writing {path} after {written:,} bytes ({needed}, {room} in {path.parent}); "
        "the download resumes once there is room"
    )


def _body_reader(response: httpx.Response) -> Callable[[bytearray], int]:
    """`readinto` for the response's body: `BulkTransport`'s own (no copy), else one that
    copies the pieces any other transport yields (scripted transports in tests, proxies)."""
    body = response.extensions.get(BODY)
    if isinstance(body, BodyReader):
        return body.readinto
    pieces = response.iter_raw()
    left = memoryview(b"")

    def readinto(buffer: bytearray) -> int:
        nonlocal left
        filled = 0
        while filled < len(buffer):
            if not left:
                piece = next(pieces, None)
                if piece is None:
                    break
                left = memoryview(piece)
            count = min(len(left), len(buffer) - filled)
            buffer[filled : filled + count] = left[:count]
            left = left[count:]
            filled += count
        return filled

    return readinto


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _hash_prefix(fh: io.FileIO, size: int, buffers: HashedBuffers) -> None:
    """Feed the bytes already in the .part (a resumed download) to the hashes."""
    fh.seek(0)
    left = size
    while left > 0:
        buffer = buffers.take()
        with memoryview(buffer) as view:
            count = fh.readinto(view[: min(len(buffer), left)])
        if not count:
            buffers.give_back(buffer)
            raise DownloadError("the .part file shrank while resuming", transient=True)
        buffers.feed(buffer, count)
        left -= count


def _start_writeback(fd: int, start: int, length: int) -> None:
    """Ask the kernel to write this range to disk now and drop what of it is already written
    from the page cache (Linux, `POSIX_FADV_DONTNEED`: dirty pages start their writeback, clean
    ones are dropped): the final fsync has little left to wait for, and a download of many GB
    does not push everything else out of memory."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, start, length, os.POSIX_FADV_DONTNEED)


async def stream_to_part(
    response: httpx.Response,
    fh: io.FileIO,
    plan: Plan,
    progress: Progress,
    *,
    min_speed: MinSpeed | None = None,
) -> Pumped:
    """The event-loop variant of `pump` (async transports); the file is hashed after."""
    part = part_path(plan.target)
    written = plan.offset
    speed = SpeedWatch(min_speed, written) if min_speed is not None else None
    try:
        fh.seek(plan.offset)
        fh.truncate()
        fd = fh.fileno()
        try:
            # No chunk_size: a re-chunking buffer would hold back up to a chunk that a broken
            # connection then loses; pieces are written as they arrive.
            pieces = aiter(response.aiter_raw())
            while True:
                try:
                    async with asyncio.timeout(min_speed.read_timeout if min_speed else None):
                        chunk = await anext(pieces)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise httpx.ReadTimeout("no byte within the window") from None
                _write_all(fd, memoryview(chunk))
                written += len(chunk)
                progress(written, plan.total)
                if speed is not None:
                    speed.check(written)
        except httpx.HTTPError as exc:
            raise NetworkError(_interrupted(exc, written, min_speed)) from None
        os.fsync(fd)
    except OSError as exc:
        raise write_error(part, exc, written=written, total=plan.total) from None
    progress(written, plan.total, final=True)
    return Pumped(written)
