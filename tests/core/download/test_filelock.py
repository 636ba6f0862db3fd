"""The lock of a `.part` (and of the demo's simulator) between processes: `flock` here (two real
processes), and the Windows branch's `msvcrt.locking` of one byte far past the end of the file,
against a fake `msvcrt` that keeps Windows' rules (a locked range is refused to every other
handle; locking starts at the file's current position)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.core.download import filelock
from jobdock.core.download.filelock import LOCK_OFFSET, WindowsLocks
from jobdock.core.download.partfile import claim
from jobdock.core.model.errors import DownloadError

HOLDER = textwrap.dedent(
    """
    import os, sys
    from jobdock.core.download import filelock
    fd = os.open(sys.argv[1], os.O_RDWR)
    assert filelock.try_lock(fd)
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    filelock.unlock(fd)
    print("unlocked", flush=True)
    sys.stdin.close()
    """
)


@pytest.fixture
def another_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the lock of `tmp_path / "file"` until its stdin is closed."""
    path = tmp_path / "file"
    path.write_bytes(b"the file's own bytes")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=30)
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()


def test_another_process_holding_the_lock_refuses_it_here_until_it_lets_go(
    tmp_path: Path, another_process: subprocess.Popen[str]
) -> None:
    fd = os.open(tmp_path / "file", os.O_RDWR)
    try:
        assert filelock.try_lock(fd) is False
        assert os.read(fd, 100) == b"the file's own bytes", "the lock keeps no one from reading"
        assert another_process.stdin is not None and another_process.stdout is not None
        another_process.stdin.close()
        assert another_process.stdout.readline() == "unlocked\n"
        assert filelock.try_lock(fd) is True
        filelock.unlock(fd)
    finally:
        os.close(fd)


def test_a_waiting_lock_is_taken_once_the_other_process_lets_go(
    tmp_path: Path, another_process: subprocess.Popen[str]
) -> None:
    fd = os.open(tmp_path / "file", os.O_RDWR)
    taken = threading.Event()

    def wait_for_it() -> None:
        filelock.lock(fd)
        taken.set()

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    try:
        waiter.start()
        assert not taken.wait(0.3), "taken while the other process holds it"
        assert another_process.stdin is not None
        another_process.stdin.close()
        waiter.join(timeout=30)
        assert taken.is_set()
    finally:
        waiter.join(timeout=30)
        os.close(fd)


# Where the fake locks: a seek here (ext4) goes no further than 16 TiB, one on Windows to any
# offset below 2**63 (`LOCK_OFFSET`).
FAKE_OFFSET = 1 << 40


def fake_locks(fake: FakeMsvcrt) -> WindowsLocks:
    return WindowsLocks(fake, offset=FAKE_OFFSET)


