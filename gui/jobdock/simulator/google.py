"""A fake Google API with AIP-151 long-running operations, and Google's OAuth 2.0 token endpoint.

The API is the Video Intelligence API's `POST /v1/videos:annotate`
(https://cloud.google.com/video-intelligence/docs/reference/rest/v1/videos/annotate), which
answers a `google.longrunning.Operation` holding only its `name`
(`projects/PROJECT_NUMBER/locations/LOCATION_ID/operations/OPERATION_ID`); the operation is read
at `GET /v1/{name}` (https://cloud.google.com/video-intelligence/docs/long-running-operations).
Like any proto3 JSON answer it leaves out `done` while it is false and `progressPercent` while it
is 0; once done it carries `error` (a `google.rpc.Status`) or `response`
(https://google.aip.dev/151). `POST /v1/{name}:cancel` ends a running operation with
`error.code` 1 (`CANCELLED`). Every request needs `Authorization: Bearer` with an access token
the token endpoint issued and that has not expired (401 `UNAUTHENTICATED` otherwise).

The token endpoint (`POST /token`, as https://oauth2.googleapis.com/token) takes the
`refresh_token` grant (https://developers.google.com/identity/protocols/oauth2/web-server#offline)
with the client id and secret as form fields, and answers `access_token`, `expires_in`
(`SimConfig.google_token_ttl`), `scope` and `token_type`; its errors are RFC 6749 §5.2 bodies.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from jobdock.simulator.config import DemoProfile, SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import Reply, Request, iso_utc, json_reply, same_secret

PROJECT_NUMBER = "754177431483"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_OPERATION = re.compile(r"^/v1/(projects/\d+/locations/[a-z0-9-]+/operations/\d+)(:cancel)?$")
_TYPE = "type.googleapis.com/google.cloud.videointelligence.v1."
_FEATURES = {
    "LABEL_DETECTION",
    "SHOT_CHANGE_DETECTION",
    "EXPLICIT_CONTENT_DETECTION",
    "FACE_DETECTION",
    "SPEECH_TRANSCRIPTION",
    "TEXT_DETECTION",
    "OBJECT_TRACKING",
    "LOGO_RECOGNITION",
    "PERSON_DETECTION",
}
_LABELS = [
    ("/m/01yrx", "cat"), ("/m/068hy", "pet"), ("/m/0jbk", "animal"), ("/m/04rky", "mammal"),
    ("/m/0307l", "cats and big cats"), ("/m/01l7qd", "whiskers"), ("/m/03k3r", "horse"),
    ("/m/0bt9lr", "dog"), ("/m/015p6", "bird"), ("/m/07j7r", "tree"), ("/m/0c9ph5", "flower"),
]  # fmt: skip
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def google_error(code: int, status: str, message: str) -> dict[str, object]:
    """Google's JSON error body (https://cloud.google.com/apis/design/errors#http_mapping)."""
    return {"error": {"code": code, "message": message, "status": status}}


