"""The fake Databricks SQL Statement Execution API 2.0 (`/api/2.0/sql/statements`).

`Authorization: Bearer <token>` on every request (401 `UNAUTHENTICATED` otherwise). POST a
statement (`statement`, `warehouse_id`, `disposition` INLINE or EXTERNAL_LINKS, `format`
JSON_ARRAY, ARROW_STREAM or CSV, `wait_timeout` 0s or 5s to 50s) and it answers its `statement_id`
and `status.state`: PENDING, RUNNING, then SUCCEEDED (or FAILED with `status.error`, CANCELED
with `sim_outcome=cancel` or after `POST …/cancel`; a succeeded statement cancelled is CLOSED).
`GET /api/2.0/sql/statements/{id}` polls it; once SUCCEEDED it carries the `manifest` and, under
`result`, chunk 0. `GET …/result/chunks/{n}` answers chunk n. With EXTERNAL_LINKS every chunk is
`external_links: [{chunk_index, row_offset, row_count, byte_count, external_link, expiration,
next_chunk_index, next_chunk_internal_link}]`, the link pre-signed on the storage origin anew on
every answer for at most 15 minutes (`SimConfig.link_ttl` when shorter); every odd-numbered chunk
(1, 3, …) is stored encrypted with a customer key (S3 SSE-C), so its link carries `http_headers`
("HTTP headers that must be included with a GET request to the external_link … typically used
to pass a decryption key") and the storage refuses a GET without them; with INLINE the chunk's
rows are in `data_array`. `sim_files` is the number of chunks (default 2), `sim_size` the size of
each. Errors are `{"error_code", "message"}`.
https://docs.databricks.com/api/statement-execution/v1/execute-statement
https://docs.databricks.com/api/statement-execution/v1/get-statement-result
https://docs.databricks.com/api/statement-execution/v1/get-result-data
https://databricks.github.io/sdk-js/api/interfaces/_databricks_sdk-statementexecution.v1.ExternalLink.html
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import uuid

from jobdock.simulator.config import SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, iso_utc, json_reply, same_secret

LINK_TTL = 900.0  # "The URLs are valid for only a short period, <= 15 minutes"
SUBMIT = "/api/2.0/sql/statements"
_STATEMENT = re.compile(r"^/api/2\.0/sql/statements/([0-9a-f-]{36})$")
_CHUNK = re.compile(r"^/api/2\.0/sql/statements/([0-9a-f-]{36})/result/chunks/(\d+)$")
_CANCEL = re.compile(r"^/api/2\.0/sql/statements/([0-9a-f-]{36})/cancel$")
_FORMATS = {
    "JSON_ARRAY": "application/json",
    "ARROW_STREAM": "application/vnd.apache.arrow.stream",
    "CSV": "text/csv",
}
_STATE = {Phase.QUEUED: "PENDING", Phase.RUNNING: "RUNNING"}
_COLUMNS = (("trip_id", "BIGINT"), ("pickup_zip", "INT"), ("fare_amount", "DOUBLE"),
            ("pickup_time", "TIMESTAMP"))  # fmt: skip
_WAIT = re.compile(r"^(\d+)s$")


_PRIVATE = ("key", "http_headers")  # kept beside a chunk, never in its manifest entry


def sse_c_headers() -> tuple[tuple[str, str], ...]:
    """A fresh customer key's S3 SSE-C headers (algorithm, the key, its MD5), both base64."""
    key = secrets.token_bytes(32)
    digest = hashlib.md5(key).digest()  # SSE-C names the key by its MD5
    return (
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", base64.b64encode(key).decode()),
        ("x-amz-server-side-encryption-customer-key-MD5", base64.b64encode(digest).decode()),
    )


def error_reply(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"error_code": code, "message": message})


def _rows(seed: str) -> list[list[str | None]]:
    rng = random.Random(seed)
    return [
        [str(rng.randrange(10**9, 10**10)), str(rng.randrange(10001, 11999)),
         f"{rng.uniform(2.5, 80):.2f}" if n % 23 else None,
         f"2016-02-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.000Z"]
        for n in range(400)
    ]  # fmt: skip


