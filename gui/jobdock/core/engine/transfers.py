"""The engine's download side: which results to fetch when, link refresh, retries, progress.

`Transfers` decides; `downloader.download` moves the bytes. A result link that answers 403/404/410
is refreshed by polling the job again; when the API gives no fresh link the result becomes
`expired` (shown, never dropped). A link's expiry time is only a hint (`expiry`): it orders the
downloads, and a link is always tried before it counts as expired. Transient failures retry with
backoff, resuming the `.part` file: a few quick attempts, then the result is `failed` with a retry
scheduled (`Result.retry_at`, `retry_min` doubling to `retry_max`, for `retry_rounds` rounds; a
full disk waits for room without a limit on rounds) that `schedule` starts when due, and at once
in a new process (a new `watch` after space was freed). Permanent failures (a digest that
disagrees, a refused link no refresh cures) get no retry. Progress reaches the engine's update
batches at most four times a second per file (the downloader throttles it).
"""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from jobdock.core.download import downloader, integrity, partfile
from jobdock.core.download.decompress import decompressed
from jobdock.core.download.filenames import sanitize_filename
from jobdock.core.download.speed import MinSpeed
from jobdock.core.engine.accounts import Accounts
from jobdock.core.engine.config import LiveSettings
from jobdock.core.engine.links import identity
from jobdock.core.engine.slots import PrioritySlots
from jobdock.core.engine.table import JobTable
from jobdock.core.model.errors import (
    ChecksumError,
    DiskFullError,
    DownloadError,
    HintMismatchError,
    JobdockError,
    LinkExpiredError,
    UsageError,
)
from jobdock.core.model.job import (
    Account,
    DownloadState,
    Job,
    JobEvent,
    JobState,
    Result,
    Verified,
    origin_of,
)
from jobdock.core.model.updates import DownloadProgress

log = logging.getLogger("jobdock.transfers")
PROGRESS_INTERVAL = downloader.PROGRESS_INTERVAL
DISK_FULL_RECHECK = 5.0  # seconds between looks for room on a full download disk
PAUSED_NOTE = "paused; the partial file is kept for the resume"
CANCELLED_NOTE = "download cancelled; waits until asked for again"


class _Gone(Exception):
    """The result being saved is no longer listed (a refresh elsewhere dropped it)."""


class _NoLinkHeaders(LinkExpiredError):
    """The link needs headers this process does not have: they are never stored, so a result
    read from the store (after a restart, or written by another process) gets them with a
    fresh link. Not counted as the link's expiry: the fresh link may still expire."""