class GoogleTokens:
    """The OAuth client the token endpoint knows and the access tokens it has issued."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.client_id = f"{secrets.randbelow(10**12):012d}-sim.apps.googleusercontent.com"
        self.client_secret = f"GOCSPX-{secrets.token_urlsafe(21)}"
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}  # access token: expiry

    def issue(self) -> tuple[str, float]:
        ttl = self.config.google_token_ttl
        token = f"ya29.sim-{secrets.token_urlsafe(30)}"
        with self._lock:
            self._issued[token] = self.config.clock() + ttl
        return token, ttl

    def valid(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._lock:
            expires = self._issued.get(token.strip())
        return expires is not None and self.config.clock() < expires

    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)


class GoogleOAuthApi(Api):
    """`POST /token`: the refresh-token grant of Google's OAuth 2.0 token endpoint."""

    name = "google-oauth"

    def __init__(self, *, config: SimConfig, tokens: GoogleTokens, secret: str) -> None:
        super().__init__()
        self.config = config
        self.tokens = tokens
        self.secret = secret  # the refresh token
        self.jobs = JobBook(config)  # none: the token endpoint has no jobs (persist reads it)

    def route(self, req: Request) -> Reply:
        if req.path != "/token":
            return json_reply(404, {"error": "not_found", "error_description": "Not Found"})
        if req.method != "POST":
            return json_reply(405, {"error": "invalid_request", "error_description":
                                    f"Method {req.method} is not allowed"})  # fmt: skip
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant != "refresh_token":
            error = {
                "error": "unsupported_grant_type",
                "error_description": f"Invalid grant_type: {grant}",
            }
            return json_reply(400, error)
        if form.get("client_id") != self.tokens.client_id or not same_secret(
            form.get("client_secret"), self.tokens.client_secret
        ):
            error = {
                "error": "invalid_client",
                "error_description": "The OAuth client was not found.",
            }
            return json_reply(401, error)
        if not same_secret(form.get("refresh_token"), self.secret):
            return json_reply(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        token, ttl = self.tokens.issue()
        return json_reply(
            200,
            {"access_token": token, "expires_in": int(ttl), "scope": SCOPE, "token_type": "Bearer"},
            headers=(("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),),
        )

    def expected_results(self, remote_id: str) -> list[bytes]:
        return []


class GoogleLroApi(Api):
    """`POST /v1/videos:annotate` starts an operation; `GET /v1/{name}` reads it (see above)."""

    name = "google-lro"

    def __init__(self, *, config: SimConfig, tokens: GoogleTokens, secret: str) -> None:
        super().__init__()
        self.config = config
        self.tokens = tokens
        self.secret = secret  # the refresh token, kept by the token endpoint's side
        self.jobs = JobBook(config)

    def demo_profile(self, origin: Callable[[str], str]) -> DemoProfile:
        """The demo's account: the OAuth client, the refresh token and the token endpoint."""
        return DemoProfile(
            secrets={"client_id": self.tokens.client_id,
                     "client_secret": self.tokens.client_secret, "refresh_token": self.secret},
            options={"token_url": f"{origin('google-oauth')}/token"},
        )  # fmt: skip

    def route(self, req: Request) -> Reply:
        if not self.tokens.valid(req.header("Authorization")):
            return json_reply(
                401,
                google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED),
                headers=(("WWW-Authenticate",
                          'Bearer realm="https://accounts.google.com/", error="invalid_token"'),),
            )  # fmt: skip
        if req.path == "/v1/videos:annotate":
            if req.method != "POST":
                return self._not_found(req)
            return self._annotate(req)
        match = _OPERATION.match(req.path)
        job = self.jobs.get(match.group(1)) if match else None
        if match is None or job is None:
            return self._not_found(req)
        if match.group(2):  # :cancel
            if req.method != "POST":
                return self._not_found(req)
            if job.phase(self.config.clock()) is not Phase.DONE:
                job.extra["cancelled_at"] = self.config.clock()
            return json_reply(200, {})
        if req.method != "GET":
            return self._not_found(req)
        return Reply(status=200, body=self.operation(job), content_type="application/json")

    @staticmethod
    def _not_found(req: Request) -> Reply:
        message = f"Method not found or resource {req.path} not found."
        return json_reply(404, google_error(404, "NOT_FOUND", message))

    def _annotate(self, req: Request) -> Reply:
        try:
            body = json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return json_reply(400, google_error(400, "INVALID_ARGUMENT",
                                                "Invalid JSON payload received."))  # fmt: skip
        if not isinstance(body, dict):
            return json_reply(400, google_error(400, "INVALID_ARGUMENT",
                                                "Invalid JSON payload received."))  # fmt: skip
        features = body.get("features")
        if not isinstance(features, list) or not features:
            message = "Request must specify at least one feature."
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", message))
        unknown = [f for f in features if f not in _FEATURES]
        if unknown:
            message = f'Invalid value at \'features[0]\' (type.googleapis.com/google.cloud.' \
                      f'videointelligence.v1.Feature), "{unknown[0]}"'  # fmt: skip
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", message))
        uri, content = body.get("inputUri"), body.get("inputContent")
        if bool(uri) == bool(content) or (uri and not str(uri).startswith("gs://")):
            message = "Exactly one of input_uri and input_content must be set; input_uri must be "\
                      "a Google Cloud Storage URI (gs://bucket-id/object-id)."  # fmt: skip
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", message))
        location = str(body.get("locationId") or "us-east1")
        name = (
            f"projects/{PROJECT_NUMBER}/locations/{location}/operations/"
            f"{secrets.randbelow(9 * 10**18) + 10**18}"
        )
        video = "/" + str(uri).removeprefix("gs://") if uri else ""
        self.jobs.create(
            id=name,
            created=req.at,
            controls=self.jobs.controls(req.params),
            method="POST",
            path=req.path,
            params=req.params,
            body=req.body,
            extra={"video": video, "features": list(features)},
        )
        return json_reply(200, {"name": name})

    def _progress(self, job: FakeJob, now: float) -> dict[str, Any]:
        end = min(now, job.finished_at)
        entry: dict[str, Any] = {"inputUri": job.extra["video"]}
        if job.phase(now) is Phase.DONE:
            entry["progressPercent"] = 100
        elif now >= job.started_at and job.duration > job.queue:
            share = (now - job.started_at) / (job.duration - job.queue)
            percent = int(100 * share)
            if percent:
                entry["progressPercent"] = min(percent, 99)
        entry["startTime"] = iso_utc(job.created)
        entry["updateTime"] = iso_utc(end)
        return {"@type": _TYPE + "AnnotateVideoProgress", "annotationProgress": [entry]}

    def operation(self, job: FakeJob) -> bytes:
        """The operation as `GET /v1/{name}` answers it now (stable bytes once it is done)."""
        now = self.config.clock()
        cancelled = job.extra.get("cancelled_at")
        if cancelled is not None:
            now = max(now, job.finished_at)
        op: dict[str, Any] = {"name": job.id, "metadata": self._progress(job, now)}
        if job.phase(now) is Phase.DONE:
            op["done"] = True
            if cancelled is not None or job.outcome == "cancel":
                op["error"] = {"code": 1, "message": "Operation was cancelled."}
            elif job.outcome != "succeed":
                op["error"] = {"code": 3, "message": "Invalid video: the input could not be "
                               "decoded (simulated)."}  # fmt: skip
            else:
                op["response"] = {
                    "@type": _TYPE + "AnnotateVideoResponse",
                    "annotationResults": [self._annotations(job)],
                }
        return json.dumps(op, indent=2).encode()

    def _annotations(self, job: FakeJob) -> dict[str, Any]:
        rng = random.Random(job.id)
        end = max(1.0, job.size / 4096)
        labels = []
        for _ in range(max(3, min(job.size // 300, 3000))):
            entity, description = rng.choice(_LABELS)
            start = rng.uniform(0, end)
            labels.append({
                "entity": {"entityId": entity, "description": description,
                           "languageCode": "en-US"},
                "segments": [{
                    "segment": {"startTimeOffset": f"{start:.6f}s",
                                "endTimeOffset": f"{rng.uniform(start, end):.6f}s"},
                    "confidence": round(rng.uniform(0.4, 0.99), 6),
                }],
            })  # fmt: skip
        return {"inputUri": job.extra["video"], "segmentLabelAnnotations": labels}

    def expected_results(self, remote_id: str) -> list[bytes]:
        """The finished operation's bytes: the one result the `google-lro` profile saves."""
        job = self.jobs.get(remote_id)
        if job is None or not job.succeeded(self.config.clock()) or "cancelled_at" in job.extra:
            return []  # a run that did not succeed, or one ended by `:cancel`, saves nothing
        return [self.operation(job)]
