"""A scripted fake API + storage behind `httpx.MockTransport`, and a provider for it.

Used by the engine unit tests: every behaviour (Retry-After, 5xx, expiring links, resets mid-body,
servers without Range) is switched on per test, and every request is recorded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from jobdock.core.model.job import Account, Job, JobState, SubmitRequest
from jobdock.core.net.http import ApiSession, parse_json, parse_retry_after, raise_for_status
from jobdock.core.providers.base import JobRef, PollPolicy, Provider, RemoteStatus, ResultLink

API = "https://api.fake"
STORAGE = "https://storage.fake"
SECRET = "fake-secret-123456"


@dataclass
class FakeApi:
    polls_until_done: int = 2
    outcome: str = "completed"
    body: bytes = b"col1,col2\n" + b"1,2\n" * 5000
    poll_faults: list[httpx.Response] = field(default_factory=list)
    # per storage request, in order: "reset", "403", "500", "short", "corrupt" (a flipped byte)
    storage_faults: list[str] = field(default_factory=list)
    no_range: bool = False
    # Extra headers on every storage answer (stated digests, S3's encryption headers...).
    storage_headers: dict[str, str] = field(default_factory=dict)
    link_version: int = 1
    reissue_links: bool = True
    requests: list[tuple[float, httpx.Request]] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)
    # The link's query also carries the account's key (`token=`), as an API that echoes the
    # credential it was asked with into the URLs it gives (Meta's `paging.next`).
    echo_secret: bool = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((time.monotonic(), request))
        if request.url.host == "storage.fake":
            return self._storage(request)
        if request.headers.get("X-Key") != SECRET:
            return httpx.Response(401, json={"message": "bad key"})
        if request.method == "POST" and request.url.path == "/jobs":
            job_id = f"r{len(self.jobs) + 1}"
            self.jobs[job_id] = 0
            return httpx.Response(202, json={"id": job_id, "state": "new"})
        job_id = request.url.path.rsplit("/", 1)[-1]
        if job_id not in self.jobs:
            return httpx.Response(404, json={"message": f"no job {job_id}"})
        if self.poll_faults:
            return self.poll_faults.pop(0)
        self.jobs[job_id] += 1
        done = self.jobs[job_id] >= self.polls_until_done
        if done and self.reissue_links and self.jobs[job_id] > self.polls_until_done:
            self.link_version += 1
        state = self.outcome if done else "working"
        data: dict[str, object] = {"id": job_id, "state": state}
        if done and self.outcome == "completed":
            version = self.link_version if self.reissue_links else 1
            data["link"] = f"{STORAGE}/files/{job_id}.csv?v={version}"
            data["link"] += f"&token={SECRET}" if self.echo_secret else ""
        return httpx.Response(200, json=data)

    def _storage(self, request: httpx.Request) -> httpx.Response:
        version = int(request.url.params.get("v", "0"))
        if version != self.link_version:
            return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code>"
                                  b"<Message>Request has expired</Message></Error>")  # fmt: skip
        fault = self.storage_faults.pop(0) if self.storage_faults else None
        if fault == "403":
            self.link_version += 1
            return httpx.Response(403, content=b"<Message>Request has expired</Message>")
        if fault == "500":
            return httpx.Response(500, content=b"oops")
        etag = '"' + hashlib.md5(self.body).hexdigest() + '"'
        start = 0
        range_header = request.headers.get("range")
        if range_header and not self.no_range and request.headers.get("if-range") == etag:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
        body = self.body[start:]
        headers = {"ETag": etag, "Content-Length": str(len(body)), **self.storage_headers}
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(self.body) - 1}/{len(self.body)}"
        if fault == "reset":
            return httpx.Response(status, headers=headers, stream=_Broken(body, len(body) // 3))
        if fault == "corrupt":
            body = bytes([body[0] ^ 1]) + body[1:]
        if fault == "short":
            return httpx.Response(status, headers=headers, stream=_Short(body[: len(body) // 2]))
        return httpx.Response(status, headers=headers, stream=_Short(body))

    def storage_requests(self) -> list[httpx.Request]:
        return [r for _, r in self.requests if r.url.host == "storage.fake"]

    def poll_times(self) -> list[float]:
        return [t for t, r in self.requests if r.url.host == "api.fake" and r.method == "GET"]


class _Broken(httpx.AsyncByteStream):
    def __init__(self, body: bytes, cut: int) -> None:
        self._body, self._cut = body, cut

    async def __aiter__(self) -> Iterator[bytes]:  # type: ignore[override]
        yield self._body[: self._cut]
        raise httpx.ReadError("connection reset by peer")


class _Short(httpx.AsyncByteStream):
    """The body as a real stream (a `content=` response counts as already read)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> Iterator[bytes]:  # type: ignore[override]
        for start in range(0, len(self._body), 65536):
            yield self._body[start : start + 65536]


class FakeProvider(Provider):
    id = "fake"
    display_name = "Fake API"
    default_base_url = API
    secret_label = "API key"
    poll_policy = PollPolicy(first_delay=0.01, min_interval=0.01, max_interval=0.05, deadline=30)

    def auth_headers(self, account: Account, secret: str) -> dict[str, str]:
        return {"X-Key": secret}

    def default_request(self) -> SubmitRequest:
        return SubmitRequest(method="POST", path="/jobs")

    def parse_ref(self, account: Account, ref: str) -> JobRef:
        return JobRef(remote_id=ref, status_url=f"{API}/jobs/{ref}")

    async def submit(self, session: ApiSession, request: SubmitRequest) -> RemoteStatus:
        response = await session.request(request.method, request.path)
        raise_for_status(response, what="fake submit")
        data = parse_json(response, what="fake submit")
        return RemoteStatus(
            state=JobState.QUEUED,
            remote_state=data["state"],
            remote_id=data["id"],
            status_url=f"{API}/jobs/{data['id']}",
        )

    async def poll(self, session: ApiSession, job: Job) -> RemoteStatus:
        response = await session.request("GET", f"/jobs/{job.remote_id}")
        raise_for_status(response, what="fake poll")
        data = parse_json(response, what="fake poll")
        state = {"working": JobState.RUNNING, "completed": JobState.SUCCEEDED}.get(
            data["state"], JobState.FAILED
        )
        links = (ResultLink(url=data["link"]),) if "link" in data else ()
        return RemoteStatus(
            state=state,
            remote_state=data["state"],
            results=links,
            retry_after=parse_retry_after(response.headers),
            raw=json.dumps(data),
            error="it broke" if state == JobState.FAILED else None,
        )


class FakeBatchProvider(FakeProvider):
    """Refreshes every job of the account with one list call (GET /jobs), like Shoptet."""

    id = "fakebatch"
    list_calls = 0

    async def poll_many(self, session: ApiSession, jobs: list[Job]) -> dict[str, object]:
        FakeBatchProvider.list_calls += 1
        answers: dict[str, object] = {}
        for job in jobs:
            answers[job.id] = await self.poll(session, job)
        return answers
