"""The engine's polling side: which jobs are due, single and batched polls, poll health.

`Polling` decides when to ask and applies what comes back through the job table's `commit`; the
rules for folding an answer into a job, and the timing rules, live in `rules.py`.
Providers that can refresh many jobs in one call (`SupportsBatchPoll`: Shoptet's job list) get one
batch per account whenever any of its jobs is due.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobdock.core.engine.accounts import Accounts
from jobdock.core.engine.rules import apply_poll_error, apply_status, past_deadline
from jobdock.core.engine.table import JobTable
from jobdock.core.model.errors import JobdockError, NetworkError, ProtocolError, UsageError
from jobdock.core.model.job import Job, JobEvent
from jobdock.core.providers.base import RemoteStatus, SupportsBatchPoll

log = logging.getLogger("jobdock.polling")


@dataclass
class PollHealth:
    """For the status bar: is polling working, and when is the next poll."""

    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    network_failures: int = 0
    next_poll_at: datetime | None = None

    @property
    def offline(self) -> bool:
        return self.network_failures >= 3


class Polling:
    def __init__(self, table: JobTable, accounts: Accounts, *, rng: random.Random) -> None:
        self._table = table
        self._accounts = accounts
        self._rng = rng
        self.tasks: dict[str, asyncio.Task[None]] = {}  # job id → its poll (a batch serves many)
        self.health = PollHealth()

    def cancel(self, job_id: str) -> None:
        task = self.tasks.pop(job_id, None)
        if task is not None and task not in self.tasks.values():  # a batch serves others too
            task.cancel()

    async def poll_once(self, job_id: str) -> None:
        job = self._table.job(job_id)
        account = self._accounts.account(job.account)
        provider = self._accounts.provider(job.provider)
        policy = self._accounts.policy(provider, account)
        try:
            session = await self._accounts.session(account)
            async with self._accounts.semaphore(f"poll:{account.origin}"):
                status = self._accounts.localized(await provider.poll(session, job), account)
        except JobdockError as exc:
            self._note_health(exc)
            current = self._table.current(job_id)
            if current is not None:
                failed, events = apply_poll_error(
                    current, exc, now=self._table.clock(), policy=policy, rng=self._rng
                )
                self._table.commit([failed], events)
            return
        self._note_health(None)
        current = self._table.current(
            job_id
        )  # the job as it is now: a download may have changed it
        if current is not None:
            updated, events = apply_status(
                current, status, now=self._table.clock(), policy=policy, rng=self._rng,
                redact=self._accounts.redactor,
            )  # fmt: skip
            self._table.commit([updated], events)

    def _note_health(self, error: JobdockError | None) -> None:
        now = self._table.clock()
        if error is None:
            self.health.last_ok_at = now
            self.health.network_failures = 0
            return
        self.health.last_error = error.user_message
        self.health.last_error_at = now
        if isinstance(error, NetworkError):
            self.health.network_failures += 1

    def _wants_poll(self, job: Job) -> bool:
        return (
            not job.state.is_terminal
            and not job.orphaned
            and bool(job.remote_id or job.status_url)
            and job.id not in self.tasks
        )

    async def _guarded_poll(self, job_id: str) -> None:
        try:
            await self.poll_once(job_id)
        except UsageError:
            pass  # removed meanwhile
        except Exception:
            log.exception("unexpected error polling job %s", job_id)
            current = self._table.current(job_id)
            if current is not None:
                retry = self._table.clock() + timedelta(seconds=60)
                self._table.commit(
                    [
                        current.replace(
                            error="internal error while polling; see the log", next_poll_at=retry
                        )
                    ]
                )
        finally:
            self.tasks.pop(job_id, None)
            self._table.wake()

    def start_due(self, loop: asyncio.AbstractEventLoop, now: datetime) -> float | None:
        """Start the polls that are due; returns when (monotonic) the next one will be. `now`
        (wall) only decides deadlines: waits are measured on the monotonic clock."""
        mono = self._table.monotonic()
        soonest: float | None = None
        expired: list[tuple[Job, list[JobEvent]]] = []
        batch_accounts: set[str] = set()
        for job in self._table.live_jobs():
            if not self._wants_poll(job):
                continue
            gave_up = past_deadline(job, now)
            if gave_up is not None:
                expired.append(gave_up)
                continue
            due = self._table.poll_due(job)
            if due > mono:
                soonest = due if soonest is None or due < soonest else soonest
            elif self._batched(job):
                batch_accounts.add(job.account)
            else:
                self.tasks[job.id] = loop.create_task(self._guarded_poll(job.id))
        for job, events in expired:
            self._table.commit([job], events)
        for account in sorted(batch_accounts):
            self._start_batch(loop, account)
        return soonest

    def _batched(self, job: Job) -> bool:
        try:
            return isinstance(self._accounts.provider(job.provider), SupportsBatchPoll)
        except UsageError:
            return False

    def _start_batch(self, loop: asyncio.AbstractEventLoop, account: str) -> None:
        """One batch poll for every unfinished job of the account (one of them is due)."""
        ids = [
            j.id for j in self._table.live_jobs() if j.account == account and self._wants_poll(j)
        ]
        task = loop.create_task(self._guarded_batch(account, ids), name=f"batch-poll:{account}")
        for job_id in ids:
            self.tasks[job_id] = task

    async def poll_batch(self, account_name: str, job_ids: list[str]) -> None:
        account = self._accounts.account(account_name)
        provider = self._accounts.provider(account.provider)
        assert isinstance(provider, SupportsBatchPoll)
        policy = self._accounts.policy(provider, account)
        jobs = [j for i in job_ids if (j := self._table.current(i))]
        answers: Mapping[str, RemoteStatus | JobdockError]
        try:
            session = await self._accounts.session(account)
            async with self._accounts.semaphore(f"poll:{account.origin}"):
                answers = await provider.poll_many(session, jobs)
        except JobdockError as exc:
            answers = {job.id: exc for job in jobs}
        now = self._table.clock()
        updates: list[Job] = []
        events: list[JobEvent] = []
        for job in jobs:
            current = self._table.current(job.id)  # as it is now, after the await
            if current is None:
                continue
            answer = answers.get(job.id) or ProtocolError(
                f"{provider.id}: the job list did not mention job {job.remote_id}"
            )
            if isinstance(answer, JobdockError):
                self._note_health(answer)
                updated, more = apply_poll_error(
                    current, answer, now=now, policy=policy, rng=self._rng
                )
            else:
                self._note_health(None)
                updated, more = apply_status(
                    current,
                    self._accounts.localized(answer, account),
                    now=now,
                    policy=policy,
                    rng=self._rng,
                    redact=self._accounts.redactor,
                )
            updates.append(updated)
            events += more
        self._table.commit(updates, events)

    async def _guarded_batch(self, account: str, job_ids: list[str]) -> None:
        try:
            await self.poll_batch(account, job_ids)
        except UsageError:
            pass  # the account was removed meanwhile
        except Exception:
            log.exception("unexpected error polling account %s", account)
            retry = self._table.clock() + timedelta(seconds=60)
            note = "internal error while polling; see the log"
            self._table.commit(
                [
                    j.replace(error=note, next_poll_at=retry)
                    for i in job_ids
                    if (j := self._table.current(i))
                ]
            )
        finally:
            me = asyncio.current_task()
            for job_id in job_ids:
                if self.tasks.get(job_id) is me:
                    del self.tasks[job_id]
            self._table.wake()
