"""PrioritySlots: the soonest-expiring waiter gets the next slot; cancellation never leaks one."""

from __future__ import annotations

import asyncio

from jobdock.core.engine.slots import PrioritySlots


def test_most_urgent_waiter_goes_first() -> None:
    async def scenario() -> list[str]:
        slots = PrioritySlots(1)
        order: list[str] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with slots.slot(0):
                await release.wait()

        async def waiter(name: str, priority: float) -> None:
            async with slots.slot(priority):
                order.append(name)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        tasks = [
            asyncio.create_task(waiter(n, p)) for n, p in (("late", 900), ("soon", 10), ("mid", 50))
        ]
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *tasks)
        assert slots.busy == 0
        return order

    assert asyncio.run(scenario()) == ["soon", "mid", "late"]


def test_cancelled_waiters_do_not_leak_slots() -> None:
    async def scenario() -> None:
        slots = PrioritySlots(2)
        gate = asyncio.Event()

        async def hold(priority: float) -> None:
            async with slots.slot(priority):
                await gate.wait()

        tasks = [asyncio.create_task(hold(p)) for p in range(6)]
        await asyncio.sleep(0)
        assert slots.busy == 2
        for task in tasks[2:4]:
            task.cancel()
        gate.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert slots.busy == 0
        async with slots.slot(0), slots.slot(0):
            assert slots.busy == 2

    asyncio.run(scenario())


async def _turns(n: int = 10) -> None:
    """Let the loop run every task that is ready (no clock involved)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_new_limit_lets_waiters_in_at_once_and_a_lower_one_is_reached_as_holders_leave() -> None:
    async def scenario() -> list[int]:
        slots = PrioritySlots(1)
        release = [asyncio.Event() for _ in range(3)]
        inside: list[int] = []
        seen: list[int] = []

        async def holder(n: int) -> None:
            async with slots.slot(n):
                inside.append(n)
                seen.append(slots.busy)
                await release[n].wait()
                inside.remove(n)

        tasks = [asyncio.create_task(holder(n)) for n in range(3)]
        await _turns()
        assert inside == [0]
        slots.resize(3)  # more room: both waiters get in without anyone leaving
        await _turns()
        assert sorted(inside) == [0, 1, 2]
        slots.resize(1)
        release[0].set()
        release[1].set()
        await _turns()
        assert inside == [2] and slots.busy == 1  # the two slots went back, to nobody
        release[2].set()
        await asyncio.gather(*tasks)
        assert slots.busy == 0 and slots.size == 1
        return seen

    assert asyncio.run(scenario()) == [1, 3, 3]
