"""What `jobdock watch` prints, made from the engine's update batches (never by polling the
store). Three shapes, one source: on a terminal one live status line redrawn in place at most four
times a second (jobs left by state, files downloading, bytes, rate, ETA); anywhere else (a pipe, a
log file, cron) a line per job state change, per saved file and at most one progress line per file
every ten seconds; with `--json` one JSON object a line (docs/cli.md, "watch --json"). Failures and
retries go to stderr as they happen, in every shape; a summary ends the run. A closed stdout
(`watch | head -1`) sets `broken`, so the watch can stop quietly.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from jobdock.cli.serialize import job_to_json, result_event_fields, watch_event
from jobdock.core.engine.links import identity
from jobdock.core.model.job import DownloadState, Job, JobState, utcnow
from jobdock.core.model.updates import DownloadProgress, UpdateBatch

LIVE_INTERVAL = 0.25  # the live line: at most four redraws a second
LINE_INTERVAL = 10.0  # elsewhere: at most one progress line per file every ten seconds
JSON_INTERVAL = 1.0  # --json: at most one progress event per file a second
QUIET, NORMAL, VERBOSE = -1, 0, 1
RETRY_EVENTS = {"download-retry": "download", "poll-error": "poll"}

_Key = tuple[JobState, str, dict[str, DownloadState], int]


@dataclass(frozen=True, kw_only=True)
class Totals:
    """What the summary says."""

    jobs: dict[str, int]
    files_saved: int
    bytes_saved: int
    files_failed: int


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover - the loop always returns


def human_seconds(seconds: float) -> str:
    seconds = int(max(0, seconds) + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def pick_mode(out: TextIO, *, as_json: bool) -> str:
    """`json`, `live` on a terminal that can redraw a line, else `lines`."""
    if as_json:
        return "json"
    isatty = getattr(out, "isatty", None)
    terminal = bool(isatty and isatty())
    return "live" if terminal and _env("TERM") != "dumb" else "lines"


def _env(name: str) -> str | None:
    import os

    return os.environ.get(name)


class Report:
    def __init__(
        self,
        *,
        out: TextIO,
        err: TextIO | None = None,
        mode: str,
        verbosity: int = NORMAL,
        jobs: Iterable[Job],
        watched: Callable[[], set[str]],
        downloads: Callable[[], bool] = lambda: True,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._out, self._err = out, err or sys.stderr
        self.mode, self.verbosity = mode, verbosity
        self._watched = watched
        self._downloads = downloads  # whether results are downloaded as jobs succeed
        self._mono, self._clock = monotonic, clock
        self._jobs: dict[str, Job] = {j.id: j for j in jobs}
        self._seen: dict[str, _Key] = {j.id: self._key(j) for j in self._jobs.values()}
        self._progress: dict[tuple[str, int], DownloadProgress] = {}
        self._progress_said: dict[tuple[str, int], float] = {}
        self._live_shown = False
        self._live_at = float("-inf")
        self._started = monotonic()
        self.saved_files = 0
        self.saved_bytes = 0
        self.failed_files = 0
        self.broken = False

    # writing -----------------------------------------------------------------------------------
    def _write(self, stream: TextIO, text: str) -> None:
        if self.broken and stream is self._out:
            return
        try:
            if self._live_shown:  # lines go above the live line, which is drawn again after
                self._out.write("\r\x1b[K")
                self._live_shown = False
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            self.broken = True
        except ValueError:  # closed file
            self.broken = True

    def line(self, text: str) -> None:
        """A line of the human shapes (never in --json, never with --quiet)."""
        if self.mode != "json" and self.verbosity > QUIET:
            self._write(self._out, text + "\n")

    def problem(self, text: str) -> None:
        """A failure or retry: on stderr, in every shape and verbosity."""
        self._write(self._err, f"jobdock: {text}\n")

    def event(self, kind: str, **fields: Any) -> None:
        if self.mode == "json":
            payload = json.dumps(watch_event(kind, self._clock(), **fields), ensure_ascii=False)
            self._write(self._out, payload + "\n")

    def warning(self, text: str) -> None:
        """A problem that does not stop the watch (docs/cli.md, "Warnings"): on stderr, and
        with `--json` also a `warning` event."""
        self.problem(f"warning: {text}")
        self.event("warning", message=text)

    def note(self, text: str) -> None:
        """Something about the watch itself (who is the worker, the store)."""
        self.line(text)
        self.event("note", message=text)
        self.redraw(force=True)

    # batches -----------------------------------------------------------------------------------
    @staticmethod
    def _key(job: Job) -> _Key:
        # results by identity: a refresh may list them in another order
        downloads = {identity(r): r.download_state for r in job.results}
        return (job.state, job.remote_state, downloads, job.poll_failures)

    def __call__(self, batch: UpdateBatch) -> None:
        for job_id in batch.removed:
            self._jobs.pop(job_id, None)
        for job in batch.changed:
            self._jobs[job.id] = job
            old = self._seen.get(job.id)
            new = self._key(job)
            if old != new:
                self._seen[job.id] = new
                self._job_changed(job, old, new)
        for progress in batch.progress:
            self._on_progress(progress)
        for event in batch.events:
            what = RETRY_EVENTS.get(event.kind)
            if what == "download":  # poll retries are seen on the job (`poll_failures`)
                self.problem(f"job {event.job_id}: {event.message}")
                self.event("retry", job_id=event.job_id, what=what, message=event.message)
            elif self.verbosity >= VERBOSE and what is None:
                self.line(f"{event.job_id} {event.kind}: {event.message}")
        self.redraw()

    def _job_changed(self, job: Job, old: _Key | None, new: _Key) -> None:
        if old is None or old[:2] != new[:2]:
            raw = f" ({job.remote_state})" if job.remote_state else ""
            error = f": {job.error}" if job.error and job.state == JobState.FAILED else ""
            if self.mode == "lines" or self.verbosity >= VERBOSE:
                self.line(f"{job.id} {job.account} {job.state.value}{raw}{error}")
            if old is None or old[0] != new[0]:
                self.event("state", job=job_to_json(job))
                if job.state == JobState.FAILED:
                    self.problem(f"job {job.id} ({job.account}) failed: {job.error or 'no reason'}")
                elif job.state == JobState.CANCELLED:
                    self.problem(f"job {job.id} ({job.account}) was cancelled")
        if old is not None and new[3] > old[3] and not job.state.is_terminal and job.error:
            self.problem(f"job {job.id}: {job.error.splitlines()[0]}; polling again")
            self.event("retry", job_id=job.id, what="poll", message=job.error.splitlines()[0])
        before = old[2] if old else {}
        for index, result in enumerate(job.results):
            state = result.download_state
            if state == before.get(identity(result)):
                continue
            if state.is_settled:
                self._progress.pop((job.id, index), None)
                self._progress_said.pop((job.id, index), None)
            if state == DownloadState.DONE:
                self.saved_files += 1
                self.saved_bytes += result.bytes or 0
                if self.mode == "lines" or self.verbosity > QUIET:
                    self.line(f"{job.id} saved {result.path} ({result.bytes or 0:,} bytes)")
                self.event("saved", **result_event_fields(job, index))
            elif state == DownloadState.FAILED and result.retry_at is not None:
                when = result.retry_at.astimezone().strftime("%H:%M:%S")
                message = f"file {index + 1}: {result.error}"
                if "trying again" not in (result.error or ""):
                    message += f"; trying again at {when}"
                self.problem(f"job {job.id}: {message}")
                self.event("retry", job_id=job.id, what="download", message=message)
            elif state in (DownloadState.FAILED, DownloadState.EXPIRED):
                self.failed_files += 1
                if self.mode == "lines":
                    self.line(f"{job.id} {state.value}: {result.error}")
                self.problem(f"job {job.id}: file {index + 1} {state.value}: {result.error}")
                self.event("download_failed", **result_event_fields(job, index))

    def _on_progress(self, progress: DownloadProgress) -> None:
        key = (progress.job_id, progress.index)
        job = self._jobs.get(progress.job_id)
        if job is None or progress.index >= len(job.results):
            return
        if job.results[progress.index].download_state.is_settled:
            return  # a late report of a file already saved
        self._progress[key] = progress
        if self.mode == "live":
            return
        now = self._mono()
        interval = JSON_INTERVAL if self.mode == "json" else LINE_INTERVAL
        said = self._progress_said.get(key)
        if said is None and self.mode == "lines":
            self._progress_said[key] = now  # a file saved within ten seconds needs no line
            return
        if said is not None and now - said < interval:
            return
        self._progress_said[key] = now
        self.event("progress", job_id=progress.job_id, index=progress.index, done=progress.done,
                   total=progress.total, speed=round(progress.speed, 1),
                   eta=None if progress.eta is None else round(progress.eta, 1))  # fmt: skip
        if self.mode == "lines" and self.verbosity > QUIET:
            name = _file_name(job.results[progress.index].path) or f"file {progress.index + 1}"
            of = f" of {human_bytes(progress.total)}" if progress.total else ""
            pct = f" ({100 * progress.done / progress.total:.0f}%)" if progress.total else ""
            eta = f", ETA {human_seconds(progress.eta)}" if progress.eta is not None else ""
            self.line(
                f"{job.id} downloading {name}: {human_bytes(progress.done)}{of}{pct} "
                f"at {human_bytes(progress.speed)}/s{eta}"
            )

    # the live line -----------------------------------------------------------------------------
    def status_line(self) -> str:
        """Jobs left by state · files downloading and waiting · bytes · rate · ETA (docs/cli.md).
        A job left is one `--until-done` still waits for: not finished, or succeeded with
        results still to save when results are downloaded as jobs succeed; the files are never
        said to be none while a job is saving (a file between two tries is `waiting`)."""
        downloads = self._downloads()
        left: dict[str, int] = {}
        downloading = set(self._progress)
        waiting = 0
        for job_id in self._watched():
            job = self._jobs.get(job_id)
            if job is None or job.orphaned:
                continue
            if not job.state.is_terminal:
                left[job.state.value] = left.get(job.state.value, 0) + 1
                continue
            if job.state != JobState.SUCCEEDED or not downloads or job.is_settled:
                continue
            left["saving"] = left.get("saving", 0) + 1
            for index, result in enumerate(job.results):
                key = (job.id, index)
                if key in downloading or not result.is_under_way:
                    continue
                if result.download_state == DownloadState.DOWNLOADING:
                    downloading.add(key)  # under way in another process (no bytes seen here)
                else:
                    waiting += 1  # pending, or failed with a retry to come
        jobs = ", ".join(f"{left[s]} {s}" for s in ("queued", "running", "saving") if left.get(s))
        parts = [f"jobs left: {jobs or 'none'}"]
        if downloading:
            more = f", {waiting} waiting" if waiting else ""
            parts.append(f"{_count(len(downloading), 'file')} downloading{more}")
        elif waiting:
            parts.append(f"{_count(waiting, 'file')} waiting")
        active = list(self._progress.values())
        if active:
            done = sum(p.done for p in active)
            total = sum(p.total for p in active if p.total)
            speed = sum(p.speed for p in active)
            sized = all(p.total for p in active)
            parts.append(human_bytes(done) + (f" / {human_bytes(total)}" if sized else ""))
            parts.append(f"{human_bytes(speed)}/s")
            if sized and speed > 0:
                parts.append(f"ETA {human_seconds((total - done) / speed)}")
        return " · ".join(parts)

    def redraw(self, *, force: bool = False) -> None:
        if self.mode != "live" or self.verbosity <= QUIET or self.broken:
            return
        now = self._mono()
        if not force and now - self._live_at < LIVE_INTERVAL:
            return
        self._live_at = now
        width = max(20, shutil.get_terminal_size().columns - 1)
        text = self.status_line()[:width]
        try:
            self._out.write("\r\x1b[K" + text)
            self._out.flush()
            self._live_shown = True
        except (BrokenPipeError, ValueError):
            self.broken = True

    # the end ----------------------------------------------------------------------------------
    def totals(self) -> Totals:
        counts: dict[str, int] = {}
        for job_id in self._watched():
            job = self._jobs.get(job_id)
            if job is None:
                continue
            name = "orphaned" if job.orphaned else job.state.value
            counts[name] = counts.get(name, 0) + 1
        return Totals(
            jobs=counts,
            files_saved=self.saved_files,
            bytes_saved=self.saved_bytes,
            files_failed=self.failed_files,
        )

    def summary(self, code: int, *, reason: str) -> None:
        totals = self.totals()
        elapsed = self._mono() - self._started
        self.event("summary", exit_code=code, reason=reason, jobs=totals.jobs,
                   files_saved=totals.files_saved, bytes_saved=totals.bytes_saved,
                   files_failed=totals.files_failed, elapsed=round(elapsed, 1))  # fmt: skip
        count = sum(totals.jobs.values())
        states = ", ".join(f"{n} {s}" for s, n in sorted(totals.jobs.items()))
        failed = f", {totals.files_failed} not saved" if totals.files_failed else ""
        why = "" if reason == "done" else f" ({reason})"  # e.g. "(timeout)", "(SIGTERM)"
        self.line(
            f"watched {count} job{'s' * (count != 1)} for {human_seconds(elapsed)}{why}"
            f"{': ' + states if states else ''}; files saved: {totals.files_saved} "
            f"({human_bytes(totals.bytes_saved)}){failed}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _file_name(path: str | None) -> str | None:
    return Path(path).name.removesuffix(".part") if path else None
