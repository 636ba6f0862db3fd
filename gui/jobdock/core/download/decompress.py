"""Results an API serves compressed and means to be read decompressed (SP-API's
`compressionAlgorithm: GZIP`, a profile's `decompress = true` for `.gz` links): once the raw
download is saved and verified (size, checksum: the bytes as served), it is decompressed next to
it, named without `.gz`, and the raw file is removed. A file that is not valid gzip fails the
result and keeps the raw file. Runs in a worker thread, a megabyte at a time.

Like the download itself (see jobfolder), every name is used relative to the job folder, opened
without following links: the raw file is read without following a link, the decompressed bytes
go to a new temporary file (`O_EXCL`, another name when one is taken, link or not) and it gets
its name without replacing anything: a name that is taken gets a numbered variant.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from pathlib import Path

from jobdock.core.download.filenames import unique_name
from jobdock.core.download.jobfolder import JobFolder, open_folder
from jobdock.core.model.errors import DownloadError
from jobdock.core.model.job import Result

CHUNK = 1024 * 1024


def target_name(name: str) -> str:
    """`report.csv.gz` → `report.csv`; a name without `.gz` stays."""
    return name[: -len(".gz")] if name.lower().endswith(".gz") and len(name) > 3 else name


def decompressed(result: Result, *, root: Path | None = None) -> Result:
    """`result` with its saved file replaced by the decompressed one (gzip). `root`: the
    download folder the file's folder is in (below it, no folder may be a link)."""
    if result.decompress != "gzip" or not result.path:
        return result
    raw = Path(result.path)
    with open_folder(raw.parent, root=root) as place:
        name = _inflate(place, raw.name)
    return dataclasses.replace(result, path=str(place.path / name))


def _inflate(place: JobFolder, raw: str) -> str:
    """Decompress the file `raw` in `place`; returns the name the decompressed file got."""
    wanted = target_name(raw)
    source = place.open_read(raw)
    if source is None:
        raise DownloadError(f"{place.path / raw}: the saved file is gone or not a regular file")
    temp, sink = _new_temp(place, f".{wanted}.inflating")
    try:
        with (
            os.fdopen(source, "rb") as served,
            gzip.GzipFile(fileobj=served, mode="rb") as unpacked,
            os.fdopen(sink, "wb") as out,
        ):
            while chunk := unpacked.read(CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except (OSError, EOFError, zlib.error) as exc:
        place.unlink(temp)
        raise DownloadError(
            f"{raw}: the API said it is gzip-compressed, but it cannot be decompressed "
            f"({type(exc).__name__}: {exc}); the file as served is kept"
        ) from None
    except BaseException:
        place.unlink(temp)
        raise
    if wanted == raw:  # no `.gz` to drop: the decompressed file takes the raw one's place
        place.unlink(raw)
    try:
        final = place.put(temp, wanted)  # never replaces a file, never moves a link in
    except BaseException:
        place.unlink(temp)
        raise
    if wanted != raw:
        place.unlink(raw)
    return final


def _new_temp(place: JobFolder, name: str) -> tuple[str, int]:
    """A new file named `name` or a numbered variant of it, open for writing."""
    for _ in range(100):
        candidate = unique_name(name, lambda n: place.lookup(n) is not None)
        try:
            return candidate, place.create(candidate)
        except FileExistsError:
            continue  # taken just now: the next free name
    raise DownloadError(f"no free name for {name} in {place.path}", transient=True)
