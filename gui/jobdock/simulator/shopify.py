"""The fake Shopify GraphQL Admin API, as far as bulk query operations go.

`POST /admin/api/{version}/graphql.json` with the `X-Shopify-Access-Token` header (401
otherwise) and a JSON body `{"query", "variables"}` (or an `application/graphql` body):
- `mutation { bulkOperationRunQuery(query: "…") { bulkOperation { id status } userErrors {…} } }`
  starts an operation, `gid://shopify/BulkOperation/N`, CREATED; a query without a connection
  (`edges` or `nodes`) is a user error, as is one more running operation than the version allows
  (one before 2026-01, five from 2026-01);
- `node(id: …) { ... on BulkOperation { … } }`, `bulkOperation(id: …)` and
  `currentBulkOperation` read one: CREATED, RUNNING, then COMPLETED with `url`, a JSONL file
  pre-signed on the storage origin for seven days, or FAILED with an `errorCode`; past those
  seven days it is EXPIRED and its `url` null.
Only the fields a query selects are answered (read loosely: a known field name inside the
selection's braces). https://shopify.dev/docs/api/usage/bulk-operations/queries
"""

from __future__ import annotations

import json
import re
import secrets

from jobdock.simulator.config import SimConfig
from jobdock.simulator.content import shopify_file
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, iso_utc, json_reply, same_secret

LINK_TTL = 7 * 86400.0  # "url and partialDataUrl values expire after seven days"
_PATH = re.compile(r"^/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$")
_FIELDS = ("id", "status", "errorCode", "createdAt", "completedAt", "objectCount",
           "rootObjectCount", "fileSize", "url", "partialDataUrl", "query", "type")  # fmt: skip
_RUN = re.compile(r"\bbulkOperationRunQuery\s*\(\s*query\s*:\s*")
_READ = re.compile(r"\b(node|bulkOperation)\s*\(\s*id\s*:\s*(\$\w+|\"(?:[^\"\\]|\\.)*\")\s*\)")
_CURRENT = re.compile(r"\bcurrentBulkOperation\b(\s*\([^)]*\))?")
_STATUS = {Phase.QUEUED: "CREATED", Phase.RUNNING: "RUNNING"}
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def _braced(text: str, start: int) -> str:
    """The text of the first `{…}` block at or after `start` (nested braces included)."""
    begin = text.find("{", start)
    if begin < 0:
        return ""
    depth = 0
    for at in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        if depth == 0:
            return text[begin : at + 1]
    return text[begin:]


def _selected(selection: str, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if re.search(rf"(?<![\w$]){n}(?!\w)", selection)]


def _string_argument(text: str, variables: dict[str, object]) -> str | None:
    """A GraphQL argument value at the start of `text`: a block string, a string or a
    variable."""
    if text.startswith('"""'):
        end = text.find('"""', 3)
        return text[3:end] if end >= 0 else None
    if text.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        return json.loads(f'"{match.group(1)}"') if match else None
    match = re.match(r"\$(\w+)", text)
    value = variables.get(match.group(1)) if match else None
    return value if isinstance(value, str) else None


