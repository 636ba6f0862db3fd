"""The folder a job's files are saved in, opened so that nothing planted in it redirects a write.

The download folder itself is the user's choice (it may be a link to another disk). Below it,
the account and job folders are created and opened one by one without following symbolic links
(`O_DIRECTORY | O_NOFOLLOW`), and every step of a download that touches a name — the look-up
before resuming, the `.part`'s open (`O_NOFOLLOW`, `O_EXCL` when it is created), the check of the
final name, the move into place — is made relative to the job folder's descriptor. A link planted
at the account or job folder, at a `.part` or at a final name is refused with a clear message,
never followed, and swapping one in meanwhile changes nothing. The finished file gets its name
without replacing anything there: a hard link that fails if the name is taken, then the `.part`
unlinked (a plain rename after a no-follow look-up where the file system has no hard links).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobdock.core.download.filenames import inside, unique_name
from jobdock.core.model.errors import DiskFullError, DownloadError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a planted FIFO must not block the open
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# POSIX: every look-up relative to an open folder. Elsewhere (Windows): by path, each name
# checked with a no-follow `lstat` first.
_RELATIVE = bool(_DIRECTORY and _NOFOLLOW) and os.open in os.supports_dir_fd
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


def part_name(name: str) -> str:
    return name + ".part"


def writable_problem(folder: Path) -> str | None:
    """Why `folder` cannot be a download folder (not a folder, read-only), or None. A folder
    that does not exist yet is fine when its nearest existing parent is a writable folder."""
    probe = Path(os.path.abspath(os.path.expanduser(folder)))
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if _read_only_mount(probe):
        return f"{probe} is on a read-only file system"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _os_error(exc: OSError, what: str, where: Path) -> DownloadError:
    """The error for an `OSError` while `what` ("create the folder", ...) at `where`: a full
    disk or quota is a `DiskFullError` (a wait, retried later), anything else a failure."""
    if exc.errno in _FULL:
        return DiskFullError(
            f"not enough free space to {what} {where} (the disk or quota is full); waiting for"
            " room, then trying again"
        )
    return DownloadError(f"cannot {what} {where}: {exc.strerror or exc}")


@contextlib.contextmanager
def open_folder(folder: Path, *, root: Path | None = None) -> Iterator[JobFolder]:
    """`folder` (created if missing), open for the block. `root` is the part of it that is the
    user's own choice and may be a link; every folder below it must be a real one."""
    root = root if root is not None and folder.is_relative_to(root) else folder
    below = folder.relative_to(root).parts
    problem = writable_problem(root)
    if problem is not None:
        raise DownloadError(f"cannot save into the download folder {root}: {problem}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC) if _RELATIVE else None
    except OSError as exc:
        if exc.errno in _FULL:
            raise _os_error(exc, "create the folder", root) from None
        raise DownloadError(f"cannot save into {root}: {exc.strerror or exc}") from None
    where = root
    try:
        for name in below:
            where = where / name
            parent, fd = fd, _enter(fd, where, name)
            if parent is not None:
                os.close(parent)
        yield JobFolder(folder, fd)
    finally:
        if fd is not None:
            os.close(fd)


def _enter(fd: int | None, where: Path, name: str) -> int | None:
    """The subfolder `name` of the open folder `fd` (at `where`): created if missing, opened
    without following a link."""
    at, kw = (name, {"dir_fd": fd}) if fd is not None else (str(where), {})
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(at, **kw)
        info = os.stat(at, follow_symlinks=False, **kw)
        if stat.S_ISLNK(info.st_mode):
            raise DownloadError(
                f"refusing to save into {where}: it is a symbolic link (remove it and download"
                " again)"
            )
        if not stat.S_ISDIR(info.st_mode):
            raise DownloadError(f"cannot save into {where}: it is not a folder")
        if fd is None:
            return None
        return os.open(at, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, **kw)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link since the look-up
            raise DownloadError(f"refusing to save into {where}: it is not a real folder") from None
        if exc.errno in _FULL:
            raise _os_error(exc, "create the folder", where) from None
        raise DownloadError(f"cannot save into {where}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class JobFolder:
    """An open folder; names are single path components inside it."""

    path: Path
    fd: int | None  # None: no descriptor-relative calls on this system; by path, checked

    def _at(self, name: str) -> tuple[str, dict[str, int]]:
        inside(self.path, name)
        if self.fd is None:
            return str(self.path / name), {}
        return name, {"dir_fd": self.fd}

    def lookup(self, name: str) -> os.stat_result | None:
        """What is at `name`, not following a link; None when nothing is."""
        at, kw = self._at(name)
        try:
            return os.stat(at, follow_symlinks=False, **kw)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DownloadError(f"cannot look at {self.path / name}: {exc.strerror}") from None

    def file_size(self, name: str) -> int | None:
        """The size of the regular file at `name` (None: nothing there); refuses anything else."""
        info = self.lookup(name)
        if info is None:
            return None
        self._refuse(name, info)
        return info.st_size

    def refuse_link(self, name: str) -> None:
        info = self.lookup(name)
        if info is not None and stat.S_ISLNK(info.st_mode):
            self._refuse(name, info)

    def _refuse(self, name: str, info: os.stat_result) -> None:
        """Raise unless `info` is a plain file with one name (a hard link would write through
        to a file elsewhere just as a symbolic one)."""
        where = self.path / name
        if stat.S_ISLNK(info.st_mode):
            raise DownloadError(
                f"refusing to write {where}: it is a symbolic link (remove it and download again)"
            )
        if not stat.S_ISREG(info.st_mode):
            raise DownloadError(f"refusing to write {where}: it is not a regular file")
        if info.st_nlink > 1 and not self.half_renamed(name, info):
            raise DownloadError(f"refusing to write {where}: it has other names (a hard link)")

    def half_renamed(self, name: str, info: os.stat_result) -> bool:
        """Whether `name` is a `.part` whose one other name is its final name: a move into
        place (`put`) that is under way in another process, or was cut short by a kill."""
        if not name.endswith(".part") or info.st_nlink != 2:
            return False
        final = self.lookup(name.removesuffix(".part"))
        return final is not None and (final.st_dev, final.st_ino) == (info.st_dev, info.st_ino)

    def unique(self, name: str, *, own_part: str | None = None) -> str:
        """`name` or a numbered variant that neither a file nor a `.part` (other than
        `own_part`, the one being saved) uses yet."""

        def taken(candidate: str) -> bool:
            part = part_name(candidate)
            return self.lookup(candidate) is not None or (
                part != own_part and self.lookup(part) is not None
            )

        return unique_name(name, taken)

    def open_part(self, name: str) -> int:
        """A descriptor of the `.part` file `name`, open for reading and writing: the one there
        (a plain file, never through a link) or a new one (`O_EXCL`)."""
        at, kw = self._at(name)
        flags = os.O_RDWR | _NOFOLLOW | _CLOEXEC | _NONBLOCK
        for _ in range(3):
            self.file_size(name)  # a clear message for a link; O_NOFOLLOW is the guarantee
            try:
                try:
                    fd = os.open(at, flags, **kw)
                except FileNotFoundError:
                    fd = os.open(at, flags | os.O_CREAT | os.O_EXCL, 0o644, **kw)
            except FileExistsError:
                continue  # created by someone else just now: look again
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    self.file_size(name)
                raise _os_error(exc, "write", self.path / name) from None
            try:
                self._refuse(name, os.fstat(fd))
                if _NONBLOCK:
                    os.set_blocking(fd, True)
            except BaseException:
                os.close(fd)
                raise
            return fd
        raise DownloadError(f"{self.path / name} keeps changing", transient=True)

    def create(self, name: str) -> int:
        """A descriptor of a new, empty file `name`, open for writing: created here and only
        here (`O_EXCL`, no link followed). FileExistsError when anything has that name."""
        at, kw = self._at(name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        try:
            return os.open(at, flags, 0o644, **kw)
        except FileExistsError:
            raise
        except OSError as exc:
            raise _os_error(exc, "write", self.path / name) from None

    def names(self, name: str, fd: int) -> bool:
        """Whether `name` is (still) the open file `fd`, not renamed or replaced meanwhile."""
        info = self.lookup(name)
        mine = os.fstat(fd)
        return info is not None and (info.st_dev, info.st_ino) == (mine.st_dev, mine.st_ino)

    def open_read(self, name: str) -> int | None:
        """A read-only descriptor of the regular file at `name`, None for anything else."""
        at, kw = self._at(name)
        try:
            fd = os.open(at, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK, **kw)
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return fd

    def unlink(self, name: str) -> None:
        at, kw = self._at(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(at, **kw)

    def put(self, part: str, name: str) -> str:
        """Give the finished `.part` the name `name`, or a numbered variant when that is taken:
        nothing there is replaced and no link is moved into place. Returns the name it got."""
        before = self.lookup(part)
        if before is None:
            raise DownloadError(f"{self.path / part} disappeared before it was complete")
        self._refuse(part, before)
        for _ in range(100):
            final = self.unique(name, own_part=part)
            try:
                self._give_name(part, final)
            except FileExistsError:
                continue  # taken just now: the next free name
            except OSError as exc:
                raise _os_error(exc, "rename", self.path / part) from None
            after = self.lookup(final)
            if after is None or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
                # the .part was swapped (e.g. for a link) between the look-up and the rename:
                # take back the name just given
                if after is not None:
                    self.unlink(final)
                raise DownloadError(f"{self.path / part} was replaced while it was being saved")
            self.unlink(part)
            self.sync()
            return final
        raise DownloadError(f"no free name for {name} in {self.path}", transient=True)

    def take_part(self, source: JobFolder, part: str, name: str, fd: int) -> str:
        """Move `source`'s `.part` file `part` (open as `fd`, locked by the caller) into this
        folder as the `.part` of `name` or of a numbered variant that neither a file nor a
        `.part` here uses: nothing here is replaced and no `.part` is left behind there. A hard
        link then the unlink of the old name (a copy across file systems). Returns the name
        whose `.part` it now is."""
        before = os.fstat(fd)
        source._refuse(part, before)
        for _ in range(100):
            final = self.unique(name)
            here = part_name(final)
            try:
                self._link_from(source, part, here, fd)
            except FileExistsError:
                continue  # taken just now: the next free name
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFullError(
                        f"not enough free space in {self.path} for the partial file of {name}"
                    ) from None
                raise DownloadError(
                    f"cannot move {source.path / part} to {self.path}: {exc.strerror or exc}"
                ) from None
            source.unlink(part)
            source.sync()
            self.sync()
            return final
        raise DownloadError(f"no free name for {name} in {self.path}", transient=True)

    def _link_from(self, source: JobFolder, part: str, here: str, fd: int) -> None:
        """Give the open file `fd` (`source`'s `part`) the new name `here` in this folder
        (FileExistsError when taken): a hard link, or a copy where there can be none."""
        src, _ = source._at(part)
        dst, dst_kw = self._at(here)
        dirs = {"src_dir_fd": source.fd, "dst_dir_fd": self.fd} if self.fd is not None else {}
        try:
            os.link(src, dst, follow_symlinks=False, **dirs)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        else:
            if self.lookup(here) is None or not self.names(here, fd):
                raise DownloadError(f"{self.path / here} was replaced while it was being moved")
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        out = os.open(dst, flags, 0o644, **dst_kw)  # FileExistsError: taken
        try:
            with open(out, "wb", closefd=False) as copy:
                os.lseek(fd, 0, os.SEEK_SET)
                while block := os.read(fd, 1024 * 1024):
                    copy.write(block)
                copy.flush()
                os.fsync(out)
        except BaseException:
            os.close(out)
            self.unlink(here)  # half a copy is no use to anyone
            raise
        os.close(out)

    def _give_name(self, part: str, final: str) -> None:
        src, _ = self._at(part)
        dst, _ = self._at(final)
        if os.name == "nt":  # os.rename never replaces there
            os.rename(src, dst)
            return
        dirs = {"src_dir_fd": self.fd, "dst_dir_fd": self.fd} if self.fd is not None else {}
        try:
            os.link(src, dst, follow_symlinks=False, **dirs)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            # No hard links on this file system (FAT, some network shares): look, then rename.
            if self.lookup(final) is not None:
                raise FileExistsError(errno.EEXIST, "taken") from None
            os.rename(src, dst, **dirs)

    def sync(self) -> None:
        """Make the folder's entries (a rename) durable."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
            return
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
