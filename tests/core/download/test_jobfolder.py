"""A full disk while a job folder, a `.part` or a file's final name is made is a wait (a
`DiskFullError`, retried once there is room), not a failure of the result."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from jobdock.core.download.jobfolder import open_folder
from jobdock.core.model.errors import DiskFullError, DownloadError


def full(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_no_room_for_a_new_job_folder_is_a_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(os, "mkdir", full)
    with pytest.raises(DiskFullError, match="not enough free space to create the folder"):
        with open_folder(tmp_path / "downloads" / "job-1", root=tmp_path / "downloads"):
            pass


def test_no_room_for_a_new_part_file_is_a_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with open_folder(tmp_path) as folder:
        real_open = os.open

        def open_but_not_create(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_CREAT:
                full()
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_but_not_create)
        with pytest.raises(DiskFullError, match=r"to write .*report\.csv\.part"):
            folder.open_part("report.csv.part")


def test_no_room_for_the_final_name_is_a_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "report.csv.part").write_bytes(b"all of it")
    with open_folder(tmp_path) as folder:
        monkeypatch.setattr(os, "link", full)
        monkeypatch.setattr(os, "rename", full)
        with pytest.raises(DiskFullError, match="to rename"):
            folder.put("report.csv.part", "report.csv")
    assert (tmp_path / "report.csv.part").read_bytes() == b"all of it"  # kept for the retry


def test_other_errors_still_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def denied(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(errno.EACCES, "Permission denied")

    with open_folder(tmp_path) as folder:
        monkeypatch.setattr(os, "link", denied)
        monkeypatch.setattr(os, "rename", denied)
        (tmp_path / "a.part").write_bytes(b"x")
        with pytest.raises(DownloadError, match="Permission denied") as caught:
            folder.put("a.part", "a")
        assert not isinstance(caught.value, DiskFullError)
