"""The fake job lifecycle every API shares: a job is created at a clock time with a duration and
an outcome, and its phase (queued, running, done) is computed from `SimConfig.clock` on every
look, so a fake clock moves jobs without any background thread.

The per-job controls of docs/simulator.md (`sim_outcome`, `sim_duration`, `sim_size`,
`sim_files`) are read here once, at submission.
"""

from __future__ import annotations

import enum
import random
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobdock.simulator.config import SimConfig


class Phase(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


@dataclass(kw_only=True)
class FakeJob:
    """One job on a fake API. `results` holds the bytes of its result files once known."""

    id: str
    created: float
    queue: float
    duration: float
    outcome: str
    size: int
    files: int
    method: str = "GET"
    path: str = ""
    params: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)
    results: list[bytes] = field(default_factory=list)

    @property
    def finished_at(self) -> float:
        return self.created + self.duration

    @property
    def started_at(self) -> float:
        return self.created + self.queue

    def phase(self, now: float) -> Phase:
        if now >= self.finished_at:
            return Phase.DONE
        if now >= self.started_at:
            return Phase.RUNNING
        return Phase.QUEUED

    def succeeded(self, now: float) -> bool:
        return self.phase(now) is Phase.DONE and self.outcome == "succeed"


@dataclass(frozen=True, kw_only=True)
class Controls:
    duration: float
    queue: float
    outcome: str
    size: int
    files: int


def _number(params: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(params[name])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None


class JobBook:
    """The jobs of one fake API, by id; thread-safe."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._jobs: dict[str, FakeJob] = {}
        self._rng = random.Random(config.seed)

    def controls(self, params: Mapping[str, str]) -> Controls:
        """Duration, queue share, outcome, size and file count from the submit's query."""
        cfg = self.config
        # Demo randomness only for jobs that ask for nothing: any sim_* parameter means a test
        # (or a person) wants a predictable job.
        random_ok = not any(name.startswith("sim_") for name in params)
        with self._lock:
            duration = _number(params, "sim_duration")
            if duration is None and cfg.duration_range is not None and random_ok:
                duration = self._rng.uniform(*cfg.duration_range)
            outcome = params.get("sim_outcome", "").lower()
            if not outcome:
                failing = random_ok and self._rng.random() < cfg.failure_rate
                outcome = "fail" if failing else "succeed"
        if duration is None:
            duration = cfg.queue_time + cfg.run_time
        total = cfg.queue_time + cfg.run_time
        queue = duration * (cfg.queue_time / total) if total > 0 else 0.0
        size = _number(params, "sim_size")
        files = _number(params, "sim_files")
        return Controls(
            duration=duration,
            queue=queue,
            outcome=outcome,
            size=int(size) if size is not None else cfg.result_size,
            files=int(files) if files is not None else 2,
        )

    def create(self, *, id: str, created: float, controls: Controls, **fields: Any) -> FakeJob:
        job = FakeJob(
            id=id,
            created=created,
            queue=controls.queue,
            duration=controls.duration,
            outcome=controls.outcome,
            size=controls.size,
            files=controls.files,
            **fields,
        )
        with self._lock:
            self._jobs[id] = job
        return job

    def ordered(self, job: FakeJob, links: list[str]) -> list[str]:
        """`links` as this answer lists them: rotated by one more on every answer when
        `SimConfig.reorder_links` is on."""
        if not self.config.reorder_links or not links:
            return links
        with self._lock:
            turn = job.extra["answers"] = job.extra.get("answers", -1) + 1
        shift = turn % len(links)
        return links[shift:] + links[:shift]

    def get(self, job_id: str) -> FakeJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[FakeJob]:
        with self._lock:
            return list(self._jobs.values())


def short_id(length: int = 7) -> str:
    """A Shoptet-style job id such as `3ax1844`."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
