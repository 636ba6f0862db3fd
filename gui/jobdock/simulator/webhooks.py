"""Shoptet webhooks: the registrations, the signature key, and the background thread that
POSTs a signed `job:finished` event to every registered URL when a job finishes.

The thread looks at the jobs every 50 ms (so a fake clock that jumps ahead is noticed too),
delivers each finished job once, and records every attempt; a failed delivery is logged and
recorded, never raised.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from jobdock.simulator.config import SimConfig
from jobdock.simulator.jobs import FakeJob, Phase
from jobdock.simulator.wire import shoptet_time

log = logging.getLogger(__name__)

ESHOP_ID = 222651
# Receivers are local: never route deliveries through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
EVENT = "job:finished"


@dataclass(frozen=True, kw_only=True)
class Webhook:
    id: int
    event: str
    url: str
    created: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "event": self.event, "url": self.url, "created": self.created}


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One attempt to deliver an event: `status` 0 when the receiver could not be reached."""

    url: str
    job_id: str
    body: bytes
    signature: str
    status: int


class Webhooks:
    """Registrations, the signature key and the delivery thread."""

    def __init__(self, config: SimConfig, jobs: Callable[[], list[FakeJob]]) -> None:
        self.config = config
        self._jobs = jobs
        self._lock = threading.Lock()
        self._hooks: list[Webhook] = []
        self._ids = itertools.count(1)
        self._notified: set[str] = set()
        self._deliveries: list[Delivery] = []
        self.signature_key = secrets.token_hex(16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, event: str, url: str) -> Webhook:
        hook = Webhook(
            id=next(self._ids), event=event, url=url, created=shoptet_time(self.config.clock())
        )
        with self._lock:
            self._hooks.append(hook)
        return hook

    def remove(self, hook_id: int) -> bool:
        with self._lock:
            kept = [h for h in self._hooks if h.id != hook_id]
            found = len(kept) != len(self._hooks)
            self._hooks = kept
        return found

    def all(self) -> list[Webhook]:
        with self._lock:
            return list(self._hooks)

    def has(self, event: str) -> bool:
        return any(h.event == event for h in self.all())

    def renew_key(self) -> str:
        with self._lock:
            self.signature_key = secrets.token_hex(16)
            return self.signature_key

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sim-webhooks")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.config.webhook_timeout + 1.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = self.config.clock()
            for job in self._jobs():
                if job.id not in self._notified and job.phase(now) is Phase.DONE:
                    self._notified.add(job.id)
                    self._deliver(job)

    def _deliver(self, job: FakeJob) -> None:
        hooks = [h for h in self.all() if h.event == EVENT]
        if not hooks:
            return
        body = json.dumps(
            {
                "eshopId": ESHOP_ID,
                "event": EVENT,
                "eventCreated": shoptet_time(job.finished_at),
                "eventInstance": job.id,
            }
        ).encode()
        with self._lock:
            key = self.signature_key.encode()
        signature = hmac.new(key, body, hashlib.sha1).hexdigest()
        for hook in hooks:
            status = self._post(hook.url, body, signature)
            with self._lock:
                self._deliveries.append(
                    Delivery(
                        url=hook.url, job_id=job.id, body=body, signature=signature, status=status
                    )
                )

    def _post(self, url: str, body: bytes, signature: str) -> int:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Shoptet-Webhook-Signature": signature},
        )
        try:
            with _OPENER.open(request, timeout=self.config.webhook_timeout) as answer:
                answer.read()
                return int(answer.status)
        except urllib.error.HTTPError as error:
            error.close()
            log.warning("webhook %s answered %s", url, error.code)
            return int(error.code)
        except (OSError, ValueError) as error:
            log.warning("webhook %s failed: %s", url, error)
            return 0
