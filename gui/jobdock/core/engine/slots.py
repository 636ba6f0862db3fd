"""A concurrency limit that lets the most urgent waiter in first.

Downloads from one origin share a few slots; when they are all busy, the result whose link
expires soonest gets the next free slot (an `asyncio.Semaphore` serves waiters first come, first
served, so a link about to expire could wait behind a dozen that live for a day).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PrioritySlots:
    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._used = 0
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def busy(self) -> int:
        return self._used

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        """A new limit (the user changed it): more room lets waiters in at once; less is
        reached as holders leave."""
        self._size = max(1, size)
        while self._used < self._size and self._wake_one():
            self._used += 1

    @asynccontextmanager
    async def slot(self, priority: float) -> AsyncIterator[None]:
        """Hold a slot; lower `priority` values are served first (e.g. an expiry timestamp)."""
        if self._used < self._size and not self._waiters:
            self._used += 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (priority, next(self._order), future))
            try:
                await future  # the releasing holder hands its slot over to us
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # handed over just as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        if self._used > self._size or not self._wake_one():
            self._used -= 1  # over a lowered limit, or nobody waits: the slot is given back

    def _wake_one(self) -> bool:
        """Hand a slot to the most urgent waiter still waiting; False when there is none."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return True
        return False
