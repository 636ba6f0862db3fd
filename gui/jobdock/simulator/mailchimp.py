"""The fake Mailchimp Marketing API's batch operations (`/3.0/batches`).

HTTP Basic auth with any user name and the API key as the password (401 `API Key Invalid`
otherwise). `POST /3.0/batches` with `{"operations": [{"method", "path", ...}, ...]}` answers 200
and the new batch (`id`, `status: pending`, the operation counts, `submitted_at`, an empty
`completed_at` and `response_body_url`); `GET /3.0/batches/{batch_id}` walks it through
pending, preprocessing, started and finalizing to finished, `finished_operations` counting up.
A finished batch's `response_body_url` is a pre-signed link on the storage origin to a `.tar.gz`
of JSON files, each a list of `{"status_code", "operation_id", "response"}` (the response a JSON
string), signed anew for ten minutes on every GET. The status vocabulary has no failure: a batch
whose operations fail (`sim_outcome=fail`) still finishes, every operation counted in
`errored_operations` and answered with Mailchimp's error body in the archive. Errors are
Mailchimp's problem details (`type`, `title`, `status`, `detail`, `instance`).
https://mailchimp.com/developer/marketing/api/batch-operations/
https://mailchimp.com/developer/marketing/guides/run-async-requests-batch-endpoint/
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import re
import secrets
import tarfile
import uuid
from datetime import UTC, datetime

from jobdock.simulator.config import SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, json_reply, same_secret

LINK_TTL = 600.0  # the links Mailchimp answers carry `Expires=` ten minutes after the GET
PER_FILE = 500  # operation results per JSON file of the archive
SUBMIT = "/3.0/batches"
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BATCH = re.compile(r"^/3\.0/batches/([0-9a-f]{10})$")


def mailchimp_time(ts: float) -> str:
    """`2017-04-21T11:08:15+00:00`, as Mailchimp writes times."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def problem(status: int, title: str, detail: str, **extra: object) -> Reply:
    body = {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail,
            "instance": str(uuid.uuid4()), **extra}  # fmt: skip
    data = json.dumps(body).encode()
    return Reply(status=status, body=data, content_type="application/problem+json")


def _api_key(req: Request) -> str | None:
    """The password of the request's Basic credentials (any user name)."""
    scheme, _, encoded = (req.header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        _, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if sep else None


def _operations_problem(body: object) -> str | None:
    """What is wrong with a batch request (None: nothing)."""
    if not isinstance(body, dict) or not isinstance(body.get("operations"), list):
        return "Required fields were not provided: operations"
    for n, op in enumerate(body["operations"]):
        if not isinstance(op, dict):
            return f"operations item {n} must be an object"
        if str(op.get("method", "")).upper() not in METHODS:
            return f"operations item {n}: method must be one of {', '.join(METHODS)}"
        if not isinstance(op.get("path"), str) or not op["path"]:
            return f"operations item {n}: path is required"
        if "body" in op and not isinstance(op["body"], str):
            return f"operations item {n}: body must be a string containing JSON"
    return None


def archive(batch_id: str, operations: list[dict[str, object]], *, ok: bool, at: float) -> bytes:
    """The batch's results as Mailchimp serves them: a gzipped tar of JSON files."""
    results: list[dict[str, object]] = []
    for op in operations:
        if ok:
            path = str(op["path"])
            response = {"path": path, "method": str(op["method"]).upper(), "total_items": 0}
            entry = {"status_code": 200, "response": json.dumps(response)}
        else:
            error = {"type": ERRORS_DOC, "title": "Invalid Resource", "status": 400,
                     "detail": "The operation could not be completed (simulated).",
                     "instance": str(uuid.UUID(int=len(results)))}  # fmt: skip
            entry = {"status_code": 400, "response": json.dumps(error)}
        results.append({**entry, "operation_id": op.get("operation_id")})
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=int(at)) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for start in range(0, max(len(results), 1), PER_FILE):
                data = json.dumps(results[start : start + PER_FILE]).encode()
                info = tarfile.TarInfo(f"{batch_id}-response/{start // PER_FILE + 1}.json")
                info.size, info.mtime, info.mode = len(data), int(at), 0o644
                tar.addfile(info, io.BytesIO(data))
    return packed.getvalue()


class MailchimpApi(Api):
    name = "mailchimp-batches"

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.secret = secret
        self.jobs = JobBook(config)

    def route(self, req: Request) -> Reply:
        key = _api_key(req)
        if key is None or not same_secret(key, self.secret):
            return problem(401, "API Key Invalid", "Your API key may be invalid, or you've "
                           "attempted to access the wrong datacenter.")  # fmt: skip
        if req.path == SUBMIT and req.method == "POST":
            return self._submit(req)
        match = _BATCH.match(req.path)
        job = self.jobs.get(match.group(1)) if match and req.method == "GET" else None
        if job is None:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        return json_reply(200, self._batch(job))

    def _submit(self, req: Request) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, ValueError):
            return problem(400, "JSON Schema Validation Error",
                           "We encountered an unspecified JSON parsing error.")  # fmt: skip
        wrong = _operations_problem(body)
        if wrong is not None:
            return problem(400, "Invalid Resource", "The resource submitted could not be "
                           "validated. For field-specific details, see the 'errors' array.",
                           errors=[{"field": "operations", "message": wrong}])  # fmt: skip
        batch_id = secrets.token_hex(5)
        job = self.jobs.create(id=batch_id, created=req.at, controls=self.jobs.controls(req.params),
                               method="POST", path=req.path, params=req.params,
                               body=req.body)  # fmt: skip
        operations = body["operations"]
        job.extra["total"] = len(operations)
        ok = job.outcome == "succeed"
        job.extra["errored"] = 0 if ok else len(operations)
        data = archive(batch_id, operations, ok=ok, at=job.finished_at)
        job.extra["key"] = self.storage.put(f"mailchimp/{batch_id}-response.tar.gz", data,
                                            content_type="application/x-tar")  # fmt: skip
        job.results.append(data)
        return json_reply(200, self._batch(job))

    def _batch(self, job: FakeJob) -> dict[str, object]:
        now = self.config.clock()
        phase, total = job.phase(now), int(job.extra["total"])
        status, finished = "pending", 0
        if phase is Phase.DONE:
            status, finished = "finished", total
        elif phase is Phase.RUNNING:
            share = (now - job.started_at) / max(job.finished_at - job.started_at, 1e-9)
            status = "preprocessing" if share < 0.2 else "started" if share < 0.8 else "finalizing"
            finished = min(total, int(total * share / 0.8))
        link = f"{self.origin}/3.0/batches/{job.id}"
        return {
            "id": job.id,
            "status": status,
            "total_operations": total,
            "finished_operations": finished,
            "errored_operations": int(job.extra["errored"]) if status == "finished" else 0,
            "submitted_at": mailchimp_time(job.created),
            "completed_at": mailchimp_time(job.finished_at) if status == "finished" else "",
            "response_body_url": (
                self.storage.presign(job.extra["key"], ttl=LINK_TTL) if status == "finished" else ""
            ),
            "_links": [
                {"rel": "parent", "href": f"{self.origin}/3.0/batches", "method": "GET"},
                {"rel": "self", "href": link, "method": "GET"},
                {"rel": "delete", "href": link, "method": "DELETE"},
            ],
        }

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
