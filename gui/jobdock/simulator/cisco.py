"""The fake Cisco Unified CCE configuration API (`/unifiedconfig/config`), with `?async=true`.

HTTP Basic auth (`administrator` and the secret). An async create/update/delete answers `202`
with a `Location` under `requeststatus/`; polling that answers `202` + progress while queued or
running and then the synchronous answer (`201` + item Location, `200` + item, `204`, or a `400`
/ `408` apiErrors body). Bodies are JSON or XML, following the request's Content-Type.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from jobdock.simulator.config import SimConfig
from jobdock.simulator.jobs import FakeJob, JobBook, Phase
from jobdock.simulator.server import Api
from jobdock.simulator.wire import (
    Reply,
    Request,
    element,
    json_reply,
    same_secret,
    xml_reply,
)

BASE_PATH = "/unifiedconfig/config"
USER = "administrator"
_PROGRESS = {Phase.QUEUED: "IN_QUEUE", Phase.RUNNING: "IN_PROGRESS"}


@dataclass(frozen=True, kw_only=True)
class Item:
    """A configuration item's representation, visible once `job` (if any) has succeeded."""

    body: bytes
    xml: bool
    job: FakeJob | None = None


def _errors(status: int, message: str, error_type: str, *, xml: bool) -> Reply:
    if xml:
        error = element(
            "apiError", None, element("errorMessage", message), element("errorType", error_type)
        )
        return xml_reply(status, element("apiErrors", None, error))
    body = {"apiErrors": {"apiError": [{"errorMessage": message, "errorType": error_type}]}}
    return json_reply(status, body)


def _representation(body: bytes, *, xml: bool, ref: str, stamp: int) -> bytes:
    """The item as the API shows it: the request's fields plus refURL and changeStamp."""
    if xml:
        root = ET.fromstring(body)
        root.insert(0, element("changeStamp", str(stamp)))
        root.insert(0, element("refURL", ref))
        xml_bytes: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return xml_bytes
    data = json.loads(body) if body else {}
    return json.dumps({"refURL": ref, "changeStamp": stamp, **data}).encode()


class CiscoApi(Api):
    name = "cisco-cce"

    def __init__(self, *, config: SimConfig, secret: str) -> None:
        super().__init__()
        self.config = config
        self.secret = secret
        self.jobs = JobBook(config)
        self._lock = threading.Lock()
        self._items: dict[str, Item] = {}
        self._ids = itertools.count(5000)

    @property
    def base_url(self) -> str:
        return self.origin + BASE_PATH

    def route(self, req: Request) -> Reply:
        xml = "xml" in (req.header("Content-Type") or "")
        if not self._authorised(req.header("Authorization")):
            return _errors(
                401, "Authentication failed", "authenticationFailed", xml=xml
            ).with_headers(("WWW-Authenticate", 'Basic realm="UCCE"'))
        if not req.path.startswith(BASE_PATH + "/"):
            return _errors(404, "Not found", "notFound", xml=xml)
        path = req.path[len(BASE_PATH) + 1 :].strip("/")
        if path.startswith("requeststatus/") and req.method == "GET":
            return self._poll(path.rpartition("/")[2])
        if req.method == "GET":
            return self._get_item(path)
        if req.method not in ("POST", "PUT", "DELETE"):
            return _errors(405, "Method not allowed", "methodNotAllowed", xml=xml)
        return self._change(req, path, xml=xml)

    def _authorised(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == USER and same_secret(password, self.secret)

    def _change(self, req: Request, path: str, *, xml: bool) -> Reply:
        item_path = f"{path}/{next(self._ids)}" if req.method == "POST" else path
        ref = f"{BASE_PATH}/{item_path}"
        try:
            stamp = 0 if req.method == "POST" else 1
            body = (
                b""
                if req.method == "DELETE"
                else _representation(req.body, xml=xml, ref=ref, stamp=stamp)
            )
        except (ET.ParseError, json.JSONDecodeError, UnicodeDecodeError, TypeError):
            return _errors(400, "The request body is malformed", "invalidInput", xml=xml)
        params = req.params
        if params.get("async", "").lower() != "true":
            return self._final(req.method, item_path, body, xml=xml, outcome="succeed")
        job = self._create_job(req, params, item_path, body, xml=xml)
        return self._accepted(job, _PROGRESS.get(job.phase(req.at), "IN_PROGRESS"))

    def _create_job(
        self, req: Request, params: dict[str, str], item_path: str, body: bytes, *, xml: bool
    ) -> FakeJob:
        controls = self.jobs.controls(params)
        job = self.jobs.create(
            id=uuid.uuid4().hex,
            created=req.at,
            controls=controls,
            method=req.method,
            path=item_path,
            params=params,
            body=body,
            extra={"xml": xml},
        )
        limit = self.config.cisco_queue_timeout
        if job.outcome == "timeout" or job.queue > limit:
            job.outcome, job.queue, job.duration = "timeout", limit, limit
        if job.outcome == "succeed" and req.method != "DELETE":
            job.results.append(body)
        if req.method != "DELETE":
            with self._lock:
                self._items[item_path] = Item(body=body, xml=xml, job=job)
        return job

    def _accepted(self, job: FakeJob, progress: str) -> Reply:
        location = f"{self.base_url}/requeststatus/{job.id}"
        headers = (("Location", location),)
        if job.extra["xml"]:
            root = element("apiAsyncResponse", None, element("progress", progress))
            return xml_reply(202, root, headers=headers)
        return json_reply(202, {"progress": progress}, headers=headers)

    def _poll(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None:
            return _errors(404, "No such request", "notFound", xml=False)
        phase = job.phase(self.config.clock())
        if phase is not Phase.DONE:
            return self._accepted(job, _PROGRESS[phase])
        xml = bool(job.extra["xml"])
        return self._final(job.method, job.path, job.body, xml=xml, outcome=job.outcome)

    def _final(self, method: str, item_path: str, body: bytes, *, xml: bool, outcome: str) -> Reply:
        if outcome == "timeout":
            return _errors(408, "Request timed out in queue", "requestTimeout", xml=xml)
        if outcome != "succeed":
            return _errors(
                400, "Simulated failure: the name is already in use", "invalidInput", xml=xml
            )
        with self._lock:
            if method == "DELETE":
                self._items.pop(item_path, None)
            elif item_path not in self._items or self._items[item_path].job is None:
                self._items[item_path] = Item(body=body, xml=xml)
        if method == "POST":
            return Reply(status=201, headers=(("Location", f"{self.base_url}/{item_path}"),))
        if method == "PUT":
            return Reply(
                status=200, body=body, content_type="application/xml" if xml else "application/json"
            )
        return Reply(status=204)

    def _get_item(self, path: str) -> Reply:
        with self._lock:
            item = self._items.get(path)
        now = self.config.clock()
        if item is None or (item.job is not None and not item.job.succeeded(now)):
            return _errors(404, f"No item at {path}", "notFound", xml=False)
        content_type = "application/xml" if item.xml else "application/json"
        return Reply(status=200, body=item.body, content_type=content_type)

    def expected_results(self, remote_id: str) -> list[bytes]:
        job = self.jobs.get(remote_id)
        return list(job.results) if job is not None else []
