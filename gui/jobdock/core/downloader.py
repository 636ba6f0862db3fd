"""Saving one result to disk: stream to `<name>.part`, resume with `Range`, verify, rename.

The `.part` file and the validators (ETag / Last-Modified) are recorded in the job's `Result`
through `on_started`, so a later attempt, even after a restart, resumes from the bytes already
on disk with `Range` + `If-Range`; a server that ignores `Range` answers 200 and the download
restarts cleanly from zero. The final name appears only once every byte is written and fsync'ed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from jobdock.core.errors import ChecksumError, DownloadError, LinkExpiredError, NetworkError
from jobdock.core.filenames import choose_filename, inside, unique_path
from jobdock.core.http import ApiSession, body_excerpt, safe_url
from jobdock.core.job import DownloadState, Result

CHUNK = 1024 * 1024
FREE_SPACE_RESERVE = 16 * 1024 * 1024
_PLAIN_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


@dataclass(frozen=True)
class Started:
    """What is known once the server answered: recorded so a restart can resume."""

    path: Path
    total: int | None
    etag: str | None
    last_modified: str | None


ProgressFn = Callable[[int, int | None], None]
StartedFn = Callable[[Started], None]


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


async def download(
    session: ApiSession,
    result: Result,
    *,
    folder: Path,
    on_started: StartedFn,
    on_progress: ProgressFn,
) -> Result:
    """Fetch `result.url` into `folder`; returns the finished `Result` (state DONE).

    Raises `LinkExpiredError` (403/404/410), `DownloadError` (transient ones marked so) or
    `NetworkError`; any `.part` is left in place for the next attempt."""
    folder.mkdir(parents=True, exist_ok=True)
    target = Path(result.path) if result.path else None
    offset = 0
    if target is not None and part_path(target).exists():
        offset = part_path(target).stat().st_size
    headers = {"Accept-Encoding": "identity"}
    validator = result.etag or result.last_modified
    if offset and validator:
        headers["Range"] = f"bytes={offset}-"
        headers["If-Range"] = validator
    else:
        offset = 0
    async with session.stream("GET", result.url, headers=headers) as response:
        await _raise_for_download(response, result.url)
        if response.status_code == 206:
            _check_content_range(response, offset)
        else:
            offset = 0  # no Range support, or If-Range saw a different object: from zero
        total = _expected_total(response, offset)
        if offset and result.bytes is not None and total is not None and total != result.bytes:
            part_path(target).unlink(missing_ok=True)  # type: ignore[arg-type]
            raise DownloadError(
                f"the file changed on the server ({result.bytes:,} → {total:,} bytes); "
                "starting again",
                transient=True,
            )
        name = choose_filename(
            disposition=response.headers.get("content-disposition"),
            hint=result.filename_hint,
            url=result.url,
        )
        preferred = inside(folder, name)
        if target is None:
            target = unique_path(preferred)
        _check_free_space(folder, (total - offset) if total is not None else None)
        on_started(
            Started(
                path=target,
                total=total,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
        )
        written = await _stream_to_part(response, part_path(target), offset, total, on_progress)
    checks = _Checks(
        total=total,
        etag=response.headers.get("etag"),
        content_md5=response.headers.get("content-md5") if offset == 0 else None,
        preferred=preferred,
    )
    return await asyncio.to_thread(_finish, result, target, written, checks)


async def _raise_for_download(response: httpx.Response, url: str) -> None:
    code = response.status_code
    if code in (200, 206):
        return
    where = safe_url(url)
    if code in (403, 404, 410):
        # The storage's own words say why (S3: AccessDenied "Request has expired").
        await response.aread()
        excerpt = body_excerpt(response)
        detail = f": {excerpt}" if excerpt else ""
        raise LinkExpiredError(f"result link refused (HTTP {code}{detail}) at {where}")
    if code == 416:
        raise DownloadError(f"server refused the byte range (HTTP 416) at {where}", transient=True)
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


def _check_free_space(folder: Path, needed: int | None) -> None:
    if needed is None:
        return
    free = shutil.disk_usage(folder).free
    if free < needed + FREE_SPACE_RESERVE:
        raise DownloadError(
            f"not enough free space in {folder}: need {needed:,} bytes, {free:,} are free"
        )


async def _stream_to_part(
    response: httpx.Response,
    part: Path,
    offset: int,
    total: int | None,
    on_progress: ProgressFn,
) -> int:
    written = offset
    mode = "r+b" if offset else "wb"
    with open(part, mode) as fh:
        fh.seek(offset)
        fh.truncate()
        try:
            # No chunk_size: a re-chunking buffer would hold back up to CHUNK bytes that a
            # broken connection then loses; pieces are written as they arrive.
            async for chunk in response.aiter_raw():
                fh.write(chunk)
                written += len(chunk)
                on_progress(written, total)
        except httpx.HTTPError as exc:
            fh.flush()
            raise NetworkError(
                f"download interrupted after {written:,} bytes: {type(exc).__name__}"
            ) from None
        except OSError as exc:
            raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
        fh.flush()
        os.fsync(fh.fileno())
    return written


@dataclass(frozen=True)
class _Checks:
    total: int | None
    etag: str | None
    content_md5: str | None  # only for a whole-body answer: it describes that body
    preferred: Path  # the name the server suggested; reused when it holds the same bytes


def _finish(result: Result, target: Path, written: int, checks: _Checks) -> Result:
    """Verify, then rename into place (in a worker thread: it hashes the whole file)."""
    part = part_path(target)
    total = checks.total
    if total is not None and written != total:
        raise DownloadError(
            f"incomplete download: got {written:,} of {total:,} bytes", transient=True
        )
    sha256, md5 = _hash_file(part)
    expected = _expected_md5(checks)
    if expected is not None and expected[0] != md5:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch: the file's MD5 {md5} differs from the server's {expected[1]} "
            f"({expected[0]})"
        )
    final = target
    if checks.preferred.exists() and _same_file(checks.preferred, written, sha256):
        part.unlink()  # identical bytes are already saved under the suggested name
        final = checks.preferred
    else:
        final = target if not target.exists() else unique_path(target)
        os.replace(part, final)
    _fsync_dir(final.parent)
    return replace(
        result,
        download_state=DownloadState.DONE,
        path=str(final),
        bytes=written,
        bytes_done=written,
        sha256=sha256,
        error=None,
    )


def _expected_md5(checks: _Checks) -> tuple[str, str] | None:
    """The MD5 the server vouches for (hex) and where it said so."""
    if checks.content_md5:
        try:
            return base64.b64decode(checks.content_md5, validate=True).hex(), "Content-MD5"
        except ValueError:
            pass
    plain = _PLAIN_MD5_ETAG.match(checks.etag or "")
    return (plain.group(1).lower(), "ETag") if plain else None


def _same_file(path: Path, size: int, sha256: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
    except OSError:
        return False
    return _hash_file(path)[0] == sha256


def _hash_file(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        if dt >= 0.25:
            instant = (done - self._last_bytes) / dt
            self.speed = instant if self.speed == 0 else 0.7 * self.speed + 0.3 * instant
            self._last_t, self._last_bytes = now, done
        return self.speed

    def eta(self, done: int, total: int | None) -> float | None:
        if total is None or self.speed <= 0:
            return None
        return max(0.0, (total - done) / self.speed)
