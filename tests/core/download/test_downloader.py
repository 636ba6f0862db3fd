"""The downloader's worker-thread path with a scripted sync transport: credentials routing across
redirects (as `ApiSession`), resume, progress throttling."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jobdock.core.download import downloader, filelock, jobfolder, partfile
from jobdock.core.model.errors import ChecksumError, DownloadError, LinkExpiredError
from jobdock.core.model.job import Account, DownloadState, Result, Verified
from jobdock.core.net.http import (
    ERROR_BODY_LIMIT,
    ApiSession,
    make_api_client,
    make_bare_client,
)

API = "https://api.example"
BODY = bytes(range(256)) * 8192  # 2 MiB


def _session() -> ApiSession:
    account = Account(name="a", provider="generic-202", base_url=API)
    return ApiSession(
        account=account,
        api=make_api_client(headers={"API-Key": "secret-1"}),
        bare=make_bare_client(),
    )


class _Pieces(httpx.SyncByteStream):
    """A body as a real stream (a `content=` response counts as already read)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._body), 256 * 1024):
            yield self._body[start : start + 256 * 1024]


def _serve(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example":
            return httpx.Response(302, headers={"Location": "https://cdn.example/f.bin"})
        start = int(request.headers.get("range", "bytes=0-")[6:-1])
        headers = {"ETag": f'"{hashlib.md5(BODY).hexdigest()}"'}
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"
        headers["Content-Length"] = str(len(BODY) - start)
        return httpx.Response(status, headers=headers, stream=_Pieces(BODY[start:]))

    return httpx.MockTransport(handle)


def _download(result: Result, folder: Path, transport: httpx.BaseTransport) -> tuple[Result, int]:
    reports: list[int] = []

    async def main() -> Result:
        session = _session()
        try:
            return await downloader.download(
                session,
                result,
                folder=folder,
                on_started=lambda _s: None,
                on_progress=lambda done, _total: reports.append(done),
                sync_transport=transport,
            )
        finally:
            await session.api.aclose()
            await session.bare.aclose()

    return asyncio.run(main()), len(reports)


def test_credentials_only_to_the_account_origin_across_redirects(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    done, reports = _download(Result(url=f"{API}/results/1"), tmp_path, _serve(seen))
    assert done.download_state == DownloadState.DONE
    assert Path(done.path or "").read_bytes() == BODY
    assert done.sha256 == hashlib.sha256(BODY).hexdigest()
    assert [r.url.host for r in seen] == ["api.example", "cdn.example"]
    assert seen[0].headers["api-key"] == "secret-1"
    assert "api-key" not in seen[1].headers
    assert 1 <= reports <= 2  # throttled: the first piece and the last


def test_query_credentials_and_cookies_ride_the_worker_path_to_the_origin_only(
    tmp_path: Path,
) -> None:
    """A profile with `query` auth keeps its credential in the session's `auth_params`; the blocking
    client that downloads a `needs_auth` result must carry it (and the session's cookies), and
    the hop to another origin must carry neither."""
    seen: list[httpx.Request] = []

    async def main() -> Result:
        account = Account(name="a", provider="mini", base_url=API)
        api = make_api_client(headers={})
        api.cookies.set("affinity", "n1", domain="api.example")
        session = ApiSession(
            account=account,
            api=api,
            bare=make_bare_client(),
            auth_params=(("api_key", "secret-2"),),
        )
        try:
            return await downloader.download(
                session,
                Result(url=f"{API}/results/1", needs_auth=True),
                folder=tmp_path,
                on_started=lambda _s: None,
                on_progress=lambda _d, _t: None,
                sync_transport=_serve(seen),
            )
        finally:
            await session.api.aclose()
            await session.bare.aclose()

    done = asyncio.run(main())
    assert Path(done.path or "").read_bytes() == BODY
    assert seen[0].url.params["api_key"] == "secret-2"
    assert seen[0].headers["cookie"] == "affinity=n1"
    assert "api_key" not in seen[1].url.params and "cookie" not in seen[1].headers


def test_a_cancelled_download_waits_for_its_thread_however_often_it_is_cancelled() -> None:
    """The thread writing a .part must end before the task does: the task's `with` block then
    closes the descriptor, whose number may name another file by the time a late write comes."""
    release = threading.Event()
    interrupted = threading.Event()
    ended = threading.Event()

    def work() -> int:
        release.wait(30)
        ended.set()
        return 1

    async def main() -> bool:
        task = asyncio.ensure_future(downloader._in_thread(work, "test", interrupt=interrupted.set))
        for _ in range(3):
            await asyncio.sleep(0)
        for _ in range(4):  # e.g. a pause, then the engine closing, then the job's own cleanup
            task.cancel()
            for _ in range(5):
                await asyncio.sleep(0)
            assert not task.done(), "the task ended while its thread still ran"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ended.is_set()

    assert asyncio.run(main())
    assert interrupted.is_set()


def test_what_a_thread_makes_for_a_cancelled_task_is_discarded_not_leaked() -> None:
    """An answer that arrives just after its download was cancelled is closed (its socket would
    otherwise wait for the garbage collector); a thread that failed has nothing to discard."""
    release = threading.Event()
    discarded: list[str] = []

    async def cancelled(work: Callable[[], str]) -> None:
        task = asyncio.ensure_future(downloader._in_thread(work, "t", discard=discarded.append))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    def answer() -> str:
        release.wait(30)
        return "the open answer"

    def failure() -> str:
        release.wait(30)
        raise OSError("reset")

    asyncio.run(cancelled(answer))
    release.clear()
    asyncio.run(cancelled(failure))
    assert discarded == ["the open answer"]


def test_resume_hashes_the_bytes_already_on_disk(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    target = tmp_path / "f.bin"
    target.with_name("f.bin.part").write_bytes(BODY[:1000])
    etag = f'"{hashlib.md5(BODY).hexdigest()}"'
    result = Result(url="https://cdn.example/f.bin", path=str(target), etag=etag)
    done, _ = _download(result, tmp_path, _serve(seen))
    assert seen[0].headers["range"] == "bytes=1000-"
    assert target.read_bytes() == BODY
    assert done.sha256 == hashlib.sha256(BODY).hexdigest()


_HOLD_LOCK = """
import fcntl, sys, time
with open(sys.argv[1], "r+b") as fh:
    fcntl.flock(fh, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


def test_a_part_written_by_another_process_is_left_alone(tmp_path: Path) -> None:
    """The window and `jobdock watch` on one data dir must never write one .part together:
    while another process holds it, the download fails as transient and the bytes stay."""
    target = tmp_path / "f.bin"
    part = target.with_name("f.bin.part")
    part.write_bytes(BODY[:1000])
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(part)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        seen: list[httpx.Request] = []
        result = Result(url="https://cdn.example/f.bin", path=str(target), etag='"e"')
        with pytest.raises(DownloadError, match="another Jobdock process") as caught:
            _download(result, tmp_path, _serve(seen))
        assert caught.value.transient
        assert part.read_bytes() == BODY[:1000], "nothing truncated or written"
        assert not target.exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    done, _ = _download(result, tmp_path, _serve(seen))  # the lock is gone: it resumes
    assert Path(done.path or "").read_bytes() == BODY


def test_a_part_completed_by_another_process_meanwhile_is_not_reopened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between opening the .part and locking it, the other process may finish and rename it:
    the lock is then on the finished file, which must not be written again."""
    target = tmp_path / "f.bin"
    part = target.with_name("f.bin.part")
    real_try_lock = filelock.try_lock

    def finished_meanwhile(fd: int) -> bool:
        os.replace(part, target)  # what the other process does just before we lock
        return real_try_lock(fd)

    monkeypatch.setattr(filelock, "try_lock", finished_meanwhile)
    with pytest.raises(DownloadError, match="completed by another Jobdock process"):
        with partfile.claim(target) as fh:
            fh.write(b"never")
    assert target.read_bytes() == b"", "the renamed file was not written"


class _AnyPieces(_Pieces, httpx.AsyncByteStream):
    """`_Pieces` for the event-loop path too (an async client wants an async stream)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece


def _serve_stating(headers: dict[str, str]) -> httpx.MockTransport:
    """The file with `ETag` "opaque" (not an MD5) and `headers` on every answer."""

    def handle(request: httpx.Request) -> httpx.Response:
        start = int(request.headers.get("range", "bytes=0-")[6:-1])
        answer = {"ETag": '"opaque"', "Content-Length": str(len(BODY) - start), **headers}
        if start:
            answer["Content-Range"] = f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"
        return httpx.Response(
            206 if start else 200, headers=answer, stream=_AnyPieces(BODY[start:])
        )

    return httpx.MockTransport(handle)


def _download_with(
    result: Result, folder: Path, transport: httpx.MockTransport, *, threaded: bool
) -> Result:
    async def main() -> Result:
        account = Account(name="a", provider="generic-202", base_url=API)
        bare = make_bare_client(transport=transport)
        session = ApiSession(account=account, api=make_api_client(headers={}), bare=bare)
        try:
            return await downloader.download(
                session,
                result,
                folder=folder,
                on_started=lambda _s: None,
                on_progress=lambda _d, _t: None,
                threaded=threaded,
                sync_transport=transport,
            )
        finally:
            await session.api.aclose()
            await bare.aclose()

    return asyncio.run(main())


REPR_DIGEST = {
    "Repr-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(BODY).digest()).decode()}:"
}


@pytest.mark.parametrize("threaded", [True, False], ids=["worker-thread", "event-loop"])
def test_a_resume_is_verified_over_the_part_on_disk_and_the_new_bytes(
    tmp_path: Path, threaded: bool
) -> None:
    target = tmp_path / "f.bin"
    target.with_name("f.bin.part").write_bytes(BODY[:1000])
    result = Result(url="https://cdn.example/f.bin", path=str(target), etag='"opaque"')
    done = _download_with(result, tmp_path, _serve_stating(REPR_DIGEST), threaded=threaded)
    assert target.read_bytes() == BODY
    assert done.sha256 == hashlib.sha256(BODY).hexdigest()
    assert done.verified == Verified.SHA256


@pytest.mark.parametrize("threaded", [True, False], ids=["worker-thread", "event-loop"])
def test_a_resume_onto_damaged_bytes_is_refused_and_starts_again(
    tmp_path: Path, threaded: bool
) -> None:
    target = tmp_path / "f.bin"
    part = target.with_name("f.bin.part")
    part.write_bytes(b"\xff" + BODY[1:1000])  # not the file's first bytes
    result = Result(url="https://cdn.example/f.bin", path=str(target), etag='"opaque"')
    with pytest.raises(ChecksumError, match="Repr-Digest sha-256"):
        _download_with(result, tmp_path, _serve_stating(REPR_DIGEST), threaded=threaded)
    assert not part.exists() and not target.exists(), "the next attempt starts from zero"


@pytest.mark.parametrize("threaded", [True, False], ids=["worker-thread", "event-loop"])
def test_an_etag_that_is_not_the_md5_does_not_fail_the_file(tmp_path: Path, threaded: bool) -> None:
    opaque = {"ETag": f'"{hashlib.md5(b"other bytes").hexdigest()}"'}
    done = _download_with(
        Result(url="https://cdn.example/f.bin"), tmp_path, _serve_stating(opaque), threaded=threaded
    )
    assert Path(done.path or "").read_bytes() == BODY
    assert done.verified == Verified.SIZE


@pytest.mark.parametrize("threaded", [True, False], ids=["worker-thread", "event-loop"])
def test_the_raw_bytes_are_hashed_and_saved_never_decoded(tmp_path: Path, threaded: bool) -> None:
    """A server that sends `Content-Encoding: gzip` despite `Accept-Encoding: identity`: the
    digests it states are of the bytes as sent, and those are what is saved."""
    raw = gzip.compress(BODY)
    digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        stated = f"sha-256=:{digest}:"
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(raw)),
                   "Repr-Digest": stated, "Content-Digest": stated}  # fmt: skip
        return httpx.Response(200, headers=headers, stream=_AnyPieces(raw))

    done = _download_with(
        Result(url="https://cdn.example/f.gz"),
        tmp_path,
        httpx.MockTransport(handle),
        threaded=threaded,
    )
    assert seen[0].headers["accept-encoding"] == "identity"
    assert Path(done.path or "").read_bytes() == raw
    assert done.verified == Verified.SHA256 and done.sha256 == hashlib.sha256(raw).hexdigest()


def test_a_part_swapped_for_a_link_between_attempts_is_not_resumed(tmp_path: Path) -> None:
    """A restart resumes the recorded `.part`: it is looked at without following it first, and
    a link there (to a file of the user's elsewhere) is refused, not appended to."""
    victim = tmp_path / "elsewhere.txt"
    victim.write_bytes(b"precious")
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "f.bin.part").symlink_to(victim)
    result = Result(url="https://cdn.example/f.bin", path=str(folder / "f.bin"), etag='"e"')
    seen: list[httpx.Request] = []
    with pytest.raises(DownloadError, match=r"f\.bin\.part: it is a symbolic link"):
        _download(result, folder, _serve(seen))
    assert victim.read_bytes() == b"precious" and not seen
    assert sorted(p.name for p in folder.iterdir()) == ["f.bin.part"]


def test_the_finished_file_never_replaces_what_took_its_name(tmp_path: Path) -> None:
    """Between the choice of a name and the rename, a link (or a file) may appear under it:
    the file gets the next free name and what is there stays as it was."""
    with jobfolder.open_folder(tmp_path) as folder:
        (tmp_path / "r.csv.part").write_bytes(b"new bytes")
        (tmp_path / "r.csv").symlink_to(tmp_path / "nowhere")
        assert folder.put("r.csv.part", "r.csv") == "r (2).csv"
        assert (tmp_path / "r (2).csv").read_bytes() == b"new bytes"
        assert (tmp_path / "r.csv").is_symlink() and not (tmp_path / "nowhere").exists()
        assert not (tmp_path / "r.csv.part").exists()
        # a .part swapped for a link after it was written is not moved into place
        (tmp_path / "s.csv.part").symlink_to(tmp_path / "r (2).csv")
        with pytest.raises(DownloadError, match="symbolic link"):
            folder.put("s.csv.part", "s.csv")
        assert not (tmp_path / "s.csv").exists()


def test_a_move_into_place_cut_short_by_a_kill_is_finished(tmp_path: Path) -> None:
    """The finished file gets its name by a hard link, then the `.part` goes: killed between
    the two, the `.part` and the final name are one file, which is no planted hard link."""
    target = tmp_path / "f.bin"
    target.write_bytes(BODY)
    os.link(target, tmp_path / "f.bin.part")
    etag = f'"{hashlib.md5(BODY).hexdigest()}"'
    result = Result(url="https://cdn.example/f.bin", path=str(target), etag=etag)
    seen: list[httpx.Request] = []
    with pytest.raises(DownloadError, match="just completed") as caught:
        _download(result, tmp_path, _serve(seen))
    assert caught.value.transient
    done, _ = _download(result, tmp_path, _serve(seen))  # the next attempt
    assert done.path == str(target) and target.read_bytes() == BODY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


class _Counted(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A large body in 4 KiB pieces, counting what was taken of it."""

    def __init__(self, head: bytes, size: int) -> None:
        self.body = head + b" " * (size - len(head))
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), 4096):
            self.taken += len(self.body[start : start + 4096])
            yield self.body[start : start + 4096]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece


@pytest.mark.parametrize("threaded", [True, False], ids=["worker-thread", "event-loop"])
def test_only_the_start_of_a_large_error_body_is_read(tmp_path: Path, threaded: bool) -> None:
    """A 403/404/410 body is read for the storage's own words, at most ERROR_BODY_LIMIT of it
    (a 50 MiB error page is not pulled in whole)."""
    head = b"<Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>"
    streams: list[_Counted] = []

    def handle(request: httpx.Request) -> httpx.Response:
        streams.append(_Counted(head, 50 * 1024 * 1024))
        return httpx.Response(404, headers={"Content-Type": "application/xml"}, stream=streams[-1])

    with pytest.raises(LinkExpiredError, match=r"HTTP 404: The key does not exist"):
        _download_with(
            Result(url="https://cdn.example/f.bin"), tmp_path, httpx.MockTransport(handle),
            threaded=threaded,
        )  # fmt: skip
    assert streams and all(0 < s.taken <= ERROR_BODY_LIMIT for s in streams)


@pytest.mark.parametrize("threaded", [True, False], ids=["worker-thread", "event-loop"])
def test_a_links_own_headers_go_to_its_origin_only_never_across_a_redirect(
    tmp_path: Path, threaded: bool
) -> None:
    """Databricks' `http_headers` (a decryption key): sent on every hop to the link's host, and
    on none after a redirect to another host; never the account's credentials with them."""
    seen: list[httpx.Request] = []
    key = "x-amz-server-side-encryption-customer-key"

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if str(request.url) == "https://bucket.example/c1":
            return httpx.Response(302, headers={"Location": "/c1-moved"})
        if request.url.path == "/c1-moved":
            return httpx.Response(302, headers={"Location": "https://other.example/c1"})
        if request.url.path == "/c2" and request.headers.get(key) != "S2VZ-one":
            return httpx.Response(400, text="<Error><Code>InvalidRequest</Code></Error>")
        return httpx.Response(200, headers={"Content-Length": str(len(BODY))},
                              stream=_AnyPieces(BODY))  # fmt: skip

    transport = httpx.MockTransport(handle)
    headers = ((key, "S2VZ-one"), ("x-amz-server-side-encryption-customer-algorithm", "AES256"))
    result = Result(url="https://bucket.example/c1", link_headers=headers,
                    link_header_names=tuple(n for n, _ in headers))  # fmt: skip
    done = _download_with(result, tmp_path / "a", transport, threaded=threaded)
    assert Path(done.path or "").read_bytes() == BODY
    assert [(str(r.url), r.headers.get(key)) for r in seen] == [
        ("https://bucket.example/c1", "S2VZ-one"),
        ("https://bucket.example/c1-moved", "S2VZ-one"),  # the same origin: still its host
        ("https://other.example/c1", None),  # another origin: none of them
    ]
    assert seen[0].headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert seen[0].headers["accept-encoding"] == "identity"  # the download's own headers stay
    seen.clear()
    done = _download_with(Result(url="https://bucket.example/c2", link_headers=headers),
                          tmp_path / "b", transport, threaded=threaded)  # fmt: skip
    assert done.download_state == DownloadState.DONE  # the storage had the key it needs
    with pytest.raises(DownloadError, match="HTTP 400"):
        _download_with(Result(url="https://bucket.example/c2"), tmp_path / "c", transport,
                       threaded=threaded)  # fmt: skip
