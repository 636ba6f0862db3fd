"""A real, small tmpfs for disk-full tests: mounted on a test's folder, resized while in use,
unmounted afterwards; skipped with the reason where mounting is not permitted (it needs root or
CAP_SYS_ADMIN), failed instead under CI (`tools.skip_or_fail`: there a skipped disk-full test
would hide a broken setup). And `fill`, which takes every free byte of it as another program
would."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import skip_or_fail


@dataclass(frozen=True)
class TmpFs:
    path: Path

    def resize(self, size: str) -> None:
        """Grow (or shrink) it in place, e.g. `resize("16m")`: what is on it stays."""
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[TmpFs]:
    """A tmpfs of `size` (e.g. "2m") on the new folder `where`; skips the test (fails it under
    CI) when no tmpfs can be mounted here."""
    where.mkdir(mode=0o700)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        skip_or_fail("no `mount` command here: the disk-full tests need a real small tmpfs")
    if done.returncode != 0:
        reason = done.stderr.strip() or f"exit {done.returncode}"
        skip_or_fail(f"mounting a tmpfs is not permitted here ({reason}); needs root")
    try:
        yield TmpFs(where)
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=False)


def fill(disk: Path, name: str = "someone-else.bin") -> Path:
    """Take every free byte of `disk` with a file of its own; returns it (delete it to free
    the disk again)."""
    filler = disk / name
    with filler.open("wb", buffering=0) as out:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            try:
                while True:
                    out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler
