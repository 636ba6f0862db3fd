"""A fake Amazon Selling Partner API (the Reports API v2021-06-30) and its Login with Amazon
(LWA) token endpoint.

Reports (https://developer-docs.amazon.com/sp-api/docs/request-a-report, the model
https://github.com/amzn/selling-partner-api-models, `reports_2021-06-30.json`):
- `POST /reports/2021-06-30/reports` with a `CreateReportSpecification` (`reportType` and
  `marketplaceIds`, 1 to 25, required; `dataStartTime`, `dataEndTime` ISO 8601 and not in the
  future; `reportOptions` strings) answers `202 {"reportId"}`;
- `GET /reports/2021-06-30/reports/{reportId}` answers the `Report`: `processingStatus`
  `IN_QUEUE`, `IN_PROGRESS`, then `DONE` with a `reportDocumentId`, `FATAL` (with a document
  that says why) or `CANCELLED` (none: cancelled, or no data);
- `GET /reports/2021-06-30/documents/{reportDocumentId}` answers the `ReportDocument`: a `url`
  pre-signed on the storage origin for five minutes (signed anew on every call) and, for a
  compressed document, `compressionAlgorithm: GZIP`.
Every request needs `x-amz-access-token` with an LWA access token the token endpoint issued that
has not expired; without one SP-API answers 403 (not 401) `Unauthorized` ("Access to requested
resource is denied."), its `details` saying why for a token it issued: "The access token you
provided has expired." or, after `revoke_tokens()` (revoked early), "The access token you provided
is revoked, malformed or invalid."
(https://developer-docs.amazon.com/sp-api/docs/resolve-common-http-and-authorization-error-codes).
`deny()` refuses every token, new ones too (an app without the role the operation needs).
Errors are `{"errors": [{"code", "message", "details"}]}`.

The token endpoint (`POST /auth/o2/token`, as https://api.amazon.com/auth/o2/token) takes the
`refresh_token` grant with `client_id` and `client_secret` as form fields
(https://developer-docs.amazon.com/sp-api/docs/connecting-to-the-selling-partner-api, step 1)
and answers `access_token`, `token_type`, `expires_in` (3600) and `refresh_token`; its errors are
RFC 6749 §5.2 bodies.

Simulator controls besides docs/simulator.md's: `sim_compression=GZIP` on the createReport
request makes the document gzip-compressed.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl

from jobdock.simulator.config import DemoProfile, SimConfig
from jobdock.simulator.content import amazon_report
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.storage import StorageServer
from jobdock.simulator.wire import Reply, Request, iso_utc, json_reply, same_secret

TOKEN_TTL = 3600  # "An LWA access token expires one hour after it is issued."
LINK_TTL = 300.0  # getReportDocument's url "expires after 5 minutes"
VERSION = "/reports/2021-06-30"
_REPORT = re.compile(rf"^{VERSION}/reports/(\d+)$")
_DOCUMENT = re.compile(rf"^{VERSION}/documents/(amzn1\.spdoc\.1\.4\.[a-z]{{2}}\.[0-9a-f-]+)$")
_STATUS = {Phase.QUEUED: "IN_QUEUE", Phase.RUNNING: "IN_PROGRESS"}
_ENDED = {"succeed": "DONE", "fail": "FATAL", "cancel": "CANCELLED"}
DENIED = "Access to requested resource is denied."
EXPIRED = "The access token you provided has expired."
REVOKED = "The access token you provided is revoked, malformed or invalid."


def sp_error(status: int, code: str, message: str, details: str = "") -> Reply:
    """SP-API's `ErrorList` body."""
    return json_reply(status, {"errors": [{"code": code, "message": message, "details": details}]})


def _problem(body: object, now: float) -> str | None:
    """What is wrong with a `CreateReportSpecification` (None: nothing)."""
    if not isinstance(body, dict):
        return "The request body must be a CreateReportSpecification object"
    if not isinstance(body.get("reportType"), str) or not body["reportType"]:
        return "reportType is required"
    ids = body.get("marketplaceIds")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 25:
        return "marketplaceIds must list 1 to 25 marketplace identifiers"
    if not all(isinstance(i, str) and i for i in ids):
        return "marketplaceIds must be strings"
    for name in ("dataStartTime", "dataEndTime"):
        if name in body:
            when = body[name]
            try:
                parsed = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
            except ValueError:
                return f"{name} must be an ISO 8601 date-time, got {when!r}"
            if parsed.tzinfo is not None and parsed.timestamp() > now + 60:
                return f"{name} must be prior to or equal to the current date and time"
    options = body.get("reportOptions", {})
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        return "reportOptions must map names to strings"
    return None


class LwaTokens:
    """The LWA client the token endpoint knows, its refresh token, and the access tokens it
    has issued."""

    def __init__(self, config: SimConfig, refresh_token: str) -> None:
        self.config = config
        self.client_id = f"amzn1.application-oa2-client.{secrets.token_hex(16)}"
        self.client_secret = f"amzn1.oa2-cs.v1.{secrets.token_hex(32)}"
        self.refresh_token = refresh_token
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}  # access token: expiry
        self._revoked: set[str] = set()
        self.denied = False  # every token refused (`deny()`)

    def issue(self) -> str:
        token = f"Atza|sim-{secrets.token_urlsafe(40)}"
        with self._lock:
            self._issued[token] = self.config.clock() + TOKEN_TTL
        return token

    def refusal(self, token: str | None) -> str | None:
        """Why SP-API refuses `token` (the 403's `details`; "" when it says nothing), or None
        when the token is good."""
        token = (token or "").strip()
        with self._lock:
            expires = self._issued.get(token)
            revoked = token in self._revoked
        if expires is None or revoked:
            return REVOKED if token else ""
        if self.config.clock() >= expires:
            return EXPIRED
        return "" if self.denied else None

    def valid(self, token: str | None) -> bool:
        return self.refusal(token) is None

    def revoke(self) -> None:
        """Every access token issued so far is revoked (new ones are good)."""
        with self._lock:
            self._revoked.update(self._issued)

    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)


class _LwaAccount:
    """What the token endpoint and the Reports API share: the LWA client of the demo account."""

    tokens: LwaTokens

    def demo_profile(self, origin: Callable[[str], str]) -> DemoProfile:
        """The demo's account: the LWA client, the refresh token and the token endpoint."""
        tokens = self.tokens
        return DemoProfile(
            secrets={"client_id": tokens.client_id, "client_secret": tokens.client_secret,
                     "refresh_token": tokens.refresh_token},
            options={"token_url": f"{origin('amazon-lwa')}/auth/o2/token"},
        )  # fmt: skip

    @property
    def secret(self) -> str:
        """The refresh token (the secret the simulator hands out for this fake)."""
        return self.tokens.refresh_token

    @secret.setter
    def secret(self, value: str) -> None:
        self.tokens.refresh_token = value


class LwaApi(_LwaAccount, Api):
    """`POST /auth/o2/token`: the refresh-token grant of Login with Amazon."""

    name = "amazon-lwa"

    def __init__(self, *, config: SimConfig, tokens: LwaTokens) -> None:
        super().__init__()
        self.config = config
        self.tokens = tokens
        self.jobs = JobBook(config)  # none: the token endpoint has no jobs (persist reads it)

    def route(self, req: Request) -> Reply:
        if req.path != "/auth/o2/token" or req.method != "POST":
            return json_reply(404, {"error": "invalid_request", "error_description": "Not Found"})
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "client_credentials"):
            return json_reply(400, {"error": "unsupported_grant_type",
                                    "error_description": "Invalid grant_type"})  # fmt: skip
        if form.get("client_id") != self.tokens.client_id or not same_secret(
            form.get("client_secret"), self.tokens.client_secret
        ):
            failed = {
                "error": "invalid_client",
                "error_description": "Client authentication failed",
            }
            return json_reply(401, failed)
        if grant != "refresh_token" or not same_secret(
            form.get("refresh_token"), self.tokens.refresh_token
        ):
            invalid = "The request has an invalid grant parameter : refresh_token"
            return json_reply(400, {"error": "invalid_grant", "error_description": invalid})
        answer = {"access_token": self.tokens.issue(), "refresh_token": self.tokens.refresh_token,
                  "token_type": "bearer", "expires_in": TOKEN_TTL}  # fmt: skip
        return json_reply(200, answer, headers=(("Cache-Control", "no-store"),))

    def expected_results(self, remote_id: str) -> list[bytes]:
        return []


class SpReportsApi(_LwaAccount, Api):
    """The Reports API (see above), on a regional endpoint's origin."""

    name = "amazon-sp-reports"

    def __init__(self, *, config: SimConfig, storage: StorageServer, tokens: LwaTokens) -> None:
        super().__init__()
        self.config = config
        self.storage = storage
        self.tokens = tokens
        self.jobs = JobBook(config)
        self._documents: dict[str, FakeJob] = {}  # reportDocumentId: its report
        self._lock = threading.Lock()

    def route(self, req: Request) -> Reply:
        refused = self.tokens.refusal(req.header("x-amz-access-token"))
        if refused is not None:
            return sp_error(403, "Unauthorized", DENIED, refused)
        if req.path == f"{VERSION}/reports" and req.method == "POST":
            return self._create(req)
        report = _REPORT.match(req.path)
        if report and req.method == "GET":
            job = self.jobs.get(report.group(1))
            if job is None:
                return sp_error(404, "NotFound", f"Report {report.group(1)} was not found")
            return json_reply(200, self._report(job))
        document = _DOCUMENT.match(req.path)
        if document and req.method == "GET":
            with self._lock:
                job = self._documents.get(document.group(1))
            if job is None or job.phase(self.config.clock()) is not Phase.DONE:
                return sp_error(404, "NotFound", "Report document was not found")
            return json_reply(200, self._document(job))
        return sp_error(404, "NotFound", "Resource not found")

    def _create(self, req: Request) -> Reply:
        if (req.header("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            return sp_error(415, "UnsupportedMediaType", "Content-Type must be application/json")
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, ValueError):
            return sp_error(400, "InvalidInput", "Invalid input", "The request body is not JSON")
        problem = _problem(body, self.config.clock())
        if problem is not None:
            return sp_error(400, "InvalidInput", "Invalid input", problem)
        report_id = str(secrets.randbelow(9 * 10**10) + 10**10)
        controls = self.jobs.controls(req.params)
        job = self.jobs.create(id=report_id, created=req.at, controls=controls, method="POST",
                               path=req.path, params=req.params, body=req.body,
                               extra={"spec": body})  # fmt: skip
        if job.outcome in ("succeed", "fail"):
            self._store(job, req.params.get("sim_compression", "").upper() == "GZIP")
        return json_reply(202, {"reportId": report_id})

    def _store(self, job: FakeJob, compress: bool) -> None:
        spec = job.extra["spec"]
        region = "na"
        document_id = f"amzn1.spdoc.1.4.{region}.{secrets.token_hex(4)}-{job.id}"
        if job.outcome == "succeed":
            data = amazon_report(str(spec["reportType"]), size=job.size, seed=job.id)
            job.results.append(data)
        else:  # FATAL: "the report represented by the reportDocumentId can explain why"
            error = {"errorDetails": "The report could not be generated (simulated)."}
            data = json.dumps(error).encode()
        served = gzip.compress(data, mtime=0) if compress else data
        key = f"amazon/{document_id}"
        job.extra.update(document=document_id, compressed=compress, served=served)
        job.extra["key"] = self.storage.put(key, served, content_type="application/octet-stream")
        with self._lock:
            self._documents[document_id] = job

    def _report(self, job: FakeJob) -> dict[str, object]:
        now = self.config.clock()
        phase = job.phase(now)
        spec = job.extra["spec"]
        status = _STATUS.get(phase) or _ENDED.get(job.outcome, "FATAL")
        report: dict[str, object] = {
            "reportId": job.id,
            "reportType": spec["reportType"],
            "marketplaceIds": spec["marketplaceIds"],
            "createdTime": iso_utc(job.created),
            "processingStatus": status,
        }
        for name in ("dataStartTime", "dataEndTime"):
            if name in spec:
                report[name] = spec[name]
        if phase is not Phase.QUEUED:
            report["processingStartTime"] = iso_utc(job.started_at)
        if phase is Phase.DONE:
            report["processingEndTime"] = iso_utc(job.finished_at)
            if status in ("DONE", "FATAL"):
                report["reportDocumentId"] = job.extra["document"]
        return report

    def _document(self, job: FakeJob) -> dict[str, object]:
        answer: dict[str, object] = {
            "reportDocumentId": job.extra["document"],
            "url": self.storage.presign(job.extra["key"], ttl=LINK_TTL),
        }
        if job.extra["compressed"]:
            answer["compressionAlgorithm"] = "GZIP"
        return answer

    def revoke_tokens(self) -> None:
        """The access tokens issued so far are revoked before their hour is up."""
        self.tokens.revoke()

    def deny(self, denied: bool = True) -> None:
        """Refuse every access token, new ones too (403 `Unauthorized`, no details)."""
        self.tokens.denied = denied

    def expected_results(self, remote_id: str) -> list[bytes]:
        """The report's contents (decompressed: what a saved file holds)."""
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []

    def served(self, remote_id: str) -> bytes | None:
        """The document's bytes as the storage serves them (gzip-compressed, for GZIP)."""
        job = self.jobs.get(remote_id)
        return job.extra.get("served") if job is not None else None
