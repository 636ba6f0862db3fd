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


def two_files(first: DownloadState, second: DownloadState, *, held: bool = False) -> Any:
    job = succeeded(1, state=first)
    (result,) = job.results
    other = dataclasses.replace(result, url=result.url + "-2", key="second",
                                download_state=second, held=held)  # fmt: skip
    return job.replace(results=(result, other))


def test_the_files_tab_lists_each_file_and_its_state(qtbot: Any) -> None:
    pane = DetailPane(redact=lambda text: text)
    qtbot.addWidget(pane)
    pane.show_job(two_files(DownloadState.DOWNLOADING, DownloadState.PENDING, held=True), [])
    assert pane.tabText(1) == "Files"
    rows = [pane.files.topLevelItem(n) for n in range(pane.files.topLevelItemCount())]
    assert [(r.text(0), r.text(2)) for r in rows if r is not None] == [
        ("1", "downloading"), ("2", "cancelled (waits for Download now)"),
    ]  # fmt: skip
    pane.show_job(None, [])
    assert pane.files.topLevelItemCount() == 0


def test_a_files_menu_offers_what_fits_that_file_and_asks_for_it(qtbot: Any) -> None:
    pane = DetailPane(redact=lambda text: text)
    qtbot.addWidget(pane)
    asked: list[tuple[str, str, int]] = []
    pane.file_requested.connect(lambda *args: asked.append(args))
    pane.show_job(two_files(DownloadState.DOWNLOADING, DownloadState.PAUSED, held=True), [])

    def menu_of(index: int) -> dict[str, Any]:
        menu = pane.file_menu(index)
        assert menu is not None
        return {a.objectName(): a for a in menu.actions()}

    first, second = menu_of(0), menu_of(1)
    enabled = {name for name, action in first.items() if action.isEnabled()}
    assert enabled == {"file-pause", "file-cancel", "file-download", "file-download-to"}
    enabled = {name for name, action in second.items() if action.isEnabled()}
    assert enabled == {"file-resume", "file-cancel", "file-download", "file-download-to"}
    first["file-pause"].trigger()
    second["file-resume"].trigger()
    second["file-cancel"].trigger()
    assert asked == [("pause", "job0001", 0), ("resume", "job0001", 1), ("cancel", "job0001", 1)]
    assert pane.file_menu(2) is None
