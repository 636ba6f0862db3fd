"""An exclusive lock on an open file between processes, on every platform: `flock` on POSIX,
`msvcrt.locking` on Windows (which has no `flock`).

Windows locks are mandatory: a locked range cannot be read or written through any other handle.
So the lock covers one byte at `LOCK_OFFSET`, far beyond the end of any file (locking past the
end is allowed), and the file's own bytes stay readable and writable by everyone; `msvcrt`
locks from the file's current position, which is put back afterwards. Every process that locks
the file locks that same byte, so they exclude each other as `flock` does.

The lock belongs to the open file: `unlock` it before closing the file (on POSIX closing is
enough; Windows frees a closed file's locks only "when resources allow").
"""

from __future__ import annotations

import errno
import os
import sys
import time
from typing import Protocol

LOCK_OFFSET = 1 << 62  # beyond any file's end (4 EiB); Windows seeks to any offset below 2**63
WAIT_STEP = 0.05  # seconds between tries of a waiting lock on Windows


class LockOps(Protocol):
    def try_lock(self, fd: int) -> bool: ...

    def lock(self, fd: int) -> None: ...

    def unlock(self, fd: int) -> None: ...


class Msvcrt(Protocol):
    """What of the `msvcrt` module the Windows locks use."""

    LK_NBLCK: int
    LK_UNLCK: int

    def locking(self, fd: int, mode: int, nbytes: int, /) -> None: ...


class WindowsLocks:
    """`msvcrt.locking` of the one byte at `offset` (`msvcrt`: the module, or a fake)."""

    def __init__(self, msvcrt: Msvcrt, *, offset: int = LOCK_OFFSET) -> None:
        self._msvcrt = msvcrt
        self.offset = offset

    def _at_lock_byte(self, fd: int, mode: int) -> None:
        position = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, self.offset, os.SEEK_SET)
        try:
            self._msvcrt.locking(fd, mode, 1)
        finally:
            os.lseek(fd, position, os.SEEK_SET)

    def try_lock(self, fd: int) -> bool:
        try:
            self._at_lock_byte(fd, self._msvcrt.LK_NBLCK)
        except OSError as exc:
            # A locking violation: EACCES (LK_NBLCK), EDEADLOCK (which is EDEADLK there).
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def lock(self, fd: int) -> None:
        # LK_LOCK gives up after ten tries a second apart: wait here instead, for as long as
        # flock(LOCK_EX) would.
        while not self.try_lock(fd):
            time.sleep(WAIT_STEP)

    def unlock(self, fd: int) -> None:
        self._at_lock_byte(fd, self._msvcrt.LK_UNLCK)


if sys.platform == "win32":
    import msvcrt

    _LOCKS: LockOps = WindowsLocks(msvcrt)
else:
    import fcntl

    class PosixLocks:
        """`flock` of the whole file."""

        def try_lock(self, fd: int) -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        def lock(self, fd: int) -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)

        def unlock(self, fd: int) -> None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    _LOCKS = PosixLocks()


def try_lock(fd: int) -> bool:
    """Lock the open file `fd` for this process without waiting; False when another holds it."""
    return _LOCKS.try_lock(fd)


def lock(fd: int) -> None:
    """Lock the open file `fd` for this process, waiting while another holds it."""
    _LOCKS.lock(fd)


def unlock(fd: int) -> None:
    """Let the lock on `fd` go (before the file is closed)."""
    _LOCKS.unlock(fd)