class FakeMsvcrt:
    """`msvcrt.locking` with Windows' rules, for every handle of this process: a range locked
    through one file descriptor is refused (EACCES) to any other on the same file until it is
    unlocked; the range starts at the descriptor's current position."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self) -> None:
        self.locked: dict[tuple[int, int, int], int] = {}  # (dev, ino, offset): fd
        self.calls: list[tuple[int, int, int]] = []  # (mode, offset, nbytes)

    def locking(self, fd: int, mode: int, nbytes: int, /) -> None:
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((mode, offset, nbytes))
        stat = os.fstat(fd)
        key = (stat.st_dev, stat.st_ino, offset)
        if mode == self.LK_NBLCK:
            if key in self.locked:
                raise OSError(errno.EACCES, "Permission denied")
            self.locked[key] = fd
        elif mode == self.LK_UNLCK:
            if self.locked.get(key) != fd:
                raise OSError(errno.EACCES, "Permission denied")
            del self.locked[key]
        else:
            raise OSError(errno.EINVAL, "Invalid argument")


class Broken(FakeMsvcrt):
    def locking(self, fd: int, mode: int, nbytes: int, /) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")


def test_on_windows_one_byte_past_any_end_is_locked_and_the_position_put_back(
    tmp_path: Path,
) -> None:
    fake = FakeMsvcrt()
    locks = fake_locks(fake)
    assert WindowsLocks(fake).offset == LOCK_OFFSET
    assert 2**60 < LOCK_OFFSET < 2**63, "past any file's end, a signed 64-bit offset"
    path = tmp_path / "file"
    path.write_bytes(b"0123456789")
    first, second = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
    try:
        os.lseek(first, 3, os.SEEK_SET)
        assert locks.try_lock(first) is True
        assert os.lseek(first, 0, os.SEEK_CUR) == 3, "the file's position is put back"
        assert fake.calls == [(fake.LK_NBLCK, FAKE_OFFSET, 1)]
        assert locks.try_lock(second) is False, "another handle is refused"
        assert os.lseek(second, 0, os.SEEK_CUR) == 0
        assert os.read(second, 4) == b"0123", "the file's own bytes are not locked"
        locks.unlock(first)
        assert fake.calls[-1] == (fake.LK_UNLCK, FAKE_OFFSET, 1)
        assert os.lseek(first, 0, os.SEEK_CUR) == 3
        assert locks.try_lock(second) is True
        locks.unlock(second)
        assert fake.locked == {}
    finally:
        os.close(first)
        os.close(second)


def test_on_windows_a_waiting_lock_tries_until_it_is_let_go_and_other_errors_are_raised(
    tmp_path: Path,
) -> None:
    fake = FakeMsvcrt()
    locks = fake_locks(fake)
    path = tmp_path / "file"
    path.write_bytes(b"")
    first, second = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
    taken = threading.Event()

    def wait_for_it() -> None:
        locks.lock(second)
        taken.set()

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    try:
        assert locks.try_lock(first)
        waiter.start()
        assert not taken.wait(0.3)
        locks.unlock(first)
        waiter.join(timeout=30)
        assert taken.is_set()
        locks.unlock(second)
        with pytest.raises(OSError) as caught:
            fake_locks(Broken()).try_lock(first)  # EINVAL is not "held by another": raised
        assert caught.value.errno == errno.EINVAL
    finally:
        os.close(first)
        os.close(second)


def test_on_windows_a_part_being_written_is_refused_to_a_second_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeMsvcrt()
    monkeypatch.setattr(filelock, "_LOCKS", fake_locks(fake))
    target = tmp_path / "report.csv"
    with claim(target) as fh:
        fh.write(b"first half,")
        with pytest.raises(DownloadError, match="another Jobdock process") as caught, claim(target):
            pass
        assert caught.value.transient
        assert fh.tell() == len(b"first half,")
    assert fake.locked == {}, "let go when the claim ends"
    with claim(target) as fh:
        assert fh.read() == b"first half,"


def test_the_demo_and_the_part_locks_import_where_there_is_no_fcntl() -> None:
    # Windows, as far as these two modules can tell: no fcntl, sys.platform "win32", an msvcrt.
    script = textwrap.dedent(
        """
        import sys, types
        # What the demo imports besides the lock: imported first, as this platform has them.
        import asyncio, contextlib, json, logging, os, threading
        import jobdock.simulator.simulator, jobdock.simulator.persist
        fake = types.ModuleType("msvcrt")
        fake.LK_UNLCK, fake.LK_NBLCK = 0, 2
        fake.locking = lambda fd, mode, nbytes: None
        sys.modules["msvcrt"], sys.modules["fcntl"] = fake, None
        for name in [m for m in sys.modules if m.startswith("jobdock.core.download")]:
            del sys.modules[name]
        sys.platform = "win32"
        from jobdock.core.download import filelock
        from jobdock.simulator import demo
        assert isinstance(filelock._LOCKS, filelock.WindowsLocks), filelock._LOCKS
        assert demo.filelock is filelock
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "ok\n", done.stderr
