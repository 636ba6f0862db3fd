"""The fake Vainu API: asynchronous Get Companies (`GET {base}/companies/async/`).

Auth is the `API-Key` header. A submit answers the job object; its `link` answers the same object
with the state computed from the clock, and once completed a `download_link` freshly pre-signed
on the storage origin for `SimConfig.vainu_link_ttl` seconds.
"""

from __future__ import annotations

import re
import uuid

from jobdock.simulator.config import SimConfig
from jobdock.simulator.content import vainu_file
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, iso_utc, json_reply, same_secret

BASE_PATH = "/api/v2"
_STATUS = re.compile(rf"^{BASE_PATH}/companies/async/([0-9a-f-]+)/?$")
_FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "jsonl": ("application/x-ndjson", "jsonl"),
}
_STATE = {Phase.QUEUED: "accepted", Phase.RUNNING: "process"}


class VainuApi(Api):
    name = "vainu"

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.secret = secret
        self.jobs = JobBook(config)

    @property
    def base_url(self) -> str:
        return self.origin + BASE_PATH

    def _key(self, req: Request) -> str | None:
        param = self.config.vainu_key_param
        return req.header("API-Key") or (req.params.get(param) if param else None)

    def presented_key(self, req: Request) -> str | None:
        return self._key(req) if self.config.echo_secrets else None

    def route(self, req: Request) -> Reply:
        if not same_secret(self._key(req), self.secret):
            return json_reply(401, {"detail": "Invalid API key"})
        if req.path.rstrip("/") == f"{BASE_PATH}/companies/async":
            if req.method != "GET":
                return json_reply(405, {"detail": f'Method "{req.method}" not allowed.'})
            return self._submit(req)
        match = _STATUS.match(req.path)
        job = self.jobs.get(match.group(1)) if match and req.method == "GET" else None
        if job is None:
            return json_reply(404, {"detail": "Not found."})
        return json_reply(200, self._job_object(job, req))

    def _submit(self, req: Request) -> Reply:
        params = req.params
        fmt = params.get("async_format", "csv").lower()
        if fmt not in _FORMATS:
            return json_reply(400, {"detail": f"Unsupported async_format {fmt!r}"})
        job_id = str(uuid.uuid4())
        controls = self.jobs.controls(params)
        job = self.jobs.create(
            id=job_id, created=req.at, controls=controls, params=params, extra={"format": fmt}
        )
        if job.outcome == "succeed":
            content_type, ext = _FORMATS[fmt]
            data = vainu_file(fmt, size=job.size, seed=job_id)
            key = self.storage.put(
                f"vainu/{job_id}/companies.{ext}",
                data,
                filename=f"companies-{job_id[:8]}.{ext}",
                content_type=content_type,
            )
            job.extra["key"] = key
            job.results.append(data)
        return json_reply(200, self._job_object(job, req))

    def _job_object(self, job: FakeJob, req: Request) -> dict[str, object]:
        now = self.config.clock()
        phase = job.phase(now)
        done = phase is Phase.DONE
        obj: dict[str, object] = {
            "job_id": job.id,
            "state": _STATE.get(phase, "completed" if job.outcome == "succeed" else "failure"),
            "link": f"{self.base_url}/companies/async/{job.id}/",
            "download_link": None,
            "created": iso_utc(job.created),
            "finished": iso_utc(job.finished_at) if done else None,
            "duration": f"{(min(now, job.finished_at) - job.created):.3f}",
        }
        if done and job.outcome == "succeed":
            obj["download_link"] = self.storage.presign(
                job.extra["key"], ttl=self.config.vainu_link_ttl
            )
        elif done:
            obj["error"] = "Query failed: the filter matched too many companies (simulated)"
        key = self.presented_key(req)
        if key:
            obj["message"] = f"answered for key {key}"
            if "error" in obj:
                obj["error"] = f"{obj['error']} (key {key})"
        return obj

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
