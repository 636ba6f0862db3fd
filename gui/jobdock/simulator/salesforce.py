"""A fake Salesforce org: Bulk API 2.0 query jobs and the org's OAuth 2.0 token endpoint.

`POST /services/oauth2/token` (the org's My Domain, as the client credentials flow requires)
takes `grant_type=client_credentials` with the external client app's consumer key and secret as
`client_id` and `client_secret`, and answers `access_token`, `signature`, `scope`,
`instance_url`, `id`, `token_type` and `issued_at` (epoch milliseconds) — no `expires_in`: a
session lasts until it times out or is revoked (`revoke_sessions()`), and then every API call
answers 401 `INVALID_SESSION_ID`. It also takes `grant_type=refresh_token` (the refresh token
flow, for a connected app of the web server flow) with the same key and secret and the user's
`refresh_token`, and answers as that flow is documented: `access_token`, `signature`,
`instance_url`, `id`, `token_type` and `issued_at`, no new refresh token (the app does not
rotate them); a refresh token that is not the user's is 400 `invalid_grant` "expired
access/refresh token". With `SimConfig.salesforce_rotate_refresh_tokens` the app has refresh
token rotation on: each answer carries a new `refresh_token` too, the one sent is invalidated
(`invalid_grant` from then on), and an invalidated one used again revokes the current refresh
token and the sessions it gave ("any attempted reuse of an invalidated refresh token results in
the immediate revocation of the current refresh token and all associated access tokens").
Token errors are `{"error", "error_description"}` bodies.

`POST /services/data/vXX.X/jobs/query` with `{"operation": "query" | "queryAll", "query":
SOQL}` (and optionally `columnDelimiter`, `lineEnding`) creates a job: an 18-character id
starting `750`, `state` UploadComplete, then InProgress, then JobComplete (Failed with an
`errorMessage` for `sim_outcome=fail`, Aborted for `sim_outcome=cancel` or after `PATCH
…/jobs/query/{id}` with `{"state": "Aborted"}`). `GET …/jobs/query/{id}` reads it; once complete
it carries `numberRecordsProcessed`, `retries` and `totalProcessingTime`.
`GET …/jobs/query/{id}/results[?locator=…&maxRecords=…]` answers one set of the result as CSV
(the header row, then the records, quoted, LF line endings unless `lineEnding` said CRLF), with
`Sforce-NumberOfRecords` and `Sforce-Locator` (the next set's locator, the string `null` after the
last). A set holds at most `maxRecords` records and at most what fits in about `sim_size` bytes
(the service's own size limit), so a job has `sim_files` sets (default 2) when `maxRecords` is
larger. Locators do not change while the job exists. The results must be asked for with the API
version the job was created with (409 otherwise), and are gzip-encoded when the request accepts
it. API errors are `[{"errorCode", "message"}]` lists.
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_create_job.htm
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_one_job.htm
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_job_results.htm
https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_client_credentials_flow.htm
https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_refresh_token_flow.htm
https://help.salesforce.com/s/articleView?id=005316711 (refresh token rotation)
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import secrets
import string
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from jobdock.simulator.config import DemoProfile, SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import Reply, Request, json_reply, same_secret

TOKEN_PATH = "/services/oauth2/token"
ORG_ID = "00D5g00000KXLMyEAP"
USER_ID = "0055g00000EXAMPLEAA"
_JOBS = re.compile(r"^/services/data/v(\d+\.\d)/jobs/query$")
_JOB = re.compile(r"^/services/data/v(\d+\.\d)/jobs/query/(750[0-9A-Za-z]{15})(/results)?$")
_FROM = re.compile(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_SELECT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s", re.IGNORECASE | re.DOTALL)
_STATE = {Phase.QUEUED: "UploadComplete", Phase.RUNNING: "InProgress"}
_NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell")
SESSION_EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def api_error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, [{"errorCode": code, "message": message}])


def not_allowed(method: str, allowed: str) -> Reply:
    message = f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    return api_error(405, "METHOD_NOT_ALLOWED", message)


def _stamp(ts: float) -> str:
    """`2022-01-02T17:38:59.000+0000`, as the job info shows its dates."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(ts * 1000) % 1000:03d}+0000"
    )


