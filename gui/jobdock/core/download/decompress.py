"""Results an API serves compressed and means to be read decompressed (SP-API's
`compressionAlgorithm: GZIP`, a profile's `decompress = true` for `.gz` links): once the raw
download is saved and verified (size, checksum: the bytes as served), it is decompressed next to
it, named without `.gz`, and the raw file is removed. A file that is not valid gzip fails the
result and keeps the raw file. Runs in a worker thread, a megabyte at a time.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from pathlib import Path

from jobdock.core.model.errors import DownloadError
from jobdock.core.model.job import Result

CHUNK = 1024 * 1024


def target_name(name: str) -> str:
    """`report.csv.gz` → `report.csv`; a name without `.gz` stays."""
    return name[: -len(".gz")] if name.lower().endswith(".gz") and len(name) > 3 else name


def decompressed(result: Result) -> Result:
    """`result` with its saved file replaced by the decompressed one (gzip)."""
    if result.decompress != "gzip" or not result.path:
        return result
    raw = Path(result.path)
    final = raw.with_name(target_name(raw.name))
    temp = final.with_name(f".{final.name}.inflating")
    try:
        with gzip.open(raw, "rb") as source, open(temp, "wb") as sink:
            while chunk := source.read(CHUNK):
                sink.write(chunk)
        os.replace(temp, final)
    except (OSError, EOFError, zlib.error) as exc:
        temp.unlink(missing_ok=True)
        raise DownloadError(
            f"{raw.name}: the API said it is gzip-compressed, but it cannot be decompressed "
            f"({type(exc).__name__}: {exc}); the file as served is kept"
        ) from None
    if final != raw:
        raw.unlink(missing_ok=True)
    return dataclasses.replace(result, path=str(final))
