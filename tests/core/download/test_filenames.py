"""Server-supplied names (issue 11): bidirectional and C1 controls, Windows device names in all
their spellings, Content-Disposition read by the standard library's MIME parser, and the one rule
that numbers names to make them unique."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobdock.core.download.filenames import (
    MAX_NAME_BYTES,
    choose_filename,
    filename_from_disposition,
    filename_from_url,
    numbered,
    sanitize_filename,
    unique_name,
    unique_names,
)

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
C1 = "".join(map(chr, range(0x80, 0xA0)))
DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report\u202ecod.exe", "reportcod.exe"),  # shown as "reportexe.doc" otherwise
        ("\u2066a\u2069\u200f.csv\u061c", "a.csv"),
        ("a\x85b\x9f.csv", "ab.csv"),
        ("CON .txt", "_CON .txt"),
        ("con. .txt", "_con. .txt"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ("COM1", "_COM1"),
        ("com0.log", "_com0.log"),
        ("LPT¹", "_LPT¹"),
        ("lpt³.txt", "_lpt³.txt"),
        ("CONIN$", "_CONIN$"),
        ("AUX . ", "_AUX"),
        ("console.txt", "console.txt"),
        ("COM10", "COM10"),
        ("report.csv. . .", "report.csv"),
        ("\u202e", "result"),
    ],
)
def test_hostile_names(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_a_cut_name_ends_in_neither_a_space_nor_a_dot() -> None:
    name = sanitize_filename("a" * (MAX_NAME_BYTES - 1) + " b")
    assert name == "a" * (MAX_NAME_BYTES - 1)
    name = sanitize_filename("x" * 150 + "." * 40 + "y" * 100)
    assert not name.endswith((".", " ")) and len(name.encode()) <= MAX_NAME_BYTES


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; xfilename="evil.sh"; filename="good.csv"', "good.csv"),
        ('attachment; filename="good.csv"; xfilename="evil.sh"', "good.csv"),
        ('attachment; xfilename="evil.sh"', None),
        ("attachment; filename=\"x.csv\"; filename*=UTF-8''%C5%A1pi%C4%8Dka.csv", "špička.csv"),
        ("attachment; filename*=UTF-8''%C5%A1pi%C4%8Dka.csv; filename=\"x.csv\"", "špička.csv"),
        ("attachment; FileName*=iso-8859-1'en'%A3%20rates.txt", "£ rates.txt"),
        ("attachment; filename*=UTF-8'en'%E2%82%AC%20rates.txt", "€ rates.txt"),
        ("attachment; filename*=unknown-charset''a%C3%A9.csv", "aé.csv"),
        (r'attachment; filename="a \"quoted\" name.csv"', 'a "quoted" name.csv'),
        (r'attachment; filename="back\\slash.csv"', "back\\slash.csv"),
        ('attachment; filename="semi;colon.csv"', "semi;colon.csv"),
        ("attachment; filename = plain.csv ", "plain.csv"),
        ("inline", None),
        ("", None),
    ],
)
def test_content_disposition(header: str, expected: str | None) -> None:
    assert filename_from_disposition(header) == expected


def test_the_chosen_name_is_safe_whatever_the_header_says() -> None:
    header = "attachment; filename*=UTF-8''..%2F%E2%80%AEgnp.exe; xfilename=\"x\""
    assert choose_filename(disposition=header, hint=None, url="https://s/f") == "gnp.exe"
    assert choose_filename(disposition='attachment; xfilename="evil.sh"', hint="h.csv",
                           url="https://s/f") == "h.csv"  # fmt: skip


def test_one_name_from_a_url() -> None:
    assert filename_from_url("https://x.test/a/b%20c.csv?sig=1") == "b c.csv"
    assert filename_from_url("https://x.test/a/%E2%80%AEvil.csv/") == "vil.csv"
    assert filename_from_url("https://x.test/NUL.json") == "_NUL.json"
    assert filename_from_url("https://x.test/", default="result.json") == "result.json"
    assert filename_from_url("https://x.test/items/5", suffix=".xml") == "5.xml"


def test_one_way_to_number_names() -> None:
    assert numbered("a.csv", 2) == "a (2).csv"
    assert numbered("archive.tar.gz", 3) == "archive.tar (3).gz"
    assert numbered("b", 2) == "b (2)"
    long = numbered("é" * 150 + ".parquet", 12)
    assert long.endswith(" (12).parquet") and len(long.encode()) <= MAX_NAME_BYTES
    assert unique_names(["a.csv", "a.csv", "b", "a (2).csv"]) == [
        "a.csv",
        "a (2).csv",
        "b",
        "a (2) (2).csv",
    ]
    taken = {"r.json", "r (2).json"}
    assert unique_name("r.json", taken.__contains__) == "r (3).json"


@given(st.text(max_size=400))
def test_any_name_becomes_one_safe_component(raw: str) -> None:
    name = sanitize_filename(raw)
    assert name and len(name.encode()) <= MAX_NAME_BYTES
    assert name not in (".", "..") and not name.startswith(".")
    assert not name.endswith((".", " ")) and name == name.strip()
    assert not any(c in name for c in '/\\<>:"|?*')
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in BIDI for c in name)
    assert name.partition(".")[0].rstrip(" .").upper() not in DEVICES
    assert unicodedata.is_normalized("NFC", name)
    assert sanitize_filename(name) == name  # sanitising twice changes nothing


@given(st.lists(st.sampled_from(["a.csv", "a (2).csv", "b", "b (2)", "c.tar.gz"]), max_size=12))
def test_unique_names_are_unique_and_keep_the_first(names: list[str]) -> None:
    out = unique_names(names)
    assert len(set(out)) == len(out) == len(names)
    assert out[:1] == names[:1]


def test_names_from_urls_and_numbered_duplicates():
    assert filename_from_url("https://x.test/a/b%20c.csv?sig=1", default="d") == "b c.csv"
    assert filename_from_url("https://x.test/", default="d") == "d"
    assert filename_from_url("https://x.test/items/5", default="d", suffix=".xml") == "5.xml"
    assert unique_names(["a.csv", "a.csv", "b", "b", "a.csv"]) == [
        "a.csv",
        "a (2).csv",
        "b",
        "b (2)",
        "a (3).csv",
    ]
