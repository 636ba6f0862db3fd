"""PrioritySlots: the soonest-expiring waiter gets the next slot; cancellation never leaks one."""

from __future__ import annotations

import asyncio

from jobdock.core.slots import PrioritySlots


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
