"""The engine's front door: follows every job, polls on schedule, saves results, and publishes
update batches.

One `Engine` per process, driven by whatever asyncio loop runs it (plain asyncio in the CLI,
qasync in the window). It wires the parts and is the one object the window and the CLI talk to:
the job table (`table.JobTable`: jobs, commit, update batches to listeners), the accounts and
their API sessions (`accounts.Accounts`), the live settings (`config.LiveSettings`), polling
(`polling.py`), downloads (`transfers.py`), other processes on the data dir (`neighbours.py`),
the worker's lease and the commands handed to it (`lease.py`, `commands.py`). Each part is given
only the collaborators it uses; none of them knows the engine. The pure rules are in `rules.py`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from jobdock.core.engine.accounts import Accounts
from jobdock.core.engine.commands import (
    CANCEL,
    CANCEL_FILE,
    DOWNLOAD,
    DOWNLOAD_FILE,
    PAUSE,
    PAUSE_FILE,
    REFRESH,
    RESUME,
    RESUME_FILE,
    Commands,
)
from jobdock.core.engine.config import LiveSettings
from jobdock.core.engine.expiry import ClockSkew
from jobdock.core.engine.lease import Lease, LeaseHolder, Worker
from jobdock.core.engine.neighbours import Neighbours
from jobdock.core.engine.polling import PollHealth, Polling
from jobdock.core.engine.rules import apply_status, deadline_for
from jobdock.core.engine.table import JobTable
from jobdock.core.engine.transfers import Transfers
from jobdock.core.model.errors import (
    AuthError,
    ConfigError,
    JobdockError,
    NetworkError,
    UsageError,
)
from jobdock.core.model.job import Account, Job, JobEvent, JobState, SubmitRequest, utcnow
from jobdock.core.model.paths import AppPaths
from jobdock.core.model.updates import UpdateBatch
from jobdock.core.net.http import ApiSession
from jobdock.core.net.inputs import MAX_REF_CHARS, has_line_break, quoted
from jobdock.core.providers import builtin_providers
from jobdock.core.providers.base import (
    PollPolicy,
    Provider,
    RemoteStatus,
    SupportsJobList,
)
from jobdock.core.providers.shoptet import webhooks
from jobdock.core.providers.shoptet.quota import QuotaStatus
from jobdock.core.store.credentials import CredentialStore, Redactor
from jobdock.core.store.jobs import JobStore
from jobdock.core.store.settings import EngineSettings, load_settings
from jobdock.core.store.writeback import RETRY_INTERVAL, WriteBack

log = logging.getLogger("jobdock.engine")
PROBE_JOB_ID = "jobdockconnectiontest0"  # a valid id shape for every provider
IDLE_WAKE = 30.0


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
        defer_unsettled: bool = False,
    ) -> None:
        """`defer_unsettled`: read the unsettled jobs after `start`, newest first, a block at a
        time, the listeners told of each block (a window's first paint waits for none)."""
        self.store = store
        self.credentials = credentials
        self.paths = paths
        self.redactor = Redactor()
        # Wall time (`clock`) is for what is shown and stored; waiting is measured on the
        # monotonic clock, which a wall-clock step (NTP, a user, a suspended VM) does not move.
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.config = LiveSettings(
            store, load_settings(store, default_download_dir=paths.default_download_dir)
        )
        self.account_book = Accounts(
            store=store,
            credentials=credentials,
            providers=dict(providers) if providers is not None else builtin_providers(),
            settings=self.config,
            redactor=self.redactor,
            clock=clock,
            transport=transport,
        )
        self.account_book.on_warning = self._account_warning
        # A warning about the engine rather than a job (an account's rotated refresh token not
        # kept): `on_notice` is told at once (the CLI: a line on stderr), `notices` keeps them.
        self.notices: list[str] = []
        self.on_notice: Callable[[str], None] | None = None
        store_version = store.data_version()  # before reading: a write in between is seen later
        self.table = JobTable(
            store,
            redactor=self.redactor,
            clock=clock,
            monotonic=monotonic,
            longest_wait=self._longest_wait,
            defer_unsettled=defer_unsettled,
        )
        self.config.on_change = self.table.wake
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._store_watch: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.polling = Polling(self.table, self.account_book, rng=self.rng)
        self.transfers = Transfers(
            self.table,
            self.account_book,
            self.config,
            poll_once=self.poll_once,
            resubmit=self.resubmit,
        )
        self.neighbours = Neighbours(self.table, store_version, stop=self._stop_following)
        lease = Lease(store, downloads=lambda: self.config.current.auto_download)
        self.commands = Commands(
            self.table,
            lease,
            self.transfers,
            poll_once=self.poll_once,
            adopt=self.neighbours.adopt,
        )
        self.worker = Worker(
            lease,
            adopt=self.neighbours.adopt,
            start_working=self._start_working,
            stop_working=self._stop_working,
            commands=self.commands,
        )

    @property
    def settings(self) -> EngineSettings:
        return self.config.current

    @settings.setter
    def settings(self, value: EngineSettings) -> None:
        self.config.current = value

    @property
    def providers(self) -> dict[str, Provider]:
        return self.account_book.providers

    @property
    def skew(self) -> ClockSkew:
        return self.account_book.skew

    @property
    def writeback(self) -> WriteBack:
        return self.table.writeback

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Follow the store, and poll and download while this process is the data dir's worker
        (at once when no other engine is: `lease.Worker`)."""
        if self._store_watch is None:
            loop = asyncio.get_running_loop()
            if self.table.unread_left():
                self._reader = loop.create_task(self.read_deferred(), name="read-unsettled")
            self._store_watch = loop.create_task(self.neighbours.run(), name="store-watch")
            await self.worker.start()

    def _start_working(self) -> None:
        """This process became the worker: start the scheduler (polls and automatic downloads)."""
        if self._runner is None and not self._closing:
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="scheduler")

    async def _stop_working(self) -> None:
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
            for t in {self._runner, self._store_watch, self._reader, *self.polling.tasks.values()}
            if t is not None
        ]
        tasks += self.transfers.tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = self._store_watch = self._reader = None
        self.table.flush()
        self.table.retry_store()  # a last try; `store_problem` says when it failed
        await self.account_book.aclose()  # the quotas saved, the sessions closed
        self.worker.release()  # after the last writes: the next worker reads them

    def configure(self, *, persist: bool = False, **changes: object) -> EngineSettings:
        """Change settings (in memory; also in the store with `persist=True`)."""
        return self.config.configure(persist=persist, **changes)

    # listeners -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[UpdateBatch], None]) -> Callable[[], None]:
        return self.table.subscribe(listener)

    @property
    def store_problem(self) -> str | None:
        """Why job changes are waiting in memory (the store cannot be written), or None."""
        return self.table.store_problem

    def _longest_wait(self, job: Job) -> float:
        try:
            book = self.account_book
            return book.policy(book.provider(job.provider), book.account(job.account)).max_interval
        except JobdockError:
            return IDLE_WAKE

    # reading -------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        """Every job (the settled history not held in memory is read for it)."""
        return self.table.jobs()

    def live_jobs(self) -> list[Job]:
        """The jobs held in memory: every unsettled one, those changed since the start and the
        history pages taken (`history_page`); the rest is settled history in the store."""
        return self.table.live_jobs()

    def unread_left(self) -> int:
        """How many unsettled jobs are not read yet (`defer_unsettled`; `read_deferred` reads
        them after the start)."""
        return self.table.unread_left()

    def read_unsettled(self, limit: int | None) -> list[Job]:
        """Read the newest `limit` (None: all) unsettled jobs not read yet, held from now on;
        the listeners are told of them in the next batch."""
        return self.table.read_unsettled(limit)

    async def read_deferred(self, block: int = 500) -> None:
        """Read the unsettled jobs not read yet, `block` at a time, newest first, letting the
        loop run in between (the window paints, polls go on)."""
        while self.table.unread_left():
            self.read_unsettled(block)
            await asyncio.sleep(0)

    def count_of_account(self, account: str) -> int:
        """How many jobs the account has, settled history included (nothing is read whole)."""
        return self.table.count_of_account(account)

    def known_ids(self) -> list[str]:
        """Every job's id, held in memory or not (nothing is read for it)."""
        return self.table.known_ids()

    def current(self, job_id: str) -> Job | None:
        """The job as it is now, or None when there is no such job (any more)."""
        return self.table.current(job_id)

    def history_left(self) -> int:
        """How many settled jobs are in the store but not held in memory yet."""
        return self.table.history_left()

    def history_page(self, limit: int) -> list[Job]:
        """The newest `limit` settled jobs not held yet (oldest first), held from now on."""
        return self.table.history_page(limit)

    def history_counts(self) -> Counter[tuple[str, str, bool]]:
        """The settled jobs not held yet, per (account, state, every result saved)."""
        return self.table.history_counts()

    def job(self, job_id: str) -> Job:
        return self.table.job(job_id)

    def events(self, job_id: str) -> list[JobEvent]:
        return self.table.events(job_id)

    def accounts(self) -> list[Account]:
        return self.account_book.list()

    def account(self, name: str) -> Account:
        return self.account_book.account(name)

    def provider(self, provider_id: str) -> Provider:
        return self.account_book.provider(provider_id)

    def stored_jobs(self, state: JobState | None = None) -> list[Job]:
        """The jobs as the store has them now (what other processes wrote included)."""
        return self.store.list_jobs(state=state)

    def folder_for(self, job: Job) -> Path:
        """Where the job's results are saved unless a download names another folder."""
        return self.transfers.folder_for(job)

    @property
    def unsaved_changes(self) -> int:
        """How many job changes wait in memory for a store that refused them."""
        return self.table.writeback.pending

    # the worker ----------------------------------------------------------------------------
    @property
    def is_worker(self) -> bool:
        """Whether this process is the data dir's worker (polls and downloads)."""
        return self.worker.holds

    def on_worker_change(self, listener: Callable[[bool], None] | None) -> None:
        """Tell `listener` whenever this process becomes, or stops being, the worker."""
        self.worker.on_change = listener

    def worker_holder(self) -> LeaseHolder | None:
        """Who holds the worker's lease as stored (it may be expired), or None."""
        return self.worker.lease.holder()

    def status(self) -> dict[str, object]:
        """`jobdock status --json`: the worker (None when there is no live one) and whether it
        is this process."""
        return self.worker.status()

    # accounts ------------------------------------------------------------------------------
    async def add_account(self, account: Account, secret: str | None) -> Account:
        await self.account_book.add(account, secret)
        self._reload_account_jobs(account.name)
        return account

    async def remove_account(self, name: str) -> None:
        await self.account_book.remove(name)
        self._reload_account_jobs(name)

    def _account_warning(self, name: str, message: str) -> None:
        """An account's warning (redacted): a notice, and a note on each of its unsettled
        jobs (their history in the window)."""
        if message in self.notices:
            return
        self.notices.append(message)
        now = self.clock()
        jobs = [j for j in self.table.live_jobs() if j.account == name and not j.is_settled]
        events = [JobEvent(job_id=j.id, at=now, kind="account-warning", message=message)
                  for j in jobs]  # fmt: skip
        if events:
            self.table.commit([], events)
        if self.on_notice is not None:
            self.on_notice(message)

    def _reload_account_jobs(self, name: str) -> None:
        fresh = {j.id: j for j in self.store.list_jobs() if j.account == name}
        self.table.commit(fresh.values(), persist=False)

    async def session(self, account: Account) -> ApiSession:
        """The account's API session, reading its secret from the keyring the first time."""
        return await self.account_book.session(account)

    def account_status(self, name: str) -> QuotaStatus | None:
        """The account's request quota (providers that report one, like Shoptet): live while
        its session is open, else as the last run left it; None when nothing is known."""
        return self.account_book.quota_status(name)

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

    # webhooks (Shoptet) --------------------------------------------------------------------
    def webhook_receiver(
        self, *, host: str | None = None, port: int | None = None
    ) -> webhooks.WebhookReceiver:
        """The local receiver of job:finished webhooks (not started): an accepted event
        refreshes the job at once."""
        return webhooks.WebhookReceiver(
            settings=self.config, accounts=self.account_book, jobs=self.jobs,
            refresh=self.refresh, host=host, port=port,
        )  # fmt: skip

    async def register_webhook(self, account_name: str, url: str | None = None) -> str:
        """Register the receiver (or `url`) for the account's job:finished webhooks."""
        return await webhooks.register(self.account_book, self.config, account_name, url)

    def webhook_path(self) -> str:
        """The receiver's path, `/shoptet/<token>` (the token made the first time)."""
        return webhooks.receiver_path(self.config)

    def webhook_public_url(self) -> str | None:
        """Where Shoptet should deliver, when a public base URL is set."""
        return webhooks.public_url(self.config)

    # jobs ----------------------------------------------------------------------------------
    def _new_job(
        self, account: Account, provider: Provider, *, now: datetime, **fields: object
    ) -> Job:
        """A job of this account, due to give up at the provider's deadline from `now`."""
        deadline = deadline_for(now, self.account_book.policy(provider, account))
        return Job(
            id=self.table.new_id(),
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
        session = await self.account_book.session(account)
        status = self.account_book.localized(await provider.submit(session, request), account)
        if not (status.remote_id or status.status_url or status.state.is_terminal):
            raise UsageError("the API accepted the request but named no job to follow")
        now = self.clock()
        policy = self.account_book.policy(provider, account)
        job = self._new_job(
            account, provider, now=now, submitted_at=now, request=request,
            label=label or f"{request.method} {request.path}".strip(),
        )  # fmt: skip
        created = JobEvent(job_id=job.id, at=now, kind="submitted", message=job.label)
        job, events = apply_status(
            job, status, now=now, policy=policy, rng=self.rng, redact=self.redactor
        )
        job = self._first_poll(job.replace(polls=0), status, policy)
        self.table.commit([job], [created, *events])
        return self._current_or(job.id, job)  # as committed: redacted

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
            return self._current_or(existing.id, existing)
        session = await self.account_book.session(account)
        now = self.clock()
        policy = self.account_book.policy(provider, account)
        job = self._new_job(
            account, provider, now=now, submitted_at=now, label=label or jobref.remote_id or ref,
            remote_id=jobref.remote_id, status_url=jobref.status_url,
        )  # fmt: skip
        # unknown job or bad credentials: raise
        status = self.account_book.localized(await provider.poll(session, job), account)
        job, events = apply_status(
            job, status, now=now, policy=policy, rng=self.rng, redact=self.redactor
        )
        tracked = JobEvent(job_id=job.id, at=now, kind="tracked", message=ref)
        self.table.commit([job], [tracked, *events])
        return self._current_or(job.id, job)  # as committed: redacted

    async def sync(self, account_name: str) -> list[Job]:
        """Import the provider's job list (Shoptet: 30 days), without duplicates."""
        account = self.account(account_name)
        provider = self.provider(account.provider)
        if not isinstance(provider, SupportsJobList):
            raise UsageError(f"provider {provider.id!r} has no job list to sync")
        session = await self.account_book.session(account)
        now = self.clock()
        policy = self.account_book.policy(provider, account)
        imported: list[Job] = []
        events: list[JobEvent] = []
        async for listed in provider.list_jobs(session):
            status = self.account_book.localized(listed, account)
            found = self.store.find_job(account.name, remote_id=status.remote_id)
            job = self._current_or(found.id, found) if found else None
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
        self.table.commit(imported, events)
        return [self._current_or(job.id, job) for job in imported]  # as committed: redacted

    async def refresh(self, job_id: str) -> Job:
        """Poll now, whatever the schedule (also for finished jobs: fresh result links); by the
        worker when another process is the worker."""
        if not await self._by_worker(REFRESH, job_id):
            await self.poll_once(job_id)
        return self.job(job_id)

    async def download(
        self, job_id: str, *, to: Path | None = None, index: int | None = None,
        key: str | None = None,
    ) -> Job:  # fmt: skip
        """Save the job's results now (retrying failed and expired ones); by the worker when
        another process is the worker. Returns the job when done. One file only with `index`
        (its place in `job.results`, from 0) or `key` (its identity, `Result.key`): the job's
        other downloads go on as they are. A file whose `.part` is in another folder than `to`
        goes on from it: the `.part` is moved into `to` and resumed with Range."""
        file = self._file(job_id, index, key)
        where = str(to) if to else None
        if file is not None:
            if await self._by_worker(DOWNLOAD_FILE, job_id, to=where, key=file):
                return self.job(job_id)
            return await self.transfers.download(job_id, to=to, key=file)
        if await self._by_worker(DOWNLOAD, job_id, to=where):
            return self.job(job_id)
        return await self.transfers.download(job_id, to=to)

    async def pause_download(
        self, job_id: str, *, index: int | None = None, key: str | None = None
    ) -> Job:
        """Pause the job's unfinished downloads (each `.part` kept; they stay paused across
        restarts); by the worker when another process is the worker. `index`/`key`: that file
        only (see `download`); the job's other files go on."""
        file = self._file(job_id, index, key)
        if file is not None:
            if await self._by_worker(PAUSE_FILE, job_id, key=file):
                return self.job(job_id)
            return await self.transfers.pause(job_id, key=file)
        if await self._by_worker(PAUSE, job_id):
            return self.job(job_id)
        return await self.transfers.pause(job_id)

    async def resume_download(
        self, job_id: str, *, index: int | None = None, key: str | None = None
    ) -> Job:
        """Continue the job's paused downloads (`index`/`key`: that file only) with Range from
        their `.part`, in the folder each was started in (returns once they are under way,
        not when they are done)."""
        file = self._file(job_id, index, key)
        if file is not None:
            if await self._by_worker(RESUME_FILE, job_id, key=file):
                return self.job(job_id)
            return self.transfers.resume(job_id, key=file)
        if await self._by_worker(RESUME, job_id):
            return self.job(job_id)
        return self.transfers.resume(job_id)

    async def cancel_download(
        self, job_id: str, *, index: int | None = None, key: str | None = None
    ) -> Job:
        """Stop the job's unfinished downloads (`index`/`key`: that file's only) and delete
        their `.part` files; the results stay `pending`, not fetched again until the user asks
        (download now)."""
        file = self._file(job_id, index, key)
        if file is not None:
            if await self._by_worker(CANCEL_FILE, job_id, key=file):
                return self.job(job_id)
            return await self.transfers.stop(job_id, key=file)
        if await self._by_worker(CANCEL, job_id):
            return self.job(job_id)
        return await self.transfers.stop(job_id)

    async def settle_downloads(self) -> bool:
        """Until the downloads this process runs have ended; False when it runs none (another
        process is the worker, or nothing is under way). For a command that found no worker
        and started downloads itself (`jobdock resume`): they end before it does."""
        ran = False
        while tasks := self.transfers.tasks():
            ran = True
            await asyncio.wait(tasks)
        return ran

    def _file(self, job_id: str, index: int | None, key: str | None) -> str | None:
        """The identity of the one file asked about (None: the whole job); a usage error for
        an index the job does not have or a key it does not list."""
        if index is not None and key is not None:
            raise UsageError("name the file by its index or by its key, not both")
        if index is not None:
            return self.transfers.key_of(job_id, index)
        if key is not None and key not in self.transfers.keys(job_id):
            raise UsageError(f"job {job_id} lists no result file {quoted(key)}")
        return key

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
        self.table.commit([], [note])
        return new

    async def remove(self, job_id: str) -> None:
        self.job(job_id)
        await self._stop_following(job_id)
        try:
            self.store.remove_job(job_id)
        except UsageError:
            if not self.writeback.holds(job_id):
                raise
            # never written (the store refused it): nothing to delete there
        self.table.forget(job_id)

    async def _stop_following(self, job_id: str) -> None:
        """Stop the job's polls and downloads (it is being removed)."""
        self.polling.cancel(job_id)
        await self.transfers.cancel(job_id)

    def _current_or(self, job_id: str, job: Job) -> Job:
        """The job as the table has it now (as committed: redacted), else `job`."""
        current = self.table.current(job_id)
        return job if current is None else current

    # polling -------------------------------------------------------------------------------
    async def poll_once(self, job_id: str) -> None:
        """Poll one job now (also used to get fresh result links)."""
        await self.polling.poll_once(job_id)

    @property
    def health(self) -> PollHealth:
        return self.polling.health

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            self.table.woken.clear()
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
                self.table.retry_store()
                if self.writeback.pending:
                    timeout = min(timeout, RETRY_INTERVAL)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set, and the scheduler would then never stop.
            try:
                async with asyncio.timeout(min(max(timeout, 0.0), IDLE_WAKE)):
                    await self.table.woken.wait()
            except TimeoutError:
                pass

    # settled -------------------------------------------------------------------------------
    def downloads_automatically(self) -> bool:
        """Whether results are downloaded as jobs succeed: this process's `auto_download` when
        it is the worker (or no live one exists), else the worker's, as its lease says."""
        return self.worker.downloads(self.settings.auto_download)

    def all_settled(self, job_ids: Iterable[str] | None = None) -> bool:
        """Whether every job (of `job_ids`) is settled: finished, and its results saved when
        they are downloaded automatically (by the worker's setting, `downloads_automatically`)."""
        return not self.unsettled(job_ids, first_only=True)

    def unsettled(
        self, job_ids: Iterable[str] | None = None, *, first_only: bool = False
    ) -> list[str]:
        """The jobs (of `job_ids`; None: every job held or not read yet) not settled (see
        `all_settled`); `first_only`: one at most."""
        if job_ids is None:
            ids = [*(j.id for j in self.table.live_jobs()), *self.table.unread_ids()]
        else:
            ids = list(job_ids)
        downloads = self.downloads_automatically()
        found: list[str] = []
        for job_id in ids:
            job = self.table.current(job_id)
            if job is None or job.orphaned:
                continue
            if not job.state.is_terminal or (
                job.state == JobState.SUCCEEDED and downloads and not job.is_settled
            ):
                found.append(job_id)
                if first_only:
                    break
        return found