def chunk_file(fmt: str, *, size: int, seed: str, header: bool) -> tuple[bytes, int]:
    """One chunk of a result in `fmt`, whole rows up to about `size` bytes, and its row count.
    CSV rows are RFC 4180 lines (the header only in chunk 0, as one file cut into chunks),
    JSON_ARRAY an array of arrays of strings (NULL as null), ARROW_STREAM a labelled pattern
    behind the IPC stream's continuation marker (the simulator builds no Arrow batches)."""
    rows = _rows(seed)
    if fmt == "ARROW_STREAM":
        count = max(1, size // 64)
        block = bytes((i * 31) % 256 for i in range(64))
        return (b"\xff\xff\xff\xff" + block * count)[: max(size, 68)], count
    if fmt == "JSON_ARRAY":
        parts: list[str] = []
        used = 2
        while not parts or used + len(json.dumps(rows[len(parts) % len(rows)])) + 1 <= size:
            parts.append(json.dumps(rows[len(parts) % len(rows)]))
            used += len(parts[-1]) + 1
        return ("[" + ",".join(parts) + "]").encode(), len(parts)
    head = ",".join(name for name, _ in _COLUMNS) + "\r\n" if header else ""
    lines: list[str] = []
    used = len(head)
    while not lines or used + len(_csv(rows[len(lines) % len(rows)])) <= size:
        lines.append(_csv(rows[len(lines) % len(rows)]))
        used += len(lines[-1])
    return (head + "".join(lines)).encode(), len(lines)


def _csv(row: list[str | None]) -> str:
    return ",".join("" if v is None else v for v in row) + "\r\n"


def _problem(body: object) -> str | None:
    """What is wrong with an Execute Statement request (None: nothing)."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    for name in ("statement", "warehouse_id"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            return f"{name} is required"
    disposition = body.get("disposition", "INLINE")
    fmt = body.get("format", "JSON_ARRAY")
    if disposition not in ("INLINE", "EXTERNAL_LINKS"):
        return f"Invalid disposition: {disposition!r}"
    if fmt not in _FORMATS:
        return f"Invalid format: {fmt!r}"
    if disposition == "INLINE" and fmt != "JSON_ARRAY":
        return f"format {fmt} is only supported with disposition EXTERNAL_LINKS"
    wait = _WAIT.match(str(body.get("wait_timeout", "10s")))
    if wait is None or not (int(wait.group(1)) == 0 or 5 <= int(wait.group(1)) <= 50):
        return "wait_timeout must be 0s or between 5s and 50s"
    if body.get("on_wait_timeout", "CONTINUE") not in ("CONTINUE", "CANCEL"):
        return "on_wait_timeout must be CONTINUE or CANCEL"
    return None


class DatabricksApi(Api):
    name = "databricks-sql"

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.secret = secret
        self.jobs = JobBook(config)

    def route(self, req: Request) -> Reply:
        auth = req.header("Authorization") or ""
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if not same_secret(token, self.secret):
            return error_reply(401, "UNAUTHENTICATED", "Invalid access token.")
        path = req.path.rstrip("/")
        if path == SUBMIT:
            if req.method != "POST":
                return error_reply(405, "BAD_REQUEST", f"{req.method} is not supported")
            return self._submit(req)
        for pattern, method, answer in (
            (_STATEMENT, "GET", self._statement_reply),
            (_CHUNK, "GET", self._chunk_reply),
            (_CANCEL, "POST", self._cancel),
        ):
            match = pattern.match(path)
            if match is None:
                continue
            job = self.jobs.get(match.group(1))
            if job is None:
                return error_reply(404, "NOT_FOUND", f"Statement {match.group(1)} not found")
            if req.method != method:
                return error_reply(405, "BAD_REQUEST", f"{req.method} is not supported")
            return answer(job, *match.groups()[1:])
        return error_reply(404, "NOT_FOUND", f"No API found for '{req.method} {req.path}'")

    def _submit(self, req: Request) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return error_reply(400, "INVALID_PARAMETER_VALUE", "Request body is not valid JSON")
        problem = _problem(body)
        if problem is not None:
            return error_reply(400, "INVALID_PARAMETER_VALUE", problem)
        u = uuid.uuid4().hex
        statement_id = f"01{u[2:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"
        job = self.jobs.create(
            id=statement_id, created=req.at, controls=self.jobs.controls(req.params),
            method="POST", path=SUBMIT, params=req.params, body=req.body,
            extra={"format": body.get("format", "JSON_ARRAY"),
                   "disposition": body.get("disposition", "INLINE")},
        )  # fmt: skip
        if job.outcome == "succeed":
            self._store_chunks(job)
        return json_reply(200, self._statement(job))

    def _store_chunks(self, job: FakeJob) -> None:
        fmt = job.extra["format"]
        chunks, offset = [], 0
        for index in range(max(1, job.files)):
            data, rows = chunk_file(fmt, size=job.size, seed=f"{job.id}/{index}",
                                    header=index == 0)  # fmt: skip
            headers = sse_c_headers() if index % 2 else ()
            key = self.storage.put(f"databricks/{job.id}/chunk_{index}", data,
                                   content_type=_FORMATS[fmt],
                                   required_headers=headers)  # fmt: skip
            chunks.append({"chunk_index": index, "row_offset": offset, "row_count": rows,
                           "byte_count": len(data), "key": key,
                           "http_headers": dict(headers)})  # fmt: skip
            offset += rows
            job.results.append(data)
        job.extra["chunks"] = chunks

    def _state(self, job: FakeJob) -> str:
        phase = job.phase(self.config.clock())
        if job.extra.get("cancelled"):
            return "CLOSED" if job.extra["cancelled"] == "closed" else "CANCELED"
        if phase is not Phase.DONE:
            return _STATE[phase]
        return {"succeed": "SUCCEEDED", "cancel": "CANCELED"}.get(job.outcome, "FAILED")

    def _statement(self, job: FakeJob) -> dict[str, object]:
        state = self._state(job)
        answer: dict[str, object] = {"statement_id": job.id, "status": {"state": state}}
        if state == "FAILED":
            answer["status"] = {"state": state, "sql_state": "42P01", "error": {
                "error_code": "BAD_REQUEST",
                "message": "[TABLE_OR_VIEW_NOT_FOUND] The table or view `samples`.`nyctaxi`."
                           "`trip` cannot be found (simulated)",
            }}  # fmt: skip
        if state == "SUCCEEDED":
            chunks = job.extra["chunks"]
            answer["manifest"] = {
                "format": job.extra["format"],
                "schema": {"column_count": len(_COLUMNS), "columns": [
                    {"name": name, "type_text": kind, "type_name": kind, "position": n}
                    for n, (name, kind) in enumerate(_COLUMNS)
                ]},
                "total_chunk_count": len(chunks),
                "chunks": [{k: v for k, v in c.items() if k not in _PRIVATE} for c in chunks],
                "total_row_count": sum(c["row_count"] for c in chunks),
                "total_byte_count": sum(c["byte_count"] for c in chunks),
                "truncated": False,
            }  # fmt: skip
            answer["result"] = self._chunk(job, 0)
        return answer

    def _chunk(self, job: FakeJob, index: int) -> dict[str, object]:
        chunk = job.extra["chunks"][index]
        meta = {k: v for k, v in chunk.items() if k not in _PRIVATE}
        following: dict[str, object] = {}
        if index + 1 < len(job.extra["chunks"]):
            following = {"next_chunk_index": index + 1, "next_chunk_internal_link":
                         f"{SUBMIT}/{job.id}/result/chunks/{index + 1}"}  # fmt: skip
        if job.extra["disposition"] == "INLINE":
            rows = json.loads(self.storage.object_bytes(chunk["key"]))
            return {**meta, **following, "data_array": rows}
        ttl = min(self.config.link_ttl, LINK_TTL)
        signed_at = self.config.clock()
        link = {**meta, "external_link": self.storage.presign(chunk["key"], ttl=ttl),
                "expiration": iso_utc(signed_at + ttl), **following}  # fmt: skip
        if chunk["http_headers"]:
            link["http_headers"] = dict(chunk["http_headers"])
        return {"external_links": [link]}

    def _statement_reply(self, job: FakeJob) -> Reply:
        return json_reply(200, self._statement(job))

    def _chunk_reply(self, job: FakeJob, index: str) -> Reply:
        if self._state(job) != "SUCCEEDED":
            return error_reply(400, "BAD_REQUEST",
                               f"Statement {job.id} has no result to fetch")  # fmt: skip
        if int(index) >= len(job.extra["chunks"]):
            return error_reply(400, "INVALID_PARAMETER_VALUE",
                               f"chunk_index {index} is out of range")  # fmt: skip
        return json_reply(200, self._chunk(job, int(index)))

    def _cancel(self, job: FakeJob) -> Reply:
        state = self._state(job)
        if state in ("PENDING", "RUNNING"):
            job.extra["cancelled"] = "cancelled"
        elif state == "SUCCEEDED":
            job.extra["cancelled"] = "closed"  # the result is no longer available
        return json_reply(200, {})

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
