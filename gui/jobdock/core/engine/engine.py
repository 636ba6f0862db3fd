"""The engine: follows every job, polls on schedule, saves results, and publishes update batches.

One `Engine` per process, driven by whatever asyncio loop runs it (plain asyncio in the CLI,
qasync in the window). It owns the in-memory job table (mirrored to the `JobStore` on every
change), one API session per account, and the scheduler task. Listeners receive `UpdateBatch`es:
all changes made within one loop iteration are coalesced, so a burst of answers reaches the window
as one batch. Downloads live in `transfers.py`; the pure rules in `rules.py`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from jobdock.core.engine.commands import CANCEL, DOWNLOAD, PAUSE, REFRESH, RESUME, Commands
from jobdock.core.engine.expiry import ClockSkew
from jobdock.core.engine.lease import Worker
from jobdock.core.engine.neighbours import Neighbours
from jobdock.core.engine.polling import PollHealth, Polling
from jobdock.core.engine.rules import apply_status, deadline_for, effective_policy
from jobdock.core.engine.transfers import Transfers
from jobdock.core.model.errors import (
    AuthError,
    ConfigError,
    JobdockError,
    NetworkError,
    StoreError,
    UsageError,
)
from jobdock.core.model.job import Account, Job, JobEvent, JobState, SubmitRequest, utcnow
from jobdock.core.model.paths import AppPaths
from jobdock.core.model.updates import DownloadProgress, UpdateBatch
from jobdock.core.net.http import ApiSession, make_api_client, make_bare_client
from jobdock.core.net.inputs import MAX_REF_CHARS, has_line_break, quoted, url_problem
from jobdock.core.net.redaction import redact_event, redact_job
from jobdock.core.providers import builtin_providers, get_provider
from jobdock.core.providers.base import (
    PollPolicy,
    Provider,
    RemoteStatus,
    SupportsJobList,
)
from jobdock.core.providers.shoptet.quota import QuotaStatus, SupportsQuota
from jobdock.core.store.credentials import CredentialStore, Redactor
from jobdock.core.store.jobs import JobStore
from jobdock.core.store.settings import EngineSettings, load_settings, save_settings
from jobdock.core.store.writeback import RETRY_INTERVAL, WriteBack

log = logging.getLogger("jobdock.engine")
PROBE_JOB_ID = "jobdockconnectiontest0"  # a valid id shape for every provider
IDLE_WAKE = 30.0
_TICK = timedelta(microseconds=1)


@dataclass
class _Pending:
    changed: dict[str, Job] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    progress: dict[tuple[str, int], DownloadProgress] = field(default_factory=dict)
    events: list[JobEvent] = field(default_factory=list)


class Engine:
    def __init__(
        self,
        *,
        store: JobStore,
        credentials: CredentialStore,
        paths: AppPaths,
        providers: Mapping[str, Provider] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.paths = paths
        self.providers = dict(providers) if providers is not None else builtin_providers()
        self.settings = load_settings(store, default_download_dir=paths.default_download_dir)
        self.redactor = Redactor()
        # Wall time (`clock`) is for what is shown and stored; waiting is measured on the
        # monotonic clock, which a wall-clock step (NTP, a user, a suspended VM) does not move.
        self.clock = clock
        self.monotonic = monotonic
        self.skew = ClockSkew()
        self._poll_due: dict[str, tuple[datetime, float]] = {}  # next_poll_at → monotonic due
        self.rng = rng or random.Random()
        self._transport = transport
        store_version = store.data_version()  # before reading: a write in between is seen later
        self._jobs: dict[str, Job] = {j.id: j for j in store.list_jobs()}
        self._sessions: dict[str, ApiSession] = {}
        self._bare = make_bare_client(transport=transport)
        self._listeners: list[Callable[[UpdateBatch], None]] = []
        self._pending = _Pending()
        self._flush_scheduled = False
        self._wake = asyncio.Event()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._issued_ids: set[str] = set()
        self._store_watch: asyncio.Task[None] | None = None
        self.writeback = WriteBack(store)
        self.neighbours = Neighbours(self, store_version)
        self.transfers = Transfers(self)
        self.polling = Polling(self)
        self.commands = Commands(self)
        self.worker = Worker(self)

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Follow the store, and poll and download while this process is the data dir's worker
        (at once when no other engine is: `lease.Worker`)."""
        if self._store_watch is None:
            loop = asyncio.get_running_loop()
            self._store_watch = loop.create_task(self.neighbours.run(), name="store-watch")
            await self.worker.start()

    def start_working(self) -> None:
        """This process became the worker: start the scheduler (polls and automatic downloads)."""
        if self._runner is None and not self._closing:
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="scheduler")

    async def stop_working(self) -> None:
        """Another process is the worker now: stop polling and downloading here."""
        runner, self._runner = self._runner, None
        tasks = [t for t in {runner, *self.polling.tasks.values()} if t is not None]
        tasks += self.transfers.tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.commands.cancel()

    async def aclose(self) -> None:
        self._closing = True
        await self.worker.aclose()
        await self.commands.cancel()
        tasks = [
            t
            for t in {self._runner, self._store_watch, *self.polling.tasks.values()}
            if t is not None
        ]
        tasks += self.transfers.tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = self._store_watch = None
        self._flush()
        self._retry_store()  # a last try; `store_problem` says when it failed
        for name in self._sessions:
            try:
                self._save_quota(name)
            except StoreError as exc:
                log.warning("the account quota of %s was not saved: %s", name, exc)
        for session in self._sessions.values():
            await session.api.aclose()
        self._sessions.clear()
        await self._bare.aclose()
        self.worker.release()  # after the last writes: the next worker reads them

    def configure(self, *, persist: bool = False, **changes: object) -> EngineSettings:
        """Change settings (in memory; also in the store with `persist=True`)."""
        from dataclasses import replace

        self.settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        if persist:
            save_settings(self.store, self.settings)
        self.wake()
        return self.settings

    # listeners -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[UpdateBatch], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self._flush)
        except RuntimeError:  # no loop (synchronous use): deliver at once
            self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, _Pending()
        if not (pending.changed or pending.removed or pending.progress or pending.events):
            return
        batch = UpdateBatch(
            changed=tuple(pending.changed.values()),
            removed=tuple(pending.removed),
            progress=tuple(pending.progress.values()),
            events=tuple(pending.events),
        )
        for listener in list(self._listeners):
            try:
                listener(batch)
            except Exception:
                log.exception("update listener failed")

    def publish_progress(self, progress: DownloadProgress) -> None:
        self._pending.progress[(progress.job_id, progress.index)] = progress
        self._schedule_flush()

    def commit(
        self, jobs: Iterable[Job], events: Iterable[JobEvent] = (), *, persist: bool = True
    ) -> None:
        """Record new job values: memory, store, listeners. The one way jobs change, and so the
        one place where text enters a job: every secret the engine knows is redacted here."""
        jobs = [redact_job(job, self.redactor, previous=self._jobs.get(job.id)) for job in jobs]
        jobs = [self._stamped(job) for job in jobs] if persist else jobs
        jobs = [j for j in jobs if j.id in self._jobs or j.id not in self._pending.removed]
        events = [redact_event(event, self.redactor) for event in events]
        if persist and jobs:
            # Compare-and-set against the versions this process last saw: what another process
            # changed meanwhile is merged, never overwritten (store.put_jobs, rowmerge.py). A
            # store that cannot be written (full disk, read-only file) keeps nothing from
            # running: these versions are the truth, `writeback` saves them when it can.
            bases = {j.id: self._jobs.get(j.id) for j in jobs}
            written = self.writeback.save(jobs, events, bases=bases)
            if written is not None:
                jobs = [w for j in jobs if (w := written.get(j.id)) is not None]
        elif events:
            self.writeback.save((), events)
        now, mono = self.clock(), self.monotonic()
        for job in jobs:
            if persist:  # computed here just now; a reload is read as `poll_due` says
                self._note_poll_due(job, now, mono)
            self._jobs[job.id] = job
            self._pending.changed[job.id] = job
        self._pending.events.extend(events)
        self._schedule_flush()
        self.wake()

    def _retry_store(self) -> None:
        """Write what the store refused before; take in the rows it merged meanwhile."""
        written = self.writeback.retry() or {}
        merged = [w for i, w in written.items() if w is not None and w != self._jobs.get(i)]
        if merged:
            self.commit([j for j in merged if j.id in self._jobs], persist=False)

    @property
    def store_problem(self) -> str | None:
        """Why job changes are waiting in memory (the store cannot be written), or None."""
        return self.writeback.problem if self.writeback.pending else None

    def _note_poll_due(self, job: Job, now: datetime, mono: float) -> None:
        """A new `next_poll_at` was computed from the wall clock a moment ago: from here on it
        is waited for on the monotonic clock."""
        wall = job.next_poll_at
        known = self._poll_due.get(job.id)
        if wall is None or (known is not None and known[0] == wall):
            return
        self._poll_due[job.id] = (wall, mono + max(0.0, (wall - now).total_seconds()))

    def poll_due(self, job: Job) -> float:
        """When (monotonic) the job's next poll is due. A `next_poll_at` this engine did not see
        computed (read at start, or written by another process) is taken as a wait from now, at
        most the job's longest poll interval: a wall clock set back since then must not hold
        polling for the size of the step."""
        mono = self.monotonic()
        wall = job.next_poll_at
        if wall is None:
            return mono
        known = self._poll_due.get(job.id)
        if known is not None and known[0] == wall:
            return known[1]
        wait = min(max(0.0, (wall - self.clock()).total_seconds()), self._longest_wait(job))
        self._poll_due[job.id] = (wall, mono + wait)
        return mono + wait

    def _longest_wait(self, job: Job) -> float:
        try:
            return self.policy(self.provider(job.provider), self.account(job.account)).max_interval
        except JobdockError:
            return IDLE_WAKE

    def _stamped(self, job: Job) -> Job:
        """`job` with an `updated_at` later than the version it replaces, when it changed: how
        another process on this data dir tells it is news (`neighbours.Neighbours`)."""
        previous = self._jobs.get(job.id)
        if previous is None or job.updated_at > previous.updated_at or job == previous:
            return job
        return job.replace(updated_at=max(self.clock(), previous.updated_at + _TICK))

    def wake(self) -> None:
        self._wake.set()

    # reading -------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def job(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UsageError(f"unknown job {job_id!r} (see `jobdock jobs`)") from None

    def events(self, job_id: str) -> list[JobEvent]:
        return self.store.events(job_id)

    def accounts(self) -> list[Account]:
        return self.store.list_accounts()

    def account(self, name: str) -> Account:
        return self.store.get_account(name)

    def provider(self, provider_id: str) -> Provider:
        return get_provider(provider_id, self.providers)

    def policy(self, provider: Provider, account: Account | None = None) -> PollPolicy:
        """The provider's policy, bounded by the account's `poll_min`/`poll_max` options when
        set (an API with its own advice), else by the settings' bounds."""
        options = account.options if account is not None else {}
        poll_min, poll_max = _poll_bounds(options, self.settings)
        return effective_policy(provider.poll_policy, poll_min=poll_min, poll_max=poll_max)

    # accounts ------------------------------------------------------------------------------
    async def add_account(self, account: Account, secret: str | None) -> Account:
        self.policy(self.provider(account.provider), account)  # bad options fail here, not later
        problem = url_problem(account.base_url)
        if problem is not None:
            raise UsageError(f"base URL {quoted(account.base_url)} is {problem}")
        if secret is not None:
            self.redactor.add(secret)
            await asyncio.to_thread(self.credentials.set, account.name, secret)
        self.store.put_account(account, now=self.clock())
        await self._drop_session(account.name)
        self._reload_account_jobs(account.name)
        return account

    async def remove_account(self, name: str) -> None:
        self.store.get_account(name)
        await asyncio.to_thread(self.credentials.delete, name)
        self.store.remove_account(name)
        await self._drop_session(name)
        self._reload_account_jobs(name)

    def _reload_account_jobs(self, name: str) -> None:
        fresh = {j.id: j for j in self.store.list_jobs() if j.account == name}
        self.commit(fresh.values(), persist=False)

    async def _drop_session(self, name: str) -> None:
        session = self._sessions.pop(name, None)
        if session is not None:
            await session.api.aclose()

    async def session(self, account: Account) -> ApiSession:
        """The account's API session, reading its secret from the keyring the first time."""
        cached = self._sessions.get(account.name)
        if cached is not None:
            return cached
        provider = self.provider(account.provider)
        secret = await asyncio.to_thread(self.credentials.get, account.name)
        # A profile with `auth.kind = "none"` (UniProt) needs no secret at all.
        if not secret and not getattr(provider, "needs_secret", True):
            secret = ""
        elif not secret:
            raise ConfigError(
                f"no secret for account {account.name!r} in the keyring; add it with "
                f"`jobdock accounts add {account.name} --provider {account.provider} "
                f"--base-url URL --secret-stdin`"
            )
        self.redactor.add(secret)
        headers = provider.auth_headers(account, secret)
        # Profiles with `query` auth put the credential in a parameter: only this account's
        # session carries it, so like the headers it reaches only the account's origin.
        auth_params = getattr(provider, "auth_params", None)
        params: dict[str, str] = auth_params(account, secret) if auth_params else {}
        api = make_api_client(
            headers=headers,
            # An API that limits connections per token (Shoptet: 3) caps its client lower.
            max_connections=min(
                self.settings.max_per_origin,
                provider.max_connections or self.settings.max_per_origin,
            ),
            transport=self._transport,
        )
        api.event_hooks = {"response": [self._observe_clock]}
        http_auth = getattr(provider, "http_auth", None)  # profiles' OAuth2 token exchange
        if http_auth is not None:
            api.auth = http_auth(account, secret, self.redactor)
        # The session teaches the redactor what its headers and parameters carry.
        result_origins = getattr(provider, "result_origins", None)  # profiles' `result_hosts`
        session = ApiSession(
            account=account, api=api, bare=self._bare, auth_params=tuple(params.items()),
            redactor=self.redactor, deadline=self.settings.request_deadline,
            result_origins=result_origins(account) if result_origins else (),
        )  # fmt: skip
        self._sessions[account.name] = session
        return session

    async def _observe_clock(self, response: httpx.Response) -> None:
        self.skew.observe(response, local_now=self.clock())

    def localized(self, status: RemoteStatus, account: Account) -> RemoteStatus:
        """The answer with its links' expiry times on this machine's clock (`expiry`)."""
        return self.skew.localize(status, api_origin=account.origin)

    def account_status(self, name: str) -> QuotaStatus | None:
        """The account's request quota (providers that report one, like Shoptet): live while
        its session is open, else as the last run left it; None when nothing is known."""
        account = self.account(name)
        provider = self.provider(account.provider)
        session = self._sessions.get(name)
        if session is not None and isinstance(provider, SupportsQuota):
            live = provider.quota_status(session)
            if live is not None:
                return live
        stored = self.store.get_setting(f"quota:{name}")
        return QuotaStatus.from_json(stored) if isinstance(stored, dict) else None

    def _save_quota(self, name: str) -> None:
        session = self._sessions.get(name)
        provider = self.providers.get(session.account.provider) if session else None
        if session is not None and isinstance(provider, SupportsQuota):
            status = provider.quota_status(session)
            if status is not None:
                self.store.set_setting(f"quota:{name}", status.to_json())

    async def check_account(self, name: str) -> str:
        """Ask the API about a job that cannot exist: any answer but 401/403 means the origin is
        reachable and the credentials were not refused. Raises the error otherwise."""
        account = self.account(name)
        provider = self.provider(account.provider)
        session = await self.session(account)
        try:
            ref = provider.parse_ref(account, PROBE_JOB_ID)
        except UsageError:  # providers that follow status URLs only
            ref = provider.parse_ref(account, account.base_url)
        probe = Job(
            id=PROBE_JOB_ID, account=name, provider=provider.id,
            remote_id=ref.remote_id, status_url=ref.status_url,
        )  # fmt: skip
        try:
            await provider.poll(session, probe)
        except (AuthError, NetworkError, ConfigError):
            raise
        except JobdockError:
            pass  # the API answered, in its own way, about a job it cannot know
        return f"connected to {account.origin}: credentials accepted"

    def bare_session(self, account: Account) -> ApiSession:
        return ApiSession(
            account=account, api=self._bare, bare=self._bare, redactor=self.redactor,
            deadline=self.settings.request_deadline,
        )  # fmt: skip

    def semaphore(self, key: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(key)
        if sem is None:
            sem = self._semaphores[key] = asyncio.Semaphore(max(1, self.settings.max_per_origin))
        return sem

    # jobs ----------------------------------------------------------------------------------
    def _new_id(self) -> str:
        """A short random local id, never one in use or already handed out (a sync makes
        many jobs before committing them)."""
        while True:
            job_id = secrets.token_hex(4)
            if job_id not in self._jobs and job_id not in self._issued_ids:
                self._issued_ids.add(job_id)
                return job_id

    def _new_job(
        self, account: Account, provider: Provider, *, now: datetime, **fields: object
    ) -> Job:
        """A job of this account, due to give up at the provider's deadline from `now`."""
        deadline = deadline_for(now, self.policy(provider, account))
        return Job(
            id=self._new_id(),
            account=account.name,
            provider=provider.id,
            deadline_at=deadline,
            **fields,  # type: ignore[arg-type]
        )

    def _first_poll(self, job: Job, status: RemoteStatus, policy: PollPolicy) -> Job:
        if job.state.is_terminal:
            return job.replace(next_poll_at=None)
        delay = status.retry_after if status.retry_after is not None else policy.first_delay
        return job.replace(next_poll_at=self.clock() + timedelta(seconds=delay))

    async def submit(self, account_name: str, request: SubmitRequest, *, label: str = "") -> Job:
        account = self.account(account_name)
        provider = self.provider(account.provider)
        session = await self.session(account)
        status = self.localized(await provider.submit(session, request), account)
        if not (status.remote_id or status.status_url or status.state.is_terminal):
            raise UsageError("the API accepted the request but named no job to follow")
        now = self.clock()
        policy = self.policy(provider, account)
        job = self._new_job(
            account, provider, now=now, submitted_at=now, request=request,
            label=label or f"{request.method} {request.path}".strip(),
        )  # fmt: skip
        created = JobEvent(job_id=job.id, at=now, kind="submitted", message=job.label)
        job, events = apply_status(
            job, status, now=now, policy=policy, rng=self.rng, redact=self.redactor
        )
        job = self._first_poll(job.replace(polls=0), status, policy)
        self.commit([job], [created, *events])
        return self._jobs.get(job.id, job)  # as committed: redacted

    async def track(self, account_name: str, ref: str, *, label: str = "") -> Job:
        account = self.account(account_name)
        provider = self.provider(account.provider)
        ref = ref.strip()
        if len(ref) > MAX_REF_CHARS or has_line_break(ref) or not ref:
            raise UsageError(
                f"{quoted(ref)} is not a job id or status URL (one line, at most "
                f"{MAX_REF_CHARS:,} characters)"
            )
        jobref = provider.parse_ref(account, ref)
        existing = self.store.find_job(
            account.name, remote_id=jobref.remote_id, status_url=jobref.status_url
        )
        if existing is not None:
            return self._jobs.get(existing.id, existing)
        session = await self.session(account)
        now = self.clock()
        policy = self.policy(provider, account)
        job = self._new_job(
            account, provider, now=now, submitted_at=now, label=label or jobref.remote_id or ref,
            remote_id=jobref.remote_id, status_url=jobref.status_url,
        )  # fmt: skip
        # unknown job or bad credentials: raise
        status = self.localized(await provider.poll(session, job), account)
        job, events = apply_status(
            job, status, now=now, policy=policy, rng=self.rng, redact=self.redactor
        )
        tracked = JobEvent(job_id=job.id, at=now, kind="tracked", message=ref)
        self.commit([job], [tracked, *events])
        return self._jobs.get(job.id, job)  # as committed: redacted

    async def sync(self, account_name: str) -> list[Job]:
        """Import the provider's job list (Shoptet: 30 days), without duplicates."""
        account = self.account(account_name)
        provider = self.provider(account.provider)
        if not isinstance(provider, SupportsJobList):
            raise UsageError(f"provider {provider.id!r} has no job list to sync")
        session = await self.session(account)
        now = self.clock()
        policy = self.policy(provider, account)
        imported: list[Job] = []
        events: list[JobEvent] = []
        async for listed in provider.list_jobs(session):
            status = self.localized(listed, account)
            found = self.store.find_job(account.name, remote_id=status.remote_id)
            job = self._jobs.get(found.id, found) if found else None
            new = job is None
            if job is None:
                job = self._new_job(
                    account, provider, now=now, label=status.remote_id or "",
                    remote_id=status.remote_id, status_url=status.status_url,
                    submitted_at=status.created_at or now,
                )  # fmt: skip
                events.append(JobEvent(job_id=job.id, at=now, kind="synced", message="imported"))
            job, more = apply_status(
                job, status, now=now, policy=policy, rng=self.rng, redact=self.redactor
            )
            # A list entry is not a poll of the job itself (Shoptet counts detail reads).
            imported.append(job.replace(polls=0) if new else job)
            events += more
        self.commit(imported, events)
        return [self._jobs.get(job.id, job) for job in imported]  # as committed: redacted

    async def refresh(self, job_id: str) -> Job:
        """Poll now, whatever the schedule (also for finished jobs: fresh result links); by the
        worker when another process is the worker."""
        if not await self._by_worker(REFRESH, job_id):
            await self.poll_once(job_id)
        return self.job(job_id)

    async def download(self, job_id: str, *, to: Path | None = None) -> Job:
        """Save the job's results now (retrying failed and expired ones); by the worker when
        another process is the worker. Returns the job when done."""
        if await self._by_worker(DOWNLOAD, job_id, to=str(to) if to else None):
            return self.job(job_id)
        return await self.transfers.download(job_id, to=to)

    async def pause_download(self, job_id: str) -> Job:
        """Pause the job's unfinished downloads (each `.part` kept; they stay paused across
        restarts); by the worker when another process is the worker."""
        if await self._by_worker(PAUSE, job_id):
            return self.job(job_id)
        return await self.transfers.pause(job_id)

    async def resume_download(self, job_id: str) -> Job:
        """Continue the job's paused downloads with Range from their `.part` (returns once
        they are under way, not when they are done)."""
        if await self._by_worker(RESUME, job_id):
            return self.job(job_id)
        return self.transfers.resume(job_id)

    async def cancel_download(self, job_id: str) -> Job:
        """Stop the job's unfinished downloads and delete their `.part` files; the results
        stay `pending`, not fetched again until the user asks (download now)."""
        if await self._by_worker(CANCEL, job_id):
            return self.job(job_id)
        return await self.transfers.stop(job_id)

    async def _by_worker(self, kind: str, job_id: str, **args: object) -> bool:
        """Hand an action to the live worker in another process and wait until it is done
        (False: this process does it, being the worker or finding none)."""
        self.job(job_id)  # an unknown job is a usage error here, not a skipped command
        if self.worker.holds or self.worker.lease.live_holder() is None:
            return False
        done = await self.commands.wait(self.commands.post(kind, job_id, **args))
        await self.neighbours.adopt()  # the worker's writes
        return done

    async def resubmit(self, job_id: str) -> Job:
        job = self.job(job_id)
        if job.request is None:
            raise UsageError(f"job {job_id} was tracked, not submitted here: nothing to re-submit")
        new = await self.submit(job.account, job.request, label=job.label)
        note = JobEvent(job_id=new.id, at=self.clock(), kind="resubmission", message=f"of {job.id}")
        self.commit([], [note])
        return new

    async def remove(self, job_id: str) -> None:
        self.job(job_id)
        self.polling.cancel(job_id)
        await self.transfers.cancel(job_id)
        try:
            self.store.remove_job(job_id)
        except UsageError:
            if not self.writeback.holds(job_id):
                raise
            # never written (the store refused it): nothing to delete there
        self.forget(job_id)

    def forget(self, job_id: str) -> None:
        """Drop a job from memory and tell the listeners (its polls and downloads stopped; the
        store no longer has it)."""
        self._jobs.pop(job_id, None)
        self._poll_due.pop(job_id, None)
        self.writeback.forget(job_id)
        self._pending.changed.pop(job_id, None)
        self._pending.removed.add(job_id)
        self._schedule_flush()

    # polling -------------------------------------------------------------------------------
    async def poll_once(self, job_id: str) -> None:
        """Poll one job now (also used to get fresh result links)."""
        await self.polling.poll_once(job_id)

    def current(self, job_id: str) -> Job | None:
        """The job as it is now, or None when it was removed meanwhile."""
        return self._jobs.get(job_id)

    @property
    def health(self) -> PollHealth:
        return self.polling.health

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            self._wake.clear()
            now, mono = self.clock(), self.monotonic()
            soonest = self.polling.start_due(loop, now)  # monotonic
            download_due = self.transfers.schedule(now)
            if download_due is not None:
                due = mono + (download_due - now).total_seconds()
                soonest = due if soonest is None else min(soonest, due)
            wait = None if soonest is None else soonest - mono
            self.health.next_poll_at = None if wait is None else now + timedelta(seconds=wait)
            timeout = IDLE_WAKE if wait is None else wait
            if self.writeback.pending:
                self._retry_store()
                if self.writeback.pending:
                    timeout = min(timeout, RETRY_INTERVAL)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set, and the scheduler would then never stop.
            try:
                async with asyncio.timeout(min(max(timeout, 0.0), IDLE_WAKE)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    # settled -------------------------------------------------------------------------------
    def all_settled(self, job_ids: Iterable[str] | None = None) -> bool:
        ids = list(self._jobs) if job_ids is None else list(job_ids)
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is None or job.orphaned:
                continue
            if not job.state.is_terminal:
                return False
            if job.state == JobState.SUCCEEDED and self.settings.auto_download:
                if not job.is_settled:
                    return False
        return True


def _float_option(options: Mapping[str, str], key: str, default: float | None) -> float | None:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"account option {key}={quoted(raw)} is not a number of seconds"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"account option {key} must be a positive number, got {quoted(raw)}")
    return value


def _poll_bounds(
    options: Mapping[str, str], settings: EngineSettings
) -> tuple[float | None, float | None]:
    """The account's `poll_min`/`poll_max` (else the settings'); a minimum above the maximum
    given beside it is refused."""
    lo = _float_option(options, "poll_min", settings.poll_min)
    hi = _float_option(options, "poll_max", settings.poll_max)
    if "poll_min" in options and "poll_max" in options and lo is not None and hi is not None:
        if lo > hi:
            raise ConfigError(
                f"account option poll_min={quoted(options['poll_min'])} is above "
                f"poll_max={quoted(options['poll_max'])}"
            )
    return lo, hi
