"""The fake generic RFC 9110 `202 Accepted` API, with Azure-style status monitors.

Auth is `Authorization: Bearer <secret>`. A change to `/items/{name}` answers `202` (`201` for
PUT) with `Location` (the result URL) and `Azure-AsyncOperation` or `Operation-Location` (the
status monitor) and `Retry-After`/`retry-after-ms` from the config. The monitor reports
NotStarted/Running/Succeeded/Failed/Canceled; the result URL answers `202` until the end.
"""

from __future__ import annotations

import json
import uuid

from jobdock.simulator.config import SimConfig
from jobdock.simulator.content import padded_json
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import (
    Headers,
    Reply,
    Request,
    iso_utc,
    json_reply,
    same_secret,
    seconds_text,
)

_STATUS = {Phase.QUEUED: "NotStarted", Phase.RUNNING: "Running"}
_FINAL = {"succeed": "Succeeded", "fail": "Failed", "cancel": "Canceled"}


class GenericApi(Api):
    name = "generic-202"

    def __init__(self, *, config: SimConfig, secret: str) -> None:
        super().__init__()
        self.config = config
        self.secret = secret
        self.jobs = JobBook(config)

    @property
    def base_url(self) -> str:
        return self.origin

    def route(self, req: Request) -> Reply:
        if not same_secret(req.header("Authorization"), f"Bearer {self.secret}"):
            return json_reply(
                401,
                {"error": {"code": "Unauthorized", "message": "Missing or invalid bearer token"}},
                headers=(("WWW-Authenticate", 'Bearer realm="generic-202"'),),
            )
        parts = req.path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "items":
            name = "/".join(parts[1:])
            if req.method == "GET":
                return self._get_item(name)
            if req.method in ("PUT", "POST", "PATCH", "DELETE"):
                return self._submit(req, name)
        if req.method == "GET" and parts[0] == "operations" and len(parts) in (2, 3):
            job = self.jobs.get(parts[1])
            if job is not None and len(parts) == 2:
                return json_reply(200, self._operation(job), headers=self._retry(job))
            if job is not None and parts[2] == "result":
                return self._result(job)
        return _not_found()

    def _submit(self, req: Request, name: str) -> Reply:
        params = req.params
        op_id = str(uuid.uuid4())
        job = self.jobs.create(
            id=op_id,
            created=req.at,
            controls=self.jobs.controls(params),
            method=req.method,
            path=name,
            params=params,
            body=req.body,
        )
        if job.outcome not in _FINAL:
            job.outcome = "fail"
        if job.outcome == "succeed" and req.method != "DELETE":
            job.results.append(self._resource(job))
        monitor = f"{self.base_url}/operations/{op_id}"
        headers: list[tuple[str, str]] = [("Location", f"{monitor}/result")]
        kind = params.get("sim_monitor", "azure-asyncoperation").lower()
        if kind == "operation-location":
            headers.append(("Operation-Location", monitor))
        elif kind != "location":
            headers.append(("Azure-AsyncOperation", monitor))
        status = 201 if req.method == "PUT" else 202
        return json_reply(status, self._operation(job), headers=tuple(headers) + self._retry(job))

    def _resource(self, job: FakeJob) -> bytes:
        try:
            request: object = json.loads(job.body) if job.body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            request = job.body.decode("utf-8", "replace")
        data = {
            "id": job.path,
            "name": job.path.rpartition("/")[2],
            "provisioningState": "Succeeded",
            "operationId": job.id,
            "createdDateTime": iso_utc(job.created),
            "request": request,
        }
        return padded_json(data, size=job.size)

    def _retry(self, job: FakeJob) -> Headers:
        """Retry-After (and retry-after-ms) while the operation runs, when configured."""
        if job.phase(self.config.clock()) is Phase.DONE:
            return ()
        headers: list[tuple[str, str]] = []
        if self.config.retry_after is not None:
            headers.append(("Retry-After", seconds_text(self.config.retry_after)))
        if self.config.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(self.config.retry_after_ms)))
        return tuple(headers)

    def _operation(self, job: FakeJob) -> dict[str, object]:
        now = self.config.clock()
        phase = job.phase(now)
        status = _STATUS.get(phase) or _FINAL[job.outcome]
        op: dict[str, object] = {
            "id": job.id,
            "status": status,
            "createdDateTime": iso_utc(job.created),
            "lastActionDateTime": iso_utc(min(now, job.finished_at)),
        }
        if status == "Succeeded" and job.method != "DELETE":
            op["resourceLocation"] = f"{self.base_url}/items/{job.path}"
        elif status in ("Failed", "Canceled"):
            op["error"] = _error(job)
        return op

    def _result(self, job: FakeJob) -> Reply:
        phase = job.phase(self.config.clock())
        if phase is not Phase.DONE:
            location = (("Location", f"{self.base_url}/operations/{job.id}/result"),)
            return json_reply(202, self._operation(job), headers=location + self._retry(job))
        if job.outcome != "succeed":
            return json_reply(400, {"error": _error(job)})
        if job.method == "DELETE":
            return Reply(status=204)
        return Reply(status=200, body=job.results[0], content_type="application/json")

    def _get_item(self, name: str) -> Reply:
        now = self.config.clock()
        for job in reversed(self.jobs.all()):
            if job.path == name and job.succeeded(now):
                if job.method == "DELETE":
                    break
                return Reply(status=200, body=job.results[0], content_type="application/json")
        return _not_found()

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []


def _error(job: FakeJob) -> dict[str, str]:
    if job.outcome == "cancel":
        return {"code": "OperationCanceled", "message": "The operation was canceled (simulated)"}
    return {"code": "SimulatedFailure", "message": "The operation failed (simulated)"}


def _not_found() -> Reply:
    return json_reply(404, {"error": {"code": "NotFound", "message": "No such resource"}})
