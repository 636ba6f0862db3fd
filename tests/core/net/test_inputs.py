"""inputs.py: quoting input in messages, URL checks, JSON nesting bounds."""

from __future__ import annotations

import pytest

from jobdock.core.net.inputs import (
    MAX_NESTING,
    NestingError,
    load_json,
    positive_seconds,
    quoted,
    url_problem,
)


def test_quoted_cuts_long_input_and_says_how_long_it_was() -> None:
    assert quoted("abc") == "'abc'"
    long = quoted("x" * 100_000)
    assert len(long) < 120 and long.startswith("'xxx") and "100,000 characters" in long


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.example/v2", None),
        ("http://[::1]:8080/x", None),
        ("http://h:99999", "bad port"),
        ("http://h:abc", "bad port"),
        ("http://[::1", "IPv6"),
        ("data:text/plain,hello", "data: URL"),
        ("file:///etc/passwd", "file: URL"),
        ("/relative", "not an absolute URL"),
        ("https://", "without a host"),
        ("http://h/x\r\nHost: evil", "control characters"),
    ],
)
def test_url_problem(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert found == problem if problem is None else (found is not None and problem in found)


def test_load_json_bounds_nesting() -> None:
    assert load_json("[" * MAX_NESTING + "]" * MAX_NESTING) is not None
    for deep in ("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), "[" * 100_000):
        with pytest.raises(NestingError):
            load_json(deep)
    with pytest.raises(ValueError):
        load_json("{")


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "inf", "-inf", "soon"])
def test_positive_seconds_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match="--timeout"):
        positive_seconds(raw, what="--timeout")
    assert positive_seconds("2.5", what="--timeout") == 2.5