def _locator(offset: int) -> str:
    """A set's locator: a pseudo-random looking string that stays the same (`MTAwMDA`)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int | None:
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True))
    except (ValueError, TypeError):
        return None


def _refresh_token() -> str:
    return "5Aep861" + secrets.token_urlsafe(60)


class SalesforceSessions:
    """The org's external client app (consumer key and secret), the refresh token a user's
    web-server-flow authorization gave it, and the sessions it has issued."""

    def __init__(self, secret: str) -> None:
        self.client_id = "3MVG9" + "".join(
            secrets.choice(string.ascii_letters + string.digits + "._") for _ in range(80)
        )
        self.client_secret = secret
        self.refresh_token: str | None = _refresh_token()  # None: revoked
        self._lock = threading.Lock()
        self._live: set[str] = set()
        self._issued: list[str] = []
        self._refresh_tokens = [self.refresh_token]  # every one the user's app was given
        self._rotated_out: list[str] = []  # invalidated by a rotation
        self._by_refresh: set[str] = set()  # the sessions the refresh token grant gave

    def issue(self, *, by_refresh: bool = False) -> str:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self._live.add(token)
            self._issued.append(token)
            if by_refresh:
                self._by_refresh.add(token)
        return token

    def refresh(self, given: str | None, *, rotate: bool) -> tuple[bool, str | None]:
        """The refresh token grant with `given`: whether it is taken, and the new refresh token
        when `rotate` (the one given is invalidated). An invalidated one given again revokes
        the current refresh token and the sessions the grant gave."""
        with self._lock:
            current = self.refresh_token
            if current is not None and same_secret(given, current):
                if not rotate:
                    return True, None
                new = _refresh_token()
                self._rotated_out.append(current)
                self._refresh_tokens.append(new)
                self.refresh_token = new
                return True, new
            if rotate and any(same_secret(given, old) for old in self._rotated_out):
                if current is not None:
                    self._rotated_out.append(current)
                self.refresh_token = None
                self._live -= self._by_refresh
            return False, None

    def refresh_tokens(self) -> list[str]:
        with self._lock:
            return list(self._refresh_tokens)

    def valid(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        with self._lock:
            return scheme.lower() == "bearer" and token.strip() in self._live

    def revoke(self) -> None:
        with self._lock:
            self._live.clear()

    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)


class SalesforceApi(Api):
    """One org's instance: its token endpoint and Bulk API 2.0 query jobs (see above)."""

    name = "salesforce-bulk-query"

    def __init__(self, *, config: SimConfig, secret: str) -> None:
        super().__init__()
        self.config = config
        self.sessions = SalesforceSessions(secret)
        self.jobs = JobBook(config)

    def demo_profile(self, origin: Callable[[str], str]) -> DemoProfile:
        """The demo's account: the external client app's key and secret, its token endpoint."""
        return DemoProfile(
            secrets={"client_id": self.sessions.client_id,
                     "client_secret": self.sessions.client_secret},
            options={"token_url": f"{origin(self.name)}/services/oauth2/token"},
        )  # fmt: skip

    @property
    def secret(self) -> str:
        """The consumer secret (the demo's saved state restores it)."""
        return self.sessions.client_secret

    @secret.setter
    def secret(self, value: str) -> None:
        self.sessions.client_secret = value

    def revoke_sessions(self) -> None:
        """Every access token issued so far stops working (a session timeout, a revocation)."""
        self.sessions.revoke()

    def route(self, req: Request) -> Reply:
        if req.path == TOKEN_PATH:
            return self._token(req)
        if not self.sessions.valid(req.header("Authorization")):
            return json_reply(401, SESSION_EXPIRED)
        match = _JOBS.match(req.path)
        if match is not None:
            if req.method != "POST":
                return not_allowed(req.method, "POST")
            return self._create(req, match.group(1))
        match = _JOB.match(req.path)
        if match is None:
            return api_error(404, "NOT_FOUND", "The requested resource does not exist")
        version, job_id, results = match.groups()
        job = self.jobs.get(job_id)
        if job is None:
            return api_error(404, "NOT_FOUND", "The requested resource does not exist")
        if results:
            if req.method != "GET":
                return not_allowed(req.method, "GET")
            return self._results(req, job, version)
        if req.method == "GET":
            return json_reply(200, self.info(job))
        if req.method == "PATCH":
            return self._abort(req, job)
        return not_allowed(req.method, "GET,PATCH,DELETE")

    # OAuth 2.0 ---------------------------------------------------------------------------
    def _token(self, req: Request) -> Reply:
        if req.method != "POST":
            return json_reply(405, {"error": "invalid_request",
                                    "error_description": "must use HTTP POST"})  # fmt: skip
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant not in ("client_credentials", "refresh_token"):
            return json_reply(400, {"error": "unsupported_grant_type",
                                    "error_description": "grant type not supported"})  # fmt: skip
        if form.get("client_id") != self.sessions.client_id:
            return json_reply(400, {"error": "invalid_client_id",
                                    "error_description": "client identifier invalid"})  # fmt: skip
        if not same_secret(form.get("client_secret"), self.sessions.client_secret):
            return json_reply(400, {"error": "invalid_client",
                                    "error_description": "invalid client credentials"})  # fmt: skip
        rotated = None
        if grant == "refresh_token":
            rotate = self.config.salesforce_rotate_refresh_tokens
            taken, rotated = self.sessions.refresh(form.get("refresh_token"), rotate=rotate)
            if not taken:
                expired = "expired access/refresh token"
                return json_reply(400, {"error": "invalid_grant", "error_description": expired})
        token = self.sessions.issue(by_refresh=grant == "refresh_token")
        issued_at = str(int(self.config.clock() * 1000))
        signature = base64.b64encode(secrets.token_bytes(32)).decode()
        answer = {
            "access_token": token, "signature": signature, "scope": "api",
            "instance_url": self.origin, "id": f"{self.origin}/id/{ORG_ID}/{USER_ID}",
            "token_type": "Bearer", "issued_at": issued_at,
        }  # fmt: skip
        if grant == "refresh_token":  # the refresh token flow's answer has no scope
            del answer["scope"]
        if rotated is not None:
            answer["refresh_token"] = rotated
        return json_reply(200, answer)

    # Query jobs --------------------------------------------------------------------------
    def _create(self, req: Request, version: str) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return api_error(400, "JSON_PARSER_ERROR", "Unexpected character in the request body")
        if not isinstance(body, dict):
            return api_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return api_error(400, "INVALIDJOB",
                             f"InvalidJob : Invalid operation: {operation!r}")  # fmt: skip
        query = body.get("query")
        found = _FROM.search(query) if isinstance(query, str) else None
        fields = _SELECT.match(query) if isinstance(query, str) else None
        if found is None or fields is None:
            return api_error(400, "API_ERROR", "query: a SOQL SELECT … FROM … query is required")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in ("BACKQUOTE", "CARET", "COMMA", "PIPE", "SEMICOLON", "TAB"):
            return api_error(
                400, "INVALIDJOB", f"InvalidJob : Invalid columnDelimiter: {delimiter}"
            )
        if line_ending not in ("LF", "CRLF"):
            return api_error(400, "INVALIDJOB", f"InvalidJob : Invalid lineEnding: {line_ending}")
        job_id = "750" + "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(15)
        )
        columns = [c.strip() for c in fields.group(1).split(",") if c.strip()]
        job = self.jobs.create(
            id=job_id, created=req.at, controls=self.jobs.controls(req.params), method="POST",
            path=req.path, params=req.params, body=req.body,
            extra={"version": version, "operation": operation, "object": found.group(1),
                   "columns": columns, "delimiter": delimiter, "line_ending": line_ending},
        )  # fmt: skip
        self._make_records(job)
        return json_reply(200, self.info(job))

    def _make_records(self, job: FakeJob) -> None:
        """The result's records: `sim_files` sets of about `sim_size` bytes each."""
        rng = random.Random(job.id)

        def row(n: int) -> list[str]:
            values = []
            for column in job.extra["columns"]:
                name = column.lower()
                if name == "id":
                    values.append("001" + "".join(rng.choice(string.ascii_letters)
                                                  for _ in range(15)))  # fmt: skip
                elif "name" in name:
                    values.append(f"{rng.choice(_NAMES)} {n}")
                else:
                    values.append(str(rng.randrange(10**6)))
            return values

        first = row(0)
        per_set = max(1, min(5000, job.size // max(1, len(_csv(job, [first])))))
        rows = [first, *(row(n) for n in range(1, per_set * max(1, job.files)))]
        job.extra["rows"] = rows
        job.extra["set_rows"] = per_set

    def _state(self, job: FakeJob) -> str:
        if job.extra.get("aborted"):
            return "Aborted"
        phase = job.phase(self.config.clock())
        if phase is not Phase.DONE:
            return _STATE[phase]
        return {"succeed": "JobComplete", "cancel": "Aborted"}.get(job.outcome, "Failed")

    def info(self, job: FakeJob) -> dict[str, object]:
        """The job as `GET …/jobs/query/{id}` answers it now."""
        state = self._state(job)
        now = self.config.clock()
        answer: dict[str, object] = {
            "id": job.id, "operation": job.extra["operation"], "object": job.extra["object"],
            "createdById": USER_ID, "createdDate": _stamp(job.created),
            "systemModstamp": _stamp(min(now, job.finished_at)), "state": state,
            "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(job.extra["version"]), "jobType": "V2Query",
            "lineEnding": job.extra["line_ending"], "columnDelimiter": job.extra["delimiter"],
        }  # fmt: skip
        if state == "Failed":
            answer["errorMessage"] = (
                f"INVALID_FIELD: No such column 'Nmae' on entity '{job.extra['object']}' "
                "(simulated)"
            )
        if state in ("JobComplete", "Failed", "Aborted"):
            done = state == "JobComplete"
            answer["numberRecordsProcessed"] = len(job.extra["rows"]) if done else 0
            answer["retries"] = 0
            answer["totalProcessingTime"] = int(1000 * (job.duration - job.queue))
        return answer

    def _abort(self, req: Request, job: FakeJob) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            return api_error(400, "INVALIDJOB", "InvalidJob : Invalid state for the query job")
        if self._state(job) not in ("UploadComplete", "InProgress"):
            message = f"InvalidJob : Job {job.id} is already in a terminal state"
            return api_error(400, "INVALIDJOB", message)
        job.extra["aborted"] = True
        return json_reply(200, self.info(job))

    def _results(self, req: Request, job: FakeJob, version: str) -> Reply:
        if version != job.extra["version"]:
            message = (
                "Use the same API version to get the results of a query job: the job "
                f"was created with v{job.extra['version']}"
            )
            return api_error(409, "API_ERROR", message)
        if self._state(job) != "JobComplete":
            return api_error(400, "API_ERROR",
                             f"Results are only available for a job in the JobComplete state: "
                             f"{job.id} is {self._state(job)}")  # fmt: skip
        params = req.params
        offset = _offset(params["locator"]) if "locator" in params else 0
        if offset is None or not 0 <= offset <= len(job.extra["rows"]):
            return api_error(400, "INVALID_LOCATOR", "Invalid locator")
        try:
            most = int(params.get("maxRecords", "0")) or job.extra["set_rows"]
        except ValueError:
            return api_error(400, "API_ERROR", "maxRecords must be a positive integer")
        if most <= 0:
            return api_error(400, "API_ERROR", "maxRecords must be a positive integer")
        count = min(most, job.extra["set_rows"])
        body, records = self.result_set(job, offset, count)
        end = offset + records
        locator = _locator(end) if end < len(job.extra["rows"]) else "null"
        headers: list[tuple[str, str]] = [
            ("Sforce-NumberOfRecords", str(records)), ("Sforce-Locator", locator),
        ]  # fmt: skip
        if "gzip" in (req.header("Accept-Encoding") or "").lower():
            body = gzip.compress(body, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
        return Reply(status=200, body=body, content_type="text/csv", headers=tuple(headers))

    def result_set(self, job: FakeJob, offset: int, count: int) -> tuple[bytes, int]:
        """One set of the result's CSV, from record `offset`, and how many records it holds."""
        rows = job.extra["rows"][offset : offset + count]
        return _csv(job, [job.extra["columns"], *rows]), len(rows)

    def expected_results(self, remote_id: str, max_records: int = 50000) -> list[bytes]:
        """Every set of a completed job's result, as the bundled profile's `maxRecords` asks."""
        job = self.jobs.get(remote_id)
        if job is None or self._state(job) != "JobComplete":
            return []
        sets: list[bytes] = []
        offset = 0
        while offset < len(job.extra["rows"]) or not sets:
            body, records = self.result_set(job, offset, min(max_records, job.extra["set_rows"]))
            sets.append(body)
            offset += max(records, 1)
        return sets


_DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";",
               "TAB": "\t"}  # fmt: skip


def _csv(job: FakeJob, rows: list[list[str]]) -> bytes:
    sep = _DELIMITERS[job.extra["delimiter"]]
    eol = "\r\n" if job.extra["line_ending"] == "CRLF" else "\n"
    quoted = (sep.join('"' + v.replace('"', '""') + '"' for v in row) + eol for row in rows)
    return "".join(quoted).encode()
