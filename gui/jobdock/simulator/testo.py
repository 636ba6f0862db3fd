"""The fake testo Data API (`/v3/...` exports): POST a JSON request, poll by `request_uuid`.

Auth is the `x-custom-api-key` header (403 otherwise). Any `/v3/<path>` works the same way; the
status lives at `/v3/<path>/<uuid>`. Once Completed, every poll re-signs `data_urls` (one per
`sim_files`) and `metadata_url` on the storage origin for `SimConfig.link_ttl` seconds.
"""

from __future__ import annotations

import json
import uuid

from jobdock.simulator.config import SimConfig
from jobdock.simulator.content import testo_file, testo_metadata
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, json_reply, same_secret

FORMATS = {
    "CSV": ("csv", "text/csv"),
    "PARQUET": ("parquet", "application/octet-stream"),
    "JSON": ("json", "application/json"),
    "ORC": ("orc", "application/octet-stream"),
    "AVRO": ("avro", "application/octet-stream"),
    "TEXTFILE": ("txt", "text/plain"),
}
_STATUS = {Phase.QUEUED: "Submitted", Phase.RUNNING: "In Progress"}


class TestoApi(Api):
    name = "testo"
    __test__ = False  # not a pytest class, despite the name

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.secret = secret
        self.jobs = JobBook(config)

    def presented_key(self, req: Request) -> str | None:
        return req.header("x-custom-api-key") if self.config.echo_secrets else None

    def route(self, req: Request) -> Reply:
        if not same_secret(req.header("x-custom-api-key"), self.secret):
            return json_reply(403, {"message": "Forbidden"})
        path = req.path.rstrip("/")
        if not path.startswith("/v3/") or path == "/v3":
            return json_reply(404, {"message": "Not Found"})
        if req.method == "POST":
            return self._submit(req, path)
        if req.method == "GET":
            parent, _, request_uuid = path.rpartition("/")
            job = self.jobs.get(request_uuid)
            if job is not None and job.path == parent:
                return json_reply(200, self._status(job))
        return json_reply(404, {"message": "Not Found"})

    def _submit(self, req: Request, path: str) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return json_reply(400, {"message": "Request body is not valid JSON"})
        if not isinstance(body, dict):
            return json_reply(400, {"message": "Request body must be a JSON object"})
        options = body.get("options") or {}
        fmt = str(options.get("result_file_format", "CSV") if isinstance(options, dict) else "")
        if fmt.upper() not in FORMATS:
            return json_reply(400, {"message": f"Unsupported result_file_format {fmt!r}"})
        fmt = fmt.upper()
        request_uuid = str(uuid.uuid4())
        job = self.jobs.create(
            id=request_uuid,
            created=req.at,
            controls=self.jobs.controls(req.params),
            method="POST",
            path=path,
            params=req.params,
            body=req.body,
        )
        if job.outcome == "succeed":
            self._store_results(job, fmt)
        return json_reply(202, {"request_uuid": request_uuid, "status": "Submitted"})

    def _store_results(self, job: FakeJob, fmt: str) -> None:
        ext, content_type = FORMATS[fmt]
        files = [testo_file(fmt, size=job.size, seed=f"{job.id}/{i}") for i in range(job.files)]
        keys = [
            self.storage.put(f"testo/{job.id}/part-{i:05d}.{ext}", data, content_type=content_type)
            for i, data in enumerate(files)
        ]
        meta = testo_metadata(request_uuid=job.id, path=job.path, fmt=fmt, files=files)
        meta_key = self.storage.put(
            f"testo/{job.id}/metadata.json", meta, content_type="application/json"
        )
        job.extra.update(keys=keys, metadata_key=meta_key)
        job.results.extend([*files, meta])

    def _status(self, job: FakeJob) -> dict[str, object]:
        phase = job.phase(self.config.clock())
        if phase is not Phase.DONE:
            return {"request_uuid": job.id, "status": _STATUS[phase]}
        if job.outcome != "succeed":
            return {
                "request_uuid": job.id,
                "status": "Failed",
                "error": "Data preparation failed: query timed out (simulated)",
            }
        ttl = self.config.link_ttl
        return {
            "request_uuid": job.id,
            "status": "Completed",
            "data_urls": self.jobs.ordered(
                job, [self.storage.presign(k, ttl=ttl) for k in job.extra["keys"]]
            ),
            "metadata_url": self.storage.presign(job.extra["metadata_key"], ttl=ttl),
        }

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
