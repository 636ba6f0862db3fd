"""The fake Shoptet API: asynchronous endpoints, the jobs list and detail, webhooks, add-on tokens.

Every answer is the `{"data", "errors"}` envelope with `X-RateLimit-Bucket-Filling`. Submits
(`GET /api/products/snapshot`, `GET /api/orders/snapshot`, `POST /api/products/{guid}/images`)
answer `201` with a `jobId`. The detail endpoint refuses unfinished jobs after
`shoptet_detail_limit` calls, results expire `shoptet_result_ttl` after completion, and the guard
(shoptet_guard.py) enforces tokens, the connection limit and the leaky bucket.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading

from jobdock.simulator.config import SimConfig
from jobdock.simulator.content import shoptet_file
from jobdock.simulator.jobs import FakeJob, JobBook, Phase, short_id
from jobdock.simulator.server import Api
from jobdock.simulator.shoptet_guard import ShoptetGuard
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.webhooks import EVENT, Webhooks
from jobdock.simulator.wire import (
    Reply,
    Request,
    Responder,
    http_date,
    json_reply,
    parse_time,
    same_secret,
    shoptet_time,
)

HISTORY = 30 * 86400.0
MAX_PER_PAGE = 500
_IMAGES = re.compile(r"^/api/products/[^/]+/images/?$")
_SNAPSHOT = re.compile(r"^/api/[a-z-]+/snapshot/?$")
_DETAIL = re.compile(r"^/api/system/jobs/([^/]+)/?$")
_HOOK = re.compile(r"^/api/webhooks/(\d+)/?$")
_OUTCOMES = {"succeed": "completed", "fail": "failed", "kill": "killed", "cancel": "killed"}


def envelope(
    status: int, data: object = None, *, code: str = "", message: str = "", instance: str = ""
) -> Reply:
    errors = [{"errorCode": code, "message": message, "instance": instance}] if code else None
    return json_reply(status, {"data": data, "errors": errors})


class ShoptetApi(Api):
    name = "shoptet"

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.jobs = JobBook(config)
        self.guard = ShoptetGuard(
            config, private_token=secret, oauth_token="oauth-" + secrets.token_urlsafe(18)
        )
        self.webhooks = Webhooks(config, self.jobs.all)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.webhooks.start()

    def stop(self) -> None:
        super().stop()
        self.webhooks.stop()

    def handle(self, req: Request, out: Responder) -> None:
        self.guard.count("requests")
        if req.path.rstrip("/") == "/token":
            out.send(self._token(req))
            return
        identity, problem = self.guard.identify(req)
        if identity is None:
            message = "Access token expired" if problem == "expired-token" else "Invalid token"
            reply = envelope(401, code=problem, message=message, instance=req.path)
        else:
            try:
                reply = self._limited(req, identity)
            finally:
                self.guard.leave(identity)
        out.send(reply.with_headers(("X-RateLimit-Bucket-Filling", self.guard.filling(identity))))

    def _limited(self, req: Request, identity: str) -> Reply:
        if not self.guard.enter(identity):
            return envelope(
                429,
                code="too-many-connections",
                instance=req.path,
                message="Too many concurrent connections for this token",
            )
        wait = self.guard.take(identity)
        if wait is not None:
            return envelope(
                429, code="too-many-requests", instance=req.path, message="Rate limit exceeded"
            ).with_headers(("Retry-After", http_date(self.config.clock() + wait)))
        self.delay(req)
        return self.route(req)

    def _token(self, req: Request) -> Reply:
        if not same_secret(req.header("Authorization"), f"Bearer {self.guard.oauth_token}"):
            return envelope(
                401, code="invalid-token", message="Invalid OAuth access token", instance=req.path
            )
        token, ttl = self.guard.issue_access_token()
        return json_reply(200, {"access_token": token, "expires_in": ttl})

    def route(self, req: Request) -> Reply:
        path, method = req.path, req.method
        submit = _SNAPSHOT if method == "GET" else _IMAGES if method == "POST" else None
        if submit is not None and submit.match(path):
            return self._submit(req)
        if method == "GET" and path.rstrip("/") == "/api/system/jobs":
            return self._list(req)
        detail = _DETAIL.match(path)
        if method == "GET" and detail:
            return self._detail(detail.group(1), req)
        if path.startswith("/api/webhooks"):
            return self._webhooks(req)
        return envelope(404, code="not-found", message="Endpoint not found", instance=path)

    def _submit(self, req: Request) -> Reply:
        if self.config.shoptet_require_webhook and not self.webhooks.has(EVENT):
            return envelope(
                403,
                code="webhook-not-registered",
                instance=req.path,
                message=f"Register a {EVENT} webhook (POST /api/webhooks) first",
            )
        endpoint = "/api/products/images" if _IMAGES.match(req.path) else req.path.rstrip("/")
        job_id = short_id()
        while self.jobs.get(job_id) is not None:
            job_id = short_id()
        job = self.jobs.create(
            id=job_id,
            created=req.at,
            controls=self.jobs.controls(req.params),
            method=req.method,
            path=endpoint,
            params=req.params,
            body=req.body,
        )
        if job.outcome not in _OUTCOMES:
            job.outcome = "fail"
        if job.outcome == "succeed":
            data = shoptet_file(endpoint, size=job.size, seed=job_id)
            key = f"api-results/{job_id}-{secrets.token_hex(4)}.json"
            job.extra["key"] = self.storage.put(key, data, content_type="application/json")
            job.results.append(data)
        return envelope(201, {"jobId": job_id})

    def _status(self, job: FakeJob, now: float) -> str:
        phase = job.phase(now)
        if phase is not Phase.DONE:
            return "pending" if phase is Phase.QUEUED else "running"
        status = _OUTCOMES[job.outcome]
        if status == "completed" and now > job.finished_at + self.config.shoptet_result_ttl:
            return "expired"
        return status

    def _summary(self, job: FakeJob, now: float) -> dict[str, object]:
        done = job.phase(now) is Phase.DONE
        return {
            "jobId": job.id,
            "endpoint": job.path,
            "creationTime": shoptet_time(job.created),
            "completionTime": shoptet_time(job.finished_at) if done else None,
            "status": self._status(job, now),
        }

    def _list(self, req: Request) -> Reply:
        self.guard.count("list_calls")
        params, now = req.params, self.config.clock()
        try:
            per_page = int(params.get("itemsPerPage") or 50)
            page = int(params.get("page") or 1)
        except ValueError:
            per_page = page = 0
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            return envelope(
                400,
                code="invalid-request-data",
                instance="itemsPerPage",
                message=f"itemsPerPage must be 1..{MAX_PER_PAGE}, page >= 1",
            )
        since = parse_time(params["creationTimeFrom"]) if params.get("creationTimeFrom") else None
        wanted = params.get("status") or None
        jobs = [
            self._summary(job, now)
            for job in sorted(self.jobs.all(), key=lambda j: j.created)
            if job.created >= max(now - HISTORY, since or 0.0)
        ]
        jobs = [j for j in jobs if wanted is None or j["status"] == wanted]
        chunk = jobs[(page - 1) * per_page : page * per_page]
        paginator = {
            "totalCount": len(jobs),
            "page": page,
            "pageCount": max(1, math.ceil(len(jobs) / per_page)),
            "itemsOnPage": len(chunk),
            "itemsPerPage": per_page,
        }
        return envelope(200, {"jobs": chunk, "paginator": paginator})

    def _detail(self, job_id: str, req: Request) -> Reply:
        self.guard.count("detail_calls")
        job, now = self.jobs.get(job_id), self.config.clock()
        if job is None:
            return envelope(
                404, code="job-not-found", message=f"Job {job_id} not found", instance=job_id
            )
        if job.phase(now) is not Phase.DONE:
            with self._lock:  # concurrent detail calls must each count
                tries = int(job.extra.get("detail_calls", 0)) + 1
                job.extra["detail_calls"] = tries
            if tries > self.config.shoptet_detail_limit:
                self.guard.count("detail_403")
                return envelope(
                    403,
                    code="job-detail-try-counter-exceeded-limit",
                    instance=job_id,
                    message="Too many detail calls on an "
                    "unfinished job; use the jobs list (GET /api/system/jobs)",
                )
        return envelope(200, self._detail_data(job, now))

    def _detail_data(self, job: FakeJob, now: float) -> dict[str, object]:
        data = self._summary(job, now)
        done = job.phase(now) is Phase.DONE
        ttl = self.config.shoptet_result_ttl
        has_result = done and job.outcome == "succeed"
        data.update(
            duration=f"{job.duration:.3f}" if done else None,
            resultUrl=self.storage.presign(job.extra["key"], ttl=ttl, signed_at=job.finished_at)
            if has_result
            else None,
            validUntil=shoptet_time(job.finished_at + ttl) if has_result else None,
            log=_log(job, data["status"]),
        )
        return data

    def _webhooks(self, req: Request) -> Reply:
        path, method = req.path.rstrip("/"), req.method
        if path == "/api/webhooks" and method == "GET":
            return envelope(200, {"webhooks": [h.to_json() for h in self.webhooks.all()]})
        if path == "/api/webhooks" and method == "POST":
            return self._register(req)
        if path == "/api/webhooks/renew-signature-key" and method == "POST":
            return envelope(201, {"signatureKey": self.webhooks.renew_key()})
        match = _HOOK.match(path)
        if match and method == "DELETE":
            if self.webhooks.remove(int(match.group(1))):
                return envelope(200)
        return envelope(404, code="not-found", message="Webhook not found", instance=path)

    def _register(self, req: Request) -> Reply:
        try:
            items = json.loads(req.body)["data"]
            pairs = [(str(i["event"]), str(i["url"])) for i in items]
        except (ValueError, KeyError, TypeError):
            return envelope(
                400,
                code="invalid-request-data",
                instance="data",
                message='Expected {"data": [{"event": ..., "url": ...}]}',
            )
        if not pairs or any(not url.startswith(("http://", "https://")) for _, url in pairs):
            return envelope(
                400,
                code="invalid-request-data",
                instance="url",
                message="Each webhook needs an http(s) url",
            )
        hooks = [self.webhooks.register(event, url) for event, url in pairs]
        return envelope(201, {"webhooks": [h.to_json() for h in hooks]})

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []


def _log(job: FakeJob, status: object) -> str:
    lines = [f"{shoptet_time(job.created)} job {job.id} accepted ({job.method} {job.path})"]
    if status in ("completed", "expired"):
        lines.append(f"{shoptet_time(job.finished_at)} finished: {job.size} bytes written")
    elif status == "failed":
        lines.append(f"{shoptet_time(job.finished_at)} error: processing failed (simulated)")
    elif status == "killed":
        lines.append(f"{shoptet_time(job.finished_at)} error: job killed (simulated)")
    return "\n".join(lines)
