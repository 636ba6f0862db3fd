"""The detail pane on its own: how each saved file was verified is shown with its result."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from jobdock.core.model.job import DownloadState, Verified
from jobdock.qt.detail import DetailPane
from tests.qt.conftest import succeeded


@pytest.mark.parametrize(
    ("verified", "shown"),
    [
        (Verified.SHA256, "verified: SHA-256 matches the digest the server stated"),
        (Verified.CRC32C, "verified: CRC32C matches the digest the server stated"),
        (Verified.SIZE, "verified: length only"),
        (Verified.UNVERIFIED, "unverified:"),
    ],
)
def test_the_detail_pane_says_how_a_saved_file_was_verified(
    qtbot: Any, verified: Verified, shown: str
) -> None:
    pane = DetailPane(redact=lambda text: text)
    qtbot.addWidget(pane)
    job = succeeded(1, state=DownloadState.DONE, path="/dl/r1.csv")
    (result,) = job.results
    saved = dataclasses.replace(result, sha256="ab" * 32, verified=verified)
    pane.show_job(job.replace(results=(saved,)), [])
    text = pane.fields.text()
    assert f"sha256 {'ab' * 32}" in text
    assert shown in text


def test_nothing_is_said_of_a_file_not_saved(qtbot: Any) -> None:
    pane = DetailPane(redact=lambda text: text)
    qtbot.addWidget(pane)
    job = succeeded(1)
    (result,) = job.results
    failed = dataclasses.replace(result, download_state=DownloadState.FAILED, verified=None)
    pane.show_job(job.replace(results=(failed,)), [])
    assert "verified" not in pane.fields.text()
