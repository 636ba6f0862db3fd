"""Saving a gzip result decompressed (`decompress.decompressed`): the same rules as a download
— nothing written outside the folder through a link planted at the temporary or the final
name, nothing existing replaced (the decompressed file gets a numbered name). Real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from jobdock.core.download.decompress import decompressed
from jobdock.core.model.errors import DownloadError
from jobdock.core.model.job import Result

ROWS = b"id,name\n" + b"1,alpha\n" * 100


def saved(folder: Path, name: str = "report.csv.gz", body: bytes = ROWS) -> Result:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(gzip.compress(body))
    return Result(url="https://s.test/r", decompress="gzip", path=str(folder / name))


def test_the_raw_file_is_replaced_by_the_decompressed_one(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "acc" / "job1"
    done = decompressed(saved(folder), root=tmp_path / "dl")
    assert done.path == str(folder / "report.csv")
    assert sorted(p.name for p in folder.iterdir()) == ["report.csv"]
    assert (folder / "report.csv").read_bytes() == ROWS


def test_a_name_without_gz_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "job1"
    done = decompressed(saved(folder, "report.tsv"))
    assert done.path == str(folder / "report.tsv")
    assert sorted(p.name for p in folder.iterdir()) == ["report.tsv"]
    assert (folder / "report.tsv").read_bytes() == ROWS


def test_links_planted_at_the_temporary_and_final_names_are_not_followed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "dl" / "acc" / "job1"
    result = saved(folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.csv"
    victim.write_bytes(b"the user's own, elsewhere")
    (folder / ".report.csv.inflating").symlink_to(outside / "planted-temp")
    (folder / "report.csv").symlink_to(victim)
    done = decompressed(result, root=tmp_path / "dl")
    assert done.path == str(folder / "report (2).csv")
    assert (folder / "report (2).csv").read_bytes() == ROWS
    assert not (folder / "report (2).csv").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["victim.csv"]  # nothing written there
    assert victim.read_bytes() == b"the user's own, elsewhere"
    assert (folder / "report.csv").readlink() == victim  # the links themselves untouched
    assert (folder / ".report.csv.inflating").readlink() == outside / "planted-temp"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".report.csv.inflating", "report (2).csv", "report.csv"
    ]  # fmt: skip


def test_an_existing_file_at_the_final_name_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "job1"
    result = saved(folder)
    (folder / "report.csv").write_bytes(b"the user's own")
    done = decompressed(result)
    assert done.path == str(folder / "report (2).csv")
    assert (folder / "report.csv").read_bytes() == b"the user's own"
    assert (folder / "report (2).csv").read_bytes() == ROWS
    assert sorted(p.name for p in folder.iterdir()) == ["report (2).csv", "report.csv"]


def test_a_raw_file_swapped_for_a_link_is_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "job1"
    result = saved(folder)
    secret = tmp_path / "secret.gz"
    secret.write_bytes(gzip.compress(b"not for this folder"))
    (folder / "report.csv.gz").unlink()
    (folder / "report.csv.gz").symlink_to(secret)
    with pytest.raises(DownloadError):
        decompressed(result)
    assert sorted(p.name for p in folder.iterdir()) == ["report.csv.gz"]


def test_a_file_that_is_not_gzip_fails_and_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "job1"
    folder.mkdir()
    (folder / "bad.csv.gz").write_bytes(b"not gzip at all")
    result = Result(url="https://s.test/r", decompress="gzip", path=str(folder / "bad.csv.gz"))
    with pytest.raises(DownloadError, match="cannot be decompressed"):
        decompressed(result)
    assert sorted(p.name for p in folder.iterdir()) == ["bad.csv.gz"]
