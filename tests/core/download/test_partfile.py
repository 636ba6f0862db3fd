"""Moving a `.part` into another folder (a download begun in one folder and asked into
another): a free name there, nothing replaced, nothing left behind, across file systems too,
and never while another process writes it. Real files."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jobdock.core.download import jobfolder
from jobdock.core.download.jobfolder import open_folder
from jobdock.core.download.partfile import claim, move_part
from jobdock.core.model.errors import DownloadError


def begun(folder: Path, name: str = "report.csv", body: bytes = b"first half,") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.part").write_bytes(body)
    return folder / name


def test_the_part_moves_under_a_name_nothing_there_uses(tmp_path: Path) -> None:
    previous = begun(tmp_path / "dl" / "acc" / "job1")
    other = tmp_path / "other"
    other.mkdir()
    (other / "report.csv").write_bytes(b"the user's own")
    (other / "report (2).csv.part").write_bytes(b"another download's")
    with open_folder(other) as place:
        moved = move_part(previous, place, root=tmp_path / "dl")
    assert moved == other / "report (3).csv"
    assert (other / "report (3).csv.part").read_bytes() == b"first half,"
    assert (other / "report.csv").read_bytes() == b"the user's own"
    assert (other / "report (2).csv.part").read_bytes() == b"another download's"
    assert not any(previous.parent.iterdir())  # no .part left behind


def test_across_file_systems_the_part_is_copied_then_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = begun(tmp_path / "a", body=b"x" * (3 * 1024 * 1024 + 5))

    def no_link(*_args: object, **_kw: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(jobfolder.os, "link", no_link)
    with open_folder(tmp_path / "b") as place:
        moved = move_part(previous, place)
    assert moved == tmp_path / "b" / "report.csv"
    assert (tmp_path / "b" / "report.csv.part").read_bytes() == b"x" * (3 * 1024 * 1024 + 5)
    assert not (tmp_path / "a" / "report.csv.part").exists()


def test_a_failed_copy_leaves_the_part_where_it_was_and_nothing_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = begun(tmp_path / "a")
    real_open = os.open

    def no_link(*_args: object, **_kw: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def full(path: str, flags: int, *args: object, **kw: object) -> int:
        if str(path).endswith(".part") and flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jobfolder.os, "link", no_link)
    monkeypatch.setattr(jobfolder.os, "open", full)
    with open_folder(tmp_path / "b") as place, pytest.raises(DownloadError, match="free space"):
        move_part(previous, place)
    assert (tmp_path / "a" / "report.csv.part").read_bytes() == b"first half,"
    assert list((tmp_path / "b").iterdir()) == []


def test_a_part_another_process_writes_is_not_moved(tmp_path: Path) -> None:
    previous = begun(tmp_path / "a")
    with claim(previous), open_folder(tmp_path / "b") as place:
        with pytest.raises(DownloadError, match="another Jobdock process") as caught:
            move_part(previous, place)
        assert caught.value.transient
    assert (tmp_path / "a" / "report.csv.part").exists()
    assert list((tmp_path / "b").iterdir()) == []


def test_no_part_nothing_moved_and_no_folder_made(tmp_path: Path) -> None:
    gone = tmp_path / "gone" / "report.csv"
    with open_folder(tmp_path / "b") as place:
        assert move_part(gone, place) is None
        assert move_part(begun(tmp_path / "a").with_name("other.csv"), place) is None
    assert not (tmp_path / "gone").exists()


def test_a_planted_link_as_the_part_is_refused_never_moved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not Jobdock's")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "report.csv.part").symlink_to(secret)
    with open_folder(tmp_path / "b") as place, pytest.raises(DownloadError, match="symbolic"):
        move_part(tmp_path / "a" / "report.csv", place)
    assert list((tmp_path / "b").iterdir()) == []
    assert secret.read_text() == "not Jobdock's"
