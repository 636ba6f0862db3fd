"""A download's buffers, and its checksums computed beside it instead of in its way.

SHA-256 runs at about 0.7-1 GB/s and MD5 at about 0.35 GB/s on one core: done inline, hashing
alone took about 40 % of a fast download's time. `HashedBuffers` owns a few fixed buffers (so a
download allocates nothing per piece) and one thread per digest: the download thread takes a
free buffer, fills it from the socket, hands it on with `feed`, and writes it to the file while
the SHA-256 thread, then one thread for each further digest the server stated (MD5, CRC32C...,
see `integrity`), hash it; the last of them gives the buffer back. hashlib, zlib and crc32c
release the GIL for pieces this size, so the threads run in parallel, and when hashing is the
slower side the download waits for a free buffer instead of holding more memory: at most
`COUNT` x `SIZE` bytes in all. Digests are raw bytes (CRCs big-endian, as servers state them).
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Protocol

import crc32c

SIZE = 1024 * 1024
COUNT = 8
_END = None
# What can be computed here. CRC64NVME (S3's default checksum) has no maintained package that
# installs everywhere: a digest stated in it is not checked (the file is then size-checked only).
ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "crc32c", "crc32")


class Hasher(Protocol):
    def update(self, data: memoryview | bytes, /) -> None: ...
    def digest(self) -> bytes: ...


class _Crc32:
    """zlib's CRC-32 as a hasher; the digest big-endian, as S3 states it."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: memoryview | bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def new_hasher(name: str) -> Hasher:
    """A hasher for one of `ALGORITHMS`."""
    if name == "crc32":
        return _Crc32()
    if name == "crc32c":
        return crc32c.CRC32CHash()
    if name not in ALGORITHMS:
        raise ValueError(f"unsupported digest {name!r}")
    return hashlib.new(name, usedforsecurity=False)


def hash_file(path: Path, algorithms: Iterable[str] = ()) -> dict[str, bytes]:
    """SHA-256 and `algorithms` of the whole file at `path` (raw digests by name)."""
    hashers = {name: new_hasher(name) for name in ("sha256", *algorithms)}
    with open(path, "rb") as fh:
        while block := fh.read(SIZE):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.digest() for name, hasher in hashers.items()}


class _Stage:
    """One digest in its thread: hashes each buffer, then passes it to `then`."""

    def __init__(self, name: str, then: queue.SimpleQueue[tuple[bytearray, int] | None]) -> None:
        self.inbox: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._then = then
        self.name = name
        self._hash = new_hasher(name)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"jobdock-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self.inbox.get()) is not _END:
            buffer, count = item
            if self._error is None:
                try:
                    with memoryview(buffer) as view:
                        self._hash.update(view[:count])
                except BaseException as exc:  # reported by hexdigest(); the buffers go on
                    self._error = exc
            self._then.put(item)
        self._then.put(_END)

    def join(self) -> None:
        self._thread.join()

    def digest(self) -> bytes:
        if self._error is not None:
            raise self._error
        return self._hash.digest()


class HashedBuffers:
    """Buffers to fill, and the SHA-256 (and each of `algorithms`) of everything fed, in order.

    Use as a context manager: leaving it (also by an exception) ends the threads. A buffer is
    the caller's from `take()` until it is passed to `feed()` or `give_back()`.
    """

    def __init__(
        self, *, algorithms: Iterable[str] = (), count: int = COUNT, size: int = SIZE
    ) -> None:
        self._free: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put((bytearray(size), 0))
        names = ["sha256", *dict.fromkeys(a for a in algorithms if a != "sha256")]
        # Chained: SHA-256 first, each stage hands the buffer to the next, the last frees it.
        stages: list[_Stage] = []
        then = self._free
        for name in reversed(names):
            stages.insert(0, _Stage(name, then))
            then = stages[0].inbox
        self._stages = stages
        self._stopped = False

    def take(self) -> bytearray:
        """A free buffer; waits while every buffer is still being hashed."""
        item = self._free.get()
        assert item is not None, "take() after finish()"
        return item[0]

    def feed(self, buffer: bytearray, count: int) -> None:
        """Hash `buffer[:count]` next; the buffer comes back to `take()` once hashed."""
        self._stages[0].inbox.put((buffer, count))

    def give_back(self, buffer: bytearray) -> None:
        self._free.put((buffer, 0))

    def finish(self) -> dict[str, bytes]:
        """Wait until everything fed is hashed; the raw digests by algorithm name."""
        self._stop()
        return {stage.name: stage.digest() for stage in self._stages}

    def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stages[0].inbox.put(_END)  # passed down the chain
        for stage in self._stages:
            stage.join()

    def __enter__(self) -> HashedBuffers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop()
