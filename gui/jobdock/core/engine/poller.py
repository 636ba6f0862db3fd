"""When to ask again: next-poll times from `Retry-After` or exponential backoff with full jitter.

Pure functions over a `PollPolicy`; the engine owns the loop. The first poll waits
`first_delay`; after that the wait grows `min → min·factor → …` up to `max`, each wait drawn
uniformly between the minimum and the current ceiling ("full jitter", so many jobs started together
do not poll in lockstep). A server's `Retry-After`/`retry-after-ms` replaces the computed wait.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta

from jobdock.core.net.inputs import MAX_RETRY_AFTER
from jobdock.core.providers.base import PollPolicy


def effective_policy(
    policy: PollPolicy, *, poll_min: float | None = None, poll_max: float | None = None
) -> PollPolicy:
    """The provider's policy with the user's interval bounds (settings) applied."""
    lo = policy.min_interval if poll_min is None else poll_min
    hi = policy.max_interval if poll_max is None else poll_max
    hi = max(hi, lo)
    first = min(max(policy.first_delay, lo), hi)
    return dataclasses.replace(policy, min_interval=lo, max_interval=hi, first_delay=first)


def backoff_delay(policy: PollPolicy, attempt: int, *, rng: random.Random) -> float:
    """The wait before poll number `attempt + 1` (attempt 0 → exactly the minimum)."""
    ceiling = min(policy.max_interval, policy.min_interval * policy.factor ** min(attempt, 60))
    if ceiling <= policy.min_interval:
        return policy.min_interval
    return rng.uniform(policy.min_interval, ceiling)


def next_poll_delay(
    policy: PollPolicy,
    *,
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
) -> float:
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    return backoff_delay(policy, attempt, rng=rng)


def next_poll_at(
    now: datetime,
    policy: PollPolicy,
    *,
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
) -> datetime:
    delay = next_poll_delay(policy, attempt=attempt, retry_after=retry_after, rng=rng)
    return now + timedelta(seconds=delay)


def deadline_for(start: datetime, policy: PollPolicy) -> datetime:
    return start + timedelta(seconds=policy.deadline)
