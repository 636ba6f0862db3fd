"""The fake HubSpot CRM exports API (v3).

`Authorization: Bearer <private app token>` on every request (401 `INVALID_AUTHENTICATION`
otherwise). `POST /crm/v3/exports/export/async` with a view or list export request answers
`202 {"id", "links": {"status"}}`; `GET /crm/v3/exports/export/async/tasks/{id}/status` answers
PENDING, PROCESSING, then COMPLETE with `result`, a download URL pre-signed on the storage
origin for five minutes and signed anew on every GET (a CSV of more than 2 MB is zipped). The
status vocabulary has no failure: an export that does not finish (`sim_outcome=fail` or
`cancel`) is CANCELED, its `errors` saying why. Errors are HubSpot's `{"status": "error",
"message", "correlationId", "category"}`.
https://developers.hubspot.com/docs/api-reference/crm-exports-v3/guide
"""

from __future__ import annotations

import io
import json
import re
import secrets
import uuid
import zipfile

from jobdock.simulator.config import SimConfig
from jobdock.simulator.content import hubspot_file
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, iso_utc, json_reply, same_secret

LINK_TTL = 300.0  # "expires after 5 minutes; another GET request generates a new URL"
ZIP_ABOVE = 2 * 1024 * 1024  # "CSV files larger than 2MB are automatically zipped"
SUBMIT = "/crm/v3/exports/export/async"
_STATUS = re.compile(r"^/crm/v3/exports/export/async/tasks/(\d+)/status$")
_FORMATS = {"CSV": "text/csv", "XLSX": "application/vnd.openxmlformats-officedocument."
            "spreadsheetml.sheet", "XLS": "application/vnd.ms-excel"}  # fmt: skip
_STATE = {Phase.QUEUED: "PENDING", Phase.RUNNING: "PROCESSING"}


def error_reply(status: int, category: str, message: str) -> Reply:
    correlation = str(uuid.uuid4())
    body = {"status": "error", "message": message, "correlationId": correlation}
    return json_reply(status, {**body, "category": category})


def _problem(body: object) -> str | None:
    """What is wrong with an export request (None: nothing)."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if body.get("exportType") not in ("VIEW", "LIST"):
        return "exportType must be VIEW or LIST"
    if str(body.get("format", "")).upper() not in _FORMATS:
        return "format must be one of CSV, XLS, XLSX"
    for name in ("exportName", "objectType"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    properties = body.get("objectProperties")
    if not isinstance(properties, list) or not properties:
        return "objectProperties must list at least one property"
    if body["exportType"] == "LIST" and not body.get("listId"):
        return "listId is required for a LIST export"
    return None


class HubSpotApi(Api):
    name = "hubspot-exports"

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.secret = secret
        self.jobs = JobBook(config)

    def route(self, req: Request) -> Reply:
        auth = req.header("Authorization") or ""
        if not auth:
            return error_reply(401, "INVALID_AUTHENTICATION", "Authentication credentials not "
                               "found. This API supports OAuth 2.0 authentication.")  # fmt: skip
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not same_secret(token, self.secret):
            return error_reply(401, "INVALID_AUTHENTICATION", "The access token is not valid.")
        if req.path == SUBMIT and req.method == "POST":
            return self._submit(req)
        match = _STATUS.match(req.path)
        job = self.jobs.get(match.group(1)) if match and req.method == "GET" else None
        if job is None:
            return error_reply(404, "OBJECT_NOT_FOUND", f"No export task at {req.path}")
        return json_reply(200, self._status(job))

    def _submit(self, req: Request) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, ValueError):
            return error_reply(400, "VALIDATION_ERROR", "Invalid input JSON")
        problem = _problem(body)
        if problem is not None:
            return error_reply(400, "VALIDATION_ERROR", f"Invalid input: {problem}")
        task_id = str(secrets.randbelow(10**11) + 10**11)
        job = self.jobs.create(id=task_id, created=req.at, controls=self.jobs.controls(req.params),
                               method="POST", path=req.path, params=req.params,
                               body=req.body)  # fmt: skip
        if job.outcome == "succeed":
            self._store(job, str(body["format"]).upper(), str(body["exportName"]))
        status = f"{self.origin}/crm/v3/exports/export/async/tasks/{task_id}/status"
        return json_reply(202, {"id": task_id, "links": {"status": status}})

    def _store(self, job: FakeJob, fmt: str, name: str) -> None:
        data = hubspot_file(fmt, size=job.size, seed=job.id)
        stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "export"
        filename, content_type = f"hubspot-crm-exports-{stem}.{fmt.lower()}", _FORMATS[fmt]
        if fmt == "CSV" and len(data) > ZIP_ABOVE:
            packed = io.BytesIO()
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(filename, data)
            data, content_type = packed.getvalue(), "application/zip"
            filename = filename.removesuffix(".csv") + ".zip"
        job.extra["key"] = self.storage.put(f"hubspot/{job.id}/{filename}", data,
                                            content_type=content_type)  # fmt: skip
        job.results.append(data)

    def _status(self, job: FakeJob) -> dict[str, object]:
        now = self.config.clock()
        phase = job.phase(now)
        answer: dict[str, object] = {
            "status": _STATE.get(phase, "COMPLETE" if job.outcome == "succeed" else "CANCELED"),
            "requestedAt": iso_utc(job.created),
            "startedAt": iso_utc(job.started_at),
            "completedAt": iso_utc(min(now, job.finished_at)),
            "numErrors": 0,
            "errors": [],
            "links": {},
        }
        if answer["status"] == "COMPLETE":
            answer["result"] = self.storage.presign(job.extra["key"], ttl=LINK_TTL)
        elif answer["status"] == "CANCELED":
            error = {"category": "EXPORT_FAILED", "message": "The export could not be completed "
                     "(simulated)", "context": {}, "errors": [], "links": {},
                     "status": "CANCELED"}  # fmt: skip
            answer.update(numErrors=1, errors=[error])
        return answer

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