class Transfers:
    def __init__(
        self,
        table: JobTable,
        accounts: Accounts,
        settings: LiveSettings,
        *,
        poll_once: Callable[[str], Awaitable[None]],
        resubmit: Callable[[str], Awaitable[Job]],
    ) -> None:
        """`poll_once` polls a job now (a fresh result link); `resubmit` submits a job's request
        again as a new job (`auto_resubmit`)."""
        self._table = table
        self._accounts = accounts
        self._settings = settings
        self._poll_once = poll_once
        self._resubmit = resubmit
        self._tasks: dict[str, asyncio.Task[None]] = {}  # a job's run (all its due files)
        self._side: dict[str, set[asyncio.Task[None]]] = {}  # runs for some of a job's files
        # Each file being fetched, by whichever run: at most one task a file.
        self._files: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._slots: dict[str, PrioritySlots] = {}
        self._all = PrioritySlots(settings.current.max_downloads)  # every download, any origin
        # Whose plain ETag is the content's MD5 (S3's); tests on 127.0.0.1 stand in for S3.
        self.trust_etag_host: integrity.TrustFn = integrity.trusted_etag_host
        # Results this process has tried: a retry another run scheduled is due at once here.
        self._tried: set[tuple[str, str]] = set()
        self._stops: dict[str, int] = {}  # pauses and cancels per job, the latest word wins

    def _slot(self, result: Result) -> AbstractAsyncContextManager[None]:
        origin = origin_of(result.url)
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = PrioritySlots(self._settings.current.max_per_origin)
        return slots.slot(_priority(result))

    def _download_slot(self, result: Result) -> AbstractAsyncContextManager[None]:
        """One of the `max_downloads` (read each time: the user may change it while running)."""
        self._all.resize(self._settings.current.max_downloads)
        return self._all.slot(_priority(result))

    def tasks(self) -> list[asyncio.Task[None]]:
        return [*self._tasks.values(), *(t for side in self._side.values() for t in side)]

    def _job_tasks(self, job_id: str) -> list[asyncio.Task[None]]:
        main = self._tasks.get(job_id)
        return [*([main] if main is not None else []), *self._side.get(job_id, ())]

    async def cancel(self, job_id: str) -> None:
        """Stop every download of the job (its run and the runs for some of its files)."""
        tasks = self._job_tasks(job_id)
        self._tasks.pop(job_id, None)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _cancel_files(self, job_id: str, keys: list[str]) -> None:
        """Stop the downloads of these files only; the job's other files go on."""
        tasks = [t for k in keys if (t := self._files.get((job_id, k))) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def folder_for(self, job: Job) -> Path:
        root = self._settings.current.download_dir
        return root / sanitize_filename(job.account, fallback="account") / job.id

    def _auto_wanted(self, job: Job, now: datetime) -> bool:
        return (
            job.state == JobState.SUCCEEDED
            and not job.orphaned
            and job.id not in self._tasks
            and any(
                not r.held
                and (
                    r.download_state in (DownloadState.PENDING, DownloadState.DOWNLOADING)
                    or self._retry_due(job.id, r, now)
                )
                for r in job.results
            )
        )

    def _retry_due(self, job_id: str, result: Result, now: datetime) -> bool:
        """A failed result whose scheduled retry has come (or that this process never tried)."""
        if result.download_state != DownloadState.FAILED or result.retry_at is None or result.held:
            return False
        return result.retry_at <= now or (job_id, identity(result)) not in self._tried

    def schedule(self, now: datetime) -> datetime | None:
        """Start automatic downloads (soonest-expiring first) and retries that are due. Returns
        when the next retry is due (None: nothing scheduled)."""
        if not self._settings.current.auto_download:
            return None
        jobs = self._table.live_jobs()
        wanted = [j for j in jobs if self._auto_wanted(j, now)]
        wanted.sort(
            key=lambda j: min(
                (r.expires_at for r in j.results if r.expires_at),
                default=datetime.max.replace(tzinfo=now.tzinfo),
            )
        )
        for job in wanted:
            self._start(job.id, folder=None, retry_failed=False)
        later = [
            r.retry_at
            for j in jobs
            if j.state == JobState.SUCCEEDED and not j.orphaned and j.id not in self._tasks
            for r in j.results
            if r.download_state == DownloadState.FAILED and r.retry_at and r.retry_at > now
        ]
        return min(later, default=None)

    def _start(self, job_id: str, *, folder: Path | None, retry_failed: bool) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            self._guarded(job_id, folder=folder, retry_failed=retry_failed),
            name=f"download:{job_id}",
        )
        self._tasks[job_id] = task
        return task

    def _start_files(
        self, job_id: str, keys: set[str], *, folder: Path | None, retry_failed: bool
    ) -> asyncio.Task[None]:
        """A run for some of the job's files, beside the job's own run (if any)."""
        task = asyncio.get_running_loop().create_task(
            self._guarded(job_id, folder=folder, retry_failed=retry_failed, only=keys),
            name=f"download:{job_id}:files",
        )
        side = self._side.setdefault(job_id, set())
        side.add(task)

        def done(_task: asyncio.Task[None]) -> None:
            side.discard(task)
            if not side and self._side.get(job_id) is side:
                del self._side[job_id]

        task.add_done_callback(done)
        return task

    def key_of(self, job_id: str, index: int) -> str:
        """The identity of the job's result at `index` (0-based) as listed now."""
        results = self._table.job(job_id).results
        if not 0 <= index < len(results):
            have = f"{len(results)} result file(s)" if results else "no result files yet"
            raise UsageError(f"job {job_id} has {have}: there is no file {index + 1}")
        return identity(results[index])

    def keys(self, job_id: str) -> list[str]:
        """The identities of the job's results, in their order."""
        return [identity(r) for r in self._table.job(job_id).results]

    def _label(self, job_id: str, key: str) -> str:
        found = self._find(job_id, key)
        if found is None:
            return "a file"
        name = Path(found[1].path).name if found[1].path else None
        return f"file {found[0] + 1}" + (f" ({name})" if name else "")

    async def download(self, job_id: str, *, to: Path | None = None, key: str | None = None) -> Job:
        """Save the job's results now (retrying failed and expired ones); returns the job.
        With `key`, that file only (the job's other downloads go on as they are)."""
        job = self._table.job(job_id)
        if not job.results:
            if job.state != JobState.SUCCEEDED:
                raise UsageError(f"job {job_id} has no results yet (state: {job.state.value})")
            raise UsageError(f"job {job_id} finished without result files")
        if key is not None:
            return await self._download_file(job_id, key, to)
        running = self._job_tasks(job_id)
        if running:
            stops = self._stops.get(job_id, 0)
            await asyncio.gather(*running, return_exceptions=True)
            if self._stops.get(job_id, 0) != stops:
                return self._table.job(job_id)  # paused or cancelled since: that is the word
        task = self._start(job_id, folder=to, retry_failed=True)
        try:
            await asyncio.wait({task})  # a pause or cancel ends it early: the job tells how
        except asyncio.CancelledError:
            task.cancel()
            raise
        return self._table.job(job_id)

    async def _download_file(self, job_id: str, key: str, to: Path | None) -> Job:
        if self._find(job_id, key) is None:
            raise UsageError(f"job {job_id} no longer lists that result file")
        running = self._files.get((job_id, key))
        if running is not None:  # under way already: its end is the starting point
            stops = self._stops.get(job_id, 0)
            await asyncio.wait({running})
            if self._stops.get(job_id, 0) != stops:
                return self._table.job(job_id)  # paused or cancelled since: that is the word
        task = self._start_files(job_id, {key}, folder=to, retry_failed=True)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        return self._table.job(job_id)

    # the user's hand on a download ---------------------------------------------------------
    def _chosen(self, job_id: str, key: str | None, wanted: Callable[[Result], bool]) -> list[str]:
        results = self._table.job(job_id).results
        return [identity(r) for r in results if wanted(r) and key in (None, identity(r))]

    async def pause(self, job_id: str, *, key: str | None = None) -> Job:
        """Stop the job's unfinished downloads (with `key`: that file's only; the others go
        on) and keep each `.part` for a resume with Range; nothing fetches them again, after a
        restart neither, until `resume` or a download."""
        keys = self._chosen(job_id, key, lambda r: r.is_under_way)
        if not keys:
            return self._table.job(job_id)
        # Held before the task is stopped, so the scheduler never sees them as wanted.
        self._stops[job_id] = self._stops.get(job_id, 0) + 1
        for one in keys:
            self._update(job_id, one, download_state=DownloadState.PAUSED, held=True,
                         error=PAUSED_NOTE, retry_at=None)  # fmt: skip
        if key is None:
            await self.cancel(job_id)
        else:
            await self._cancel_files(job_id, keys)
        for one in keys:  # the bytes the .part holds now that nothing writes to it
            found = self._find(job_id, one)
            if found is not None and found[1].path:
                size = _size(partfile.part_path(Path(found[1].path)))
                self._update(job_id, one, bytes_done=size)
        if key is None:
            message = f"paused {len(keys)} download(s); partial files kept"
        else:
            message = f"paused {self._label(job_id, key)}; its partial file is kept"
        self._note(job_id, "download-paused", message)
        return self._table.job(job_id)

    def resume(self, job_id: str, *, key: str | None = None) -> Job:
        """Continue the job's paused downloads (with `key`: that file only) from the bytes of
        their `.part` (Range), in the folder each was started in."""
        keys = self._chosen(job_id, key, lambda r: r.download_state == DownloadState.PAUSED)
        for one in keys:
            self._update(job_id, one, download_state=DownloadState.PENDING, held=False, error=None)
        if keys:
            if key is None:
                message = f"resumed {len(keys)} download(s)"
            else:
                message = f"resumed {self._label(job_id, key)}"
            self._note(job_id, "download-resumed", message)
            if key is None and job_id not in self._tasks:
                self._start(job_id, folder=None, retry_failed=False)
            else:  # these only; a run of the job's goes on with its other files
                self._start_files(job_id, set(keys), folder=None, retry_failed=False)
        return self._table.job(job_id)

    async def stop(self, job_id: str, *, key: str | None = None) -> Job:
        """Cancel the job's unfinished downloads (with `key`: that file's only): stopped,
        their `.part` files deleted, the results `pending` and held (not fetched again until
        the user asks)."""
        job = self._table.job(job_id)
        chosen = set(
            self._chosen(
                job_id,
                key,
                lambda r: r.is_under_way or r.download_state == DownloadState.PAUSED,
            )
        )
        stopping = [r for r in job.results if identity(r) in chosen]
        if not stopping:
            return job
        label = self._label(job_id, key) if key is not None else ""
        self._stops[job_id] = self._stops.get(job_id, 0) + 1
        for result in stopping:
            self._update(job_id, identity(result), download_state=DownloadState.PENDING,
                         held=True, error=CANCELLED_NOTE, retry_at=None, retries=0)  # fmt: skip
        if key is None:
            await self.cancel(job_id)  # the writing thread is gone once this returns
        else:
            await self._cancel_files(job_id, [key])
        for result in stopping:
            key = identity(result)
            found = self._find(job_id, key)
            path = (found[1].path if found else None) or result.path
            if path:
                _delete_part(partfile.part_path(Path(path)))
            self._update(job_id, key, path=None, bytes_done=0)
        if key is None:
            message = f"cancelled {len(stopping)} download(s); partial files deleted"
        else:
            message = f"cancelled {label}; its partial file is deleted"
        self._note(job_id, "download-cancelled", message)
        return self._table.job(job_id)

    async def _guarded(
        self,
        job_id: str,
        *,
        folder: Path | None,
        retry_failed: bool,
        only: set[str] | None = None,
    ) -> None:
        try:
            await self._download_job(job_id, folder=folder, retry_failed=retry_failed, only=only)
        except UsageError:
            pass  # the job was removed meanwhile
        except Exception:
            log.exception("unexpected error downloading job %s", job_id)
            self._set_all_failed(job_id, "internal error while downloading; see the log")
        finally:
            if self._tasks.get(job_id) is asyncio.current_task():
                self._tasks.pop(job_id, None)
            self._table.wake()

    async def _download_job(
        self,
        job_id: str,
        *,
        folder: Path | None,
        retry_failed: bool,
        only: set[str] | None = None,
    ) -> None:
        """Fetch the job's due results (`only`: of these) side by side, each within the
        download limits. `folder`: where to save them; None: each where its `.part` is, else
        in the job's folder."""
        # Results are followed by identity, not position: a link refresh may list them in
        # another order, or add and drop some; so the due ones are looked for again whenever
        # one ends.
        tried: set[str] = set()
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                job = self._table.job(job_id)
                now = self._table.clock()
                for result in job.results:
                    key = identity(result)
                    if key in tried or (only is not None and key not in only):
                        continue
                    if (job_id, key) in self._files:  # fetched by another run already
                        continue
                    if not self._due(job_id, result, retry_failed, now):
                        continue
                    tried.add(key)
                    self._tried.add((job_id, key))
                    if result.download_state == DownloadState.DONE:
                        self._set_result(job_id, key, result.replace_state(DownloadState.PENDING))
                    target = folder or self._folder_of(job, result)
                    running.add(self._file_task(job_id, key, target))
                if not running:
                    return
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    if not task.cancelled():  # a file paused or cancelled on its own
                        task.result()  # a removed job (UsageError) ends them all
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _file_task(self, job_id: str, key: str, target: Path) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            self._one(job_id, key, target), name=f"download:{job_id}:{key}"
        )
        self._files[(job_id, key)] = task

        def done(_task: asyncio.Task[None]) -> None:
            if self._files.get((job_id, key)) is task:
                del self._files[(job_id, key)]

        task.add_done_callback(done)
        return task

    def _folder_of(self, job: Job, result: Result) -> Path:
        """Where a download that names no folder saves a result: where its `.part` is, when
        a download (a `--to`, an earlier download folder) left one; else the job's folder."""
        if result.path and result.download_state != DownloadState.DONE:
            previous = Path(result.path)
            if _plain_file(partfile.part_path(previous)):
                return previous.parent
        return self.folder_for(job)

    async def _one(self, job_id: str, key: str, target: Path) -> None:
        found = self._find(job_id, key)
        if found is None:
            return
        try:
            async with self._download_slot(found[1]):
                await self._download_result(job_id, key, target)
        except UsageError:
            raise  # the job was removed meanwhile
        except Exception:
            # One result's trouble is its own: its siblings are still fetched.
            log.exception("unexpected error downloading a result of job %s", job_id)
            self._mark(
                job_id, key, DownloadState.FAILED, "internal error while saving; see the log"
            )

    def _due(self, job_id: str, result: Result, retry_failed: bool, now: datetime) -> bool:
        state = result.download_state
        if result.held or state == DownloadState.PAUSED:  # until the user asks
            return retry_failed
        if state == DownloadState.DONE:  # saved, unless the file is gone and a retry was asked
            return retry_failed and not (result.path and Path(result.path).exists())
        if state in (DownloadState.FAILED, DownloadState.EXPIRED):
            return retry_failed or self._retry_due(job_id, result, now)
        return True

    def _find(self, job_id: str, key: str) -> tuple[int, Result] | None:
        """Where the result known as `key` is now, or None when a refresh dropped it."""
        for index, result in enumerate(self._table.job(job_id).results):
            if identity(result) == key:
                return index, result
        return None

    async def _download_result(self, job_id: str, key: str, folder: Path) -> None:
        attempts = 0
        checksum_failures = 0
        earlier: str | None = None  # SHA-256 of a download S3's ETag disagreed with
        refreshed = False
        headers_asked = False  # a refresh for the link's headers (`_NoLinkHeaders`)
        while True:
            # An expiry time (from a signature or the API) is a hint: a clock ahead of the
            # signer sees a live link as expired. So the link is always tried, by the
            # download's own GET (a probe first would cost one more request of a link that
            # may be short-lived, and tell nothing more), and only a refusal counts.
            if self._find(job_id, key) is None:
                return
            try:
                done = await self._fetch(job_id, key, folder, earlier)
            except _Gone:
                return  # a refresh elsewhere dropped it meanwhile
            except _NoLinkHeaders as exc:
                if headers_asked or not await self._refresh(job_id, key, reason=exc.user_message):
                    if headers_asked:
                        self._mark(job_id, key, DownloadState.EXPIRED, exc.user_message)
                    return
                headers_asked = True
                continue
            except LinkExpiredError as exc:
                if refreshed or not await self._refresh(job_id, key, reason=exc.user_message):
                    if refreshed:
                        self._mark(job_id, key, DownloadState.EXPIRED, exc.user_message)
                    return
                refreshed = True
                continue
            except ChecksumError as exc:
                checksum_failures += 1  # the .part is gone: the next attempt starts from zero
                if isinstance(exc, HintMismatchError) and exc.first:
                    earlier = exc.sha256  # the same bytes again: kept, marked unverified
                if checksum_failures < 2:
                    self._note(job_id, "download-retry", f"{exc.user_message}; downloading again")
                    continue
                self._mark(job_id, key, DownloadState.FAILED, exc.user_message)
                return
            except JobdockError as exc:
                attempts += 1
                quick = not isinstance(exc, DiskFullError)  # room does not appear in seconds
                if exc.transient and quick and attempts < self._settings.current.download_retries:
                    self._note(job_id, "download-retry", f"{exc.user_message}; retrying")
                    await asyncio.sleep(min(0.25 * 2**attempts, 10.0))
                    continue
                if exc.transient:
                    self._fail_for_now(job_id, key, exc)
                else:
                    self._mark(job_id, key, DownloadState.FAILED, exc.user_message)
                return
            done = replace(done, retry_at=None, retries=0)
            if done.decompress and done.path:  # verified as served; saved as meant (gzip)
                try:
                    root = self._root(self._table.job(job_id), folder)
                    done = await asyncio.to_thread(decompressed, done, root=root)
                except DownloadError as exc:
                    self._mark(job_id, key, DownloadState.FAILED, exc.user_message)
                    return
            if self._set_result(job_id, key, done):
                self._note(job_id, "saved", _saved_note(done, earlier))
            return

    async def _fetch(
        self, job_id: str, key: str, folder: Path, earlier: str | None = None
    ) -> Result:
        job = self._table.job(job_id)
        found = self._find(job_id, key)
        if found is None:
            raise _Gone
        result = found[1]
        if result.link_headers_missing:
            # The link's headers (a decryption key) are never stored: after a restart they are
            # had again with a fresh link, by polling the job (`_refresh`).
            raise _NoLinkHeaders(
                f"the link of {self._label(job_id, key)} needs headers this process does not "
                f"have (they are never stored); asking {job.provider} for a fresh link"
            )
        account = self._accounts.account(job.account) if not job.orphaned else None
        if result.needs_auth and account is not None:
            session = await self._accounts.session(account)
        else:
            # A link that needs no credentials gets none, from any origin; an orphaned job has no
            # account left, so its session is named after the link's own origin.
            owner = account or Account(name=job.account, provider=job.provider, base_url=result.url)
            session = self._accounts.bare_session(owner)
        self._update(
            job_id,
            key,
            download_state=DownloadState.DOWNLOADING,
            error=None,
            retry_at=None,
            held=False,
        )
        meter = downloader.RateMeter()
        settings = self._settings.current
        min_speed = MinSpeed(bytes_per_second=settings.min_speed, window=settings.min_speed_window)

        def on_started(started: downloader.Started) -> None:
            if started.warning:
                self._note(job_id, "low-space", started.warning)
            self._update(
                job_id,
                key,
                path=str(started.path),
                bytes=started.total,
                etag=started.etag,
                last_modified=started.last_modified,
            )

        def on_progress(done: int, total: int | None) -> None:  # at most 4 a second
            speed = meter.update(done)
            now = self._find(job_id, key)
            if now is not None:
                self._table.publish_progress(
                    DownloadProgress(job_id, now[0], done, total, speed, meter.eta(done, total))
                )

        root = self._root(job, folder)
        async with self._slot(result):
            current = self._find(job_id, key)
            if current is None:
                raise _Gone
            await self._bring_part(job_id, key, current[1], folder, root)
            current = self._find(job_id, key)
            if current is None:
                raise _Gone
            try:
                return await downloader.download(
                    session,
                    current[1],
                    folder=folder,
                    on_started=on_started,
                    on_progress=on_progress,
                    # The bytes move in a worker thread (off the GUI thread, at full speed);
                    # an engine given a test transport keeps them on the loop, through it.
                    threaded=self._accounts.threaded,
                    trust_etag_host=self.trust_etag_host,
                    earlier_sha256=earlier,
                    root=root,
                    min_speed=min_speed,
                )
            finally:
                part = self._find(job_id, key)
                if part is not None and part[1].path:
                    if part[1].download_state == DownloadState.DOWNLOADING:
                        done_bytes = _size(partfile.part_path(Path(part[1].path)))
                        self._update(job_id, key, bytes_done=done_bytes)

    def _root(self, job: Job, folder: Path) -> Path | None:
        """The download folder `folder` is in, when it is the job's own folder: below it, no
        folder may be a link (see jobfolder)."""
        download_dir = self._settings.current.download_dir
        return download_dir if folder == self.folder_for(job) else None

    async def _bring_part(
        self, job_id: str, key: str, result: Result, folder: Path, root: Path | None
    ) -> None:
        """A download asked into another folder than the one its `.part` is in (`--to`, a
        folder chosen in the window) goes on from that `.part`: it is moved there first, under
        a name nothing there uses, and the download resumes with Range."""
        if not result.path:
            return
        previous = Path(result.path)
        if previous.parent == folder or not _plain_file(partfile.part_path(previous)):
            return
        if previous.parent.resolve() == folder.resolve():
            return

        def moved(path: Path) -> None:
            self._update(job_id, key, path=str(path))
            self._note(job_id, "download-moved",
                       f"moved the partial file of {self._label(job_id, key)} from "
                       f"{previous.parent} to {folder}; resuming there")  # fmt: skip

        await downloader.move_part(
            previous, folder, root=root, source_root=self._settings.current.download_dir,
            on_moved=moved,
        )  # fmt: skip

    async def _refresh(self, job_id: str, key: str, *, reason: str) -> bool:
        """The storage refused the result's link: poll the job for a fresh one. False (and the
        result marked expired) if none came; a fresh link is tried whatever its expiry says."""
        before = self._find(job_id, key)
        self._note(job_id, "link-refresh", reason)
        await self._poll_once(job_id)
        after = self._find(job_id, key)
        if after is None:
            return False  # the API no longer lists it: nothing to fetch under this identity
        renewed = before is not None and before[1].link_headers_missing
        renewed = renewed and not after[1].link_headers_missing  # the same link, its headers had
        if before is None or (after[1].url == before[1].url and not renewed):
            message = (
                "the result link expired and the API gave no fresh one; "
                "re-submit the job to get the result again"
            )
            self._mark(job_id, key, DownloadState.EXPIRED, message)
            await self._maybe_resubmit(job_id)
            return False
        return True

    async def _maybe_resubmit(self, job_id: str) -> None:
        """With `auto_resubmit`, an expired result that cannot be refreshed is fetched again by
        submitting the same request as a new job (once per job: the new job is a fresh start)."""
        job = self._table.job(job_id)
        if not self._settings.current.auto_resubmit or job.request is None:
            return
        # Once per job, and never for a job that is itself a re-submission: no endless chain.
        if any(e.kind in ("resubmitted", "resubmission") for e in self._table.events(job_id)):
            return
        try:
            new = await self._resubmit(job_id)
        except JobdockError as exc:
            self._note(job_id, "resubmit-failed", exc.user_message)
            return
        self._note(job_id, "resubmitted", f"re-submitted as job {new.id} to get the result again")

    # bookkeeping ---------------------------------------------------------------------------
    def _set_result(self, job_id: str, key: str, result: Result) -> bool:
        """Put `result` in the place of the one known as `key`; False when that one is gone
        (bytes saved for a link are never recorded under another)."""
        found = self._find(job_id, key)
        if found is None:
            log.info("job %s: a result was dropped by a refresh while it was being saved", job_id)
            return False
        job = self._table.job(job_id)
        results = list(job.results)
        results[found[0]] = replace(result, key=key)
        self._table.commit([job.replace(results=tuple(results), updated_at=self._table.clock())])
        return True

    def _update(self, job_id: str, key: str, **changes: object) -> None:
        found = self._find(job_id, key)
        if found is not None:
            self._set_result(job_id, key, replace(found[1], **changes))  # type: ignore[arg-type]

    def _mark(self, job_id: str, key: str, state: DownloadState, message: str) -> None:
        self._update(job_id, key, download_state=state, error=message, retry_at=None)
        self._note(job_id, f"download-{state.value}", message)

    def _fail_for_now(self, job_id: str, key: str, exc: JobdockError) -> None:
        """Failed for a passing reason: `failed`, with the next round scheduled (backoff), or
        for good once `retry_rounds` rounds failed (a full disk has no such limit)."""
        settings = self._settings.current
        found = self._find(job_id, key)
        if found is None:
            return
        rounds = found[1].retries + 1
        if rounds >= settings.retry_rounds and not isinstance(exc, DiskFullError):
            message = f"{exc.user_message}; gave up after {rounds} rounds of retries"
            self._mark(job_id, key, DownloadState.FAILED, message)
            return
        delay = min(settings.retry_max, settings.retry_min * 2 ** min(rounds - 1, 30))
        if isinstance(exc, DiskFullError):
            # Looking again costs a look at the free space (the downloader asks the server only
            # once the rest fits), and the room may come back at any moment.
            delay = min(settings.retry_min, DISK_FULL_RECHECK)
        message = f"{exc.user_message}; trying again in {delay:g} s"
        retry_at = self._table.clock() + timedelta(seconds=delay)
        self._update(
            job_id,
            key,
            download_state=DownloadState.FAILED,
            error=message,
            retry_at=retry_at,
            retries=rounds,
        )
        self._note(job_id, "download-failed", message)

    def _set_all_failed(self, job_id: str, message: str) -> None:
        try:
            job = self._table.job(job_id)
        except UsageError:
            return
        results = tuple(
            r
            if r.download_state.is_settled
            else replace(r, download_state=DownloadState.FAILED, error=message)
            for r in job.results
        )
        self._table.commit([job.replace(results=results)])

    def _note(self, job_id: str, kind: str, message: str) -> None:
        event = JobEvent(job_id=job_id, at=self._table.clock(), kind=kind, message=message)
        self._table.commit([], [event])


def _delete_part(path: Path) -> None:
    """Delete a `.part` Jobdock wrote: a plain file only, never through a link."""
    try:
        if stat.S_ISREG(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def _priority(result: Result) -> float:
    """Soonest-expiring first; links with no known expiry after every dated one."""
    return result.expires_at.timestamp() if result.expires_at else float("inf")


def _saved_note(done: Result, earlier: str | None) -> str:
    if done.verified == Verified.UNVERIFIED:
        how = (
            "unverified: the ETag disagreed with two identical downloads"
            if earlier is not None
            else "unverified: the server gave no length and no checksum"
        )
    elif done.verified == Verified.SIZE:
        how = "length checked; no checksum the server stated could be checked"
    else:
        how = f"{done.verified} checked"
    return f"{done.path} ({done.bytes:,} bytes, sha256 {done.sha256}; {how})"


def _plain_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _size(path: Path) -> int:
    """The size of the plain file at `path` (never through a link), 0 for anything else."""
    try:
        info = path.lstat()
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0