class ShopifyApi(Api):
    name = "shopify-bulk"

    def __init__(self, *, config: SimConfig, storage: StorageServer, secret: str) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.secret = secret
        self.jobs = JobBook(config)

    def route(self, req: Request) -> Reply:
        if not same_secret(req.header("X-Shopify-Access-Token"), self.secret):
            return json_reply(401, {"errors": UNAUTHORIZED})
        match = _PATH.match(req.path)
        if match is None or req.method != "POST":
            return json_reply(404, {"errors": "Not Found"})
        kind = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        variables: dict[str, object] = {}
        try:
            if kind == "application/graphql":
                query = req.body.decode()
            else:
                sent = json.loads(req.body)
                query, variables = sent["query"], sent.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return json_reply(400, {"errors": {"query": "Required parameter missing or invalid"}})
        run = _RUN.search(query)
        if run is not None:
            return self._run(req, match.group(1), query, run.end(), variables)
        read = _READ.search(query)
        if read is not None:
            field, ref = read.groups()
            gid = variables.get(ref[1:]) if ref.startswith("$") else json.loads(ref)
            job = self.jobs.get(gid) if isinstance(gid, str) else None
            return self._answer(field, job, _braced(query, read.end()))
        current = _CURRENT.search(query)
        if current is not None:
            jobs = sorted(self.jobs.all(), key=lambda j: j.created)
            latest = jobs[-1] if jobs else None
            return self._answer("currentBulkOperation", latest, _braced(query, current.end()))
        return json_reply(200, {"errors": [{"message": "The simulator answers bulk operation "
                                            "queries and mutations only"}]})  # fmt: skip

    def _run(
        self, req: Request, version: str, query: str, at: int, variables: dict[str, object]
    ) -> Reply:
        inner = _string_argument(query[at:], variables)
        rest = query[at:]
        operation = _braced(rest, rest.find("bulkOperation"))
        wanted = _selected(operation, _FIELDS)
        error_fields = _selected(_braced(rest, rest.find("userErrors")), ("field", "message",
                                                                         "code"))  # fmt: skip
        problem: tuple[str, list[str] | None, str] | None = None
        if not inner or not re.search(r"\b(edges|nodes)\b", inner):
            problem = ("INVALID", ["query"], "Bulk queries must contain at least one connection.")
        else:
            limit = 1 if version != "unstable" and version < "2026-01" else 5
            running = [j for j in self.jobs.all() if j.phase(self.config.clock()) != Phase.DONE]
            if len(running) >= limit:
                problem = ("OPERATION_IN_PROGRESS", None, "A bulk query operation for this app "
                           f"and shop is already in progress: {running[0].id}.")  # fmt: skip
        if problem is not None:
            code, field, message = problem
            error = {"field": field, "message": message, "code": code}
            errors = [{k: v for k, v in error.items() if k in error_fields}]
            payload: dict[str, object] = {"bulkOperation": None, "userErrors": errors}
            return json_reply(200, {"data": {"bulkOperationRunQuery": payload}})
        gid = f"gid://shopify/BulkOperation/{secrets.randbelow(10**12) + 10**12}"
        job = self.jobs.create(id=gid, created=req.at, controls=self.jobs.controls(req.params),
                               method="POST", path=req.path, params=req.params,
                               body=req.body, extra={"query": inner})  # fmt: skip
        if job.outcome == "succeed":
            data = shopify_file(size=job.size, seed=gid)
            key = self.storage.put(f"shopify/{gid.rsplit('/', 1)[1]}/bulk-output.jsonl", data,
                                   content_type="application/jsonl")  # fmt: skip
            job.extra["key"] = key
            job.results.append(data)
        payload = {"bulkOperation": self._operation(job, wanted), "userErrors": []}
        return json_reply(200, {"data": {"bulkOperationRunQuery": payload}})

    def _answer(self, field: str, job: FakeJob | None, selection: str) -> Reply:
        node = self._operation(job, _selected(selection, _FIELDS)) if job is not None else None
        return json_reply(200, {"data": {field: node}})

    def _operation(self, job: FakeJob, wanted: list[str]) -> dict[str, object]:
        now = self.config.clock()
        phase = job.phase(now)
        done = phase is Phase.DONE
        ok = job.outcome == "succeed"
        expired = done and now >= job.finished_at + LINK_TTL
        status = _STATUS.get(phase, "EXPIRED" if expired else "COMPLETED" if ok else "FAILED")
        url = None
        if status == "COMPLETED":
            remaining = job.finished_at + LINK_TTL - now
            url = self.storage.presign(job.extra["key"], ttl=remaining)
        lines = job.results[0].count(b"\n") if ok and done else 0
        values: dict[str, object] = {
            "id": job.id,
            "status": status,
            "errorCode": None if ok or not done else "INTERNAL_SERVER_ERROR",
            "createdAt": iso_utc(job.created),
            "completedAt": iso_utc(job.finished_at) if done and ok else None,
            "objectCount": str(lines),
            "rootObjectCount": str(lines),
            "fileSize": str(len(job.results[0])) if ok and done else None,
            "url": url,
            "partialDataUrl": None,
            "query": job.extra.get("query"),
            "type": "QUERY",
        }
        return {name: values[name] for name in wanted}

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
