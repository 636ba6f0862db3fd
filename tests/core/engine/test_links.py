"""Result links matched across refreshes by identity (path and non-signature query), never by
position: reordered, re-signed, same-path-different-query and unknown-signature links."""

from __future__ import annotations

from jobdock.core.engine.links import link_key, pair_links
from jobdock.core.engine.rules import merge_results
from jobdock.core.model.job import DownloadState, Result
from jobdock.core.providers.base import ResultLink


def s3(path: str, signature: str, extra: str = "") -> str:
    return (
        f"https://bucket.s3.amazonaws.com/{path}?{extra}X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Date=20261123T100000Z&X-Amz-Expires=3600&X-Amz-Signature={signature}"
    )


def fresh(*urls: str) -> tuple[ResultLink, ...]:
    return tuple(ResultLink(url=u) for u in urls)


def test_link_key_drops_only_signature_parameters() -> None:
    assert (
        link_key(s3("a.csv", "1"))
        == link_key(s3("a.csv", "2"))
        == ("https://bucket.s3.amazonaws.com/a.csv")
    )
    assert link_key(s3("a.csv", "1", "part=1&")) != link_key(s3("a.csv", "1", "part=2&"))
    sas = "https://acct.blob.core.windows.net/c/a.csv?sv=2022-11-02&se=2026-11-23&sp=r&sig=x"
    assert link_key(sas) == "https://acct.blob.core.windows.net/c/a.csv"
    # without `sig` the short names are ordinary parameters
    assert link_key("https://h/a?sp=2") == "https://h/a?sp=2"
    assert link_key("HTTPS://H:443/a?Signature=s&Expires=9&x=1") == "https://h/a?x=1"


def test_reordered_refresh_keeps_each_results_state() -> None:
    old = (
        Result(url=s3("a.csv", "1"), download_state=DownloadState.DONE, path="/dl/a.csv"),
        Result(url=s3("b.csv", "1"), download_state=DownloadState.DOWNLOADING, bytes_done=5),
        Result(url=s3("c.csv", "1")),
    )
    merged = merge_results(old, fresh(s3("c.csv", "2"), s3("a.csv", "2"), s3("b.csv", "2")))
    by_path = {r.url.split("?")[0].rsplit("/", 1)[-1]: r for r in merged}
    assert len(merged) == 3
    assert by_path["a.csv"].download_state == DownloadState.DONE
    assert by_path["a.csv"].path == "/dl/a.csv" and by_path["a.csv"].url == s3("a.csv", "2")
    assert by_path["b.csv"].bytes_done == 5
    assert (
        by_path["c.csv"].download_state == DownloadState.PENDING and by_path["c.csv"].path is None
    )
    # keys stay as first given, so a result is found again after any number of refreshes
    again = merge_results(merged, fresh(s3("b.csv", "3"), s3("c.csv", "3"), s3("a.csv", "3")))
    assert {r.key: r.download_state for r in again} == {r.key: r.download_state for r in merged}


def test_same_path_different_query_are_different_results() -> None:
    old = (
        Result(url=s3("export", "1", "part=1&"), download_state=DownloadState.DONE, path="/p1"),
        Result(url=s3("export", "1", "part=2&")),
    )
    merged = merge_results(old, fresh(s3("export", "2", "part=2&"), s3("export", "2", "part=1&")))
    done = [r for r in merged if r.download_state == DownloadState.DONE]
    assert len(merged) == 2 and len(done) == 1
    assert "part=1" in done[0].url and done[0].path == "/p1"
    assert len({r.key for r in merged}) == 2


def test_unknown_signature_parameters_match_by_path_and_closest_query() -> None:
    old = (
        Result(url="https://h/x?part=1&token=a", download_state=DownloadState.DONE, path="/1"),
        Result(url="https://h/x?part=2&token=a"),
        Result(url="https://h/y?token=a", download_state=DownloadState.DONE, path="/y"),
    )
    new = ("https://h/y?token=b", "https://h/x?part=2&token=b", "https://h/x?part=1&token=b")
    assert pair_links([(r.key or link_key(r.url), r.url) for r in old], new) == [2, 1, 0]
    merged = merge_results(old, fresh(*new))  # known results keep their places
    assert [(r.url, r.path) for r in merged] == [(new[2], "/1"), (new[1], None), (new[0], "/y")]


def test_a_saved_result_is_never_handed_to_another_file() -> None:
    old = (
        Result(url=s3("a.csv", "1"), download_state=DownloadState.DONE, path="/a"),
        Result(url=s3("b.csv", "1")),
    )
    merged = merge_results(old, fresh(s3("c.csv", "2"), s3("d.csv", "2")))
    # the saved one stays listed; the unsaved one the API dropped goes; two new files: pending
    assert [(r.url, r.download_state) for r in merged] == [
        (s3("a.csv", "1"), DownloadState.DONE),
        (s3("c.csv", "2"), DownloadState.PENDING),
        (s3("d.csv", "2"), DownloadState.PENDING),
    ]
    assert all(r.path is None for r in merged[1:])


def test_one_link_before_and_after_is_the_same_result() -> None:
    old = (Result(url="https://h/dl/abc", download_state=DownloadState.DOWNLOADING, bytes_done=9),)
    (merged,) = merge_results(old, fresh("https://h/dl/def"))
    assert merged.bytes_done == 9 and merged.url == "https://h/dl/def"
    # but a saved single result is not: the new link is a new result
    saved = (Result(url="https://h/dl/abc", download_state=DownloadState.DONE, path="/r"),)
    merged_saved = merge_results(saved, fresh("https://h/dl/def"))
    assert [r.download_state for r in merged_saved] == [DownloadState.DONE, DownloadState.PENDING]


def test_two_links_to_the_same_object_stay_two_results() -> None:
    merged = merge_results((), fresh(s3("a.csv", "1"), s3("a.csv", "2")))
    assert len({r.key for r in merged}) == 2
    again = merge_results(merged, fresh(s3("a.csv", "3"), s3("a.csv", "4")))
    assert [r.key for r in again] == [r.key for r in merged]


def test_results_stored_before_keys_existed_get_distinct_keys() -> None:
    old = (Result(url=s3("a.csv", "1")), Result(url=s3("a.csv", "1")))  # no keys yet
    merged = merge_results(old, fresh(s3("a.csv", "2"), s3("a.csv", "3")))
    assert len(merged) == 2 and len({r.key for r in merged}) == 2
