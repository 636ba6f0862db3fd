"""The `.part` file of a download: where the bytes of an answer go until they are verified.

`pump` is the worker-thread path (the downloader's default): the body is read into reused
buffers (`bulk_http.BodyReader.readinto`, or a copy of any other transport's pieces), written as
it arrives while `digests.HashedBuffers` hashes it in other threads, pushed to disk in stretches
and fsync'ed at the end. `stream_to_part` is the event-loop path for async transports; its file
is hashed afterwards.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from jobdock.core.bulk_http import BODY, BodyReader
from jobdock.core.digests import HashedBuffers
from jobdock.core.errors import DownloadError, NetworkError

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
    want_md5: bool


@dataclass(frozen=True)
class Pumped:
    written: int
    sha256: str | None = None  # None: hash the file afterwards
    md5: str | None = None


def part_path(path: Path) -> Path:
    """Where the bytes of `path` gather until the file is complete."""
    return path.with_name(path.name + ".part")


def pump(response: httpx.Response, plan: Plan, stop: threading.Event, progress: Progress) -> Pumped:
    """(Worker thread) body → .part, hashed beside the writing; fsync'ed. Each piece is
    written as it arrives (a broken connection loses nothing already received)."""
    part = part_path(plan.target)
    read = _body_reader(response)
    written = plan.offset
    try:
        with (
            open(part, "r+b" if plan.offset else "wb", buffering=0) as fh,
            HashedBuffers(md5=plan.want_md5) as buffers,
        ):
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
            except httpx.HTTPError as exc:
                raise NetworkError(
                    f"download interrupted after {written:,} bytes: {type(exc).__name__}"
                ) from None
            if stop.is_set():
                raise DownloadError("download stopped", transient=True)
            os.fsync(fd)
            sha256, md5 = buffers.finish()
    except OSError as exc:
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
    progress(written, plan.total, final=True)
    return Pumped(written, sha256, md5)


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


async def stream_to_part(response: httpx.Response, plan: Plan, progress: Progress) -> Pumped:
    """The event-loop variant of `pump` (async transports); the file is hashed after."""
    part = part_path(plan.target)
    written = plan.offset
    with open(part, "r+b" if plan.offset else "wb") as fh:
        fh.seek(plan.offset)
        fh.truncate()
        try:
            # No chunk_size: a re-chunking buffer would hold back up to CHUNK bytes that a
            # broken connection then loses; pieces are written as they arrive.
            async for chunk in response.aiter_raw():
                fh.write(chunk)
                written += len(chunk)
                progress(written, plan.total)
        except httpx.HTTPError as exc:
            fh.flush()
            raise NetworkError(
                f"download interrupted after {written:,} bytes: {type(exc).__name__}"
            ) from None
        except OSError as exc:
            raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
        fh.flush()
        os.fsync(fh.fileno())
    progress(written, plan.total, final=True)
    return Pumped(written)
