"""Awaiting Qt signals from coroutines that a qasync loop runs (see the `qasync_loop` fixture).

Inside a coroutine, pytest-qt's `qtbot.waitSignal` must not be used: it spins a nested Qt event
loop while the qasync loop is already running, which hangs or re-enters asyncio. Await a future
for the signal instead, created before whatever makes it fire:

    emitted = next_emission(model.jobs_changed)
    model.refresh()
    async with asyncio.timeout(5):
        args = await emitted
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import SignalInstance


def next_emission(signal: SignalInstance) -> asyncio.Future[tuple[object, ...]]:
    """A future for `signal`'s next emission (its arguments), listening from this call on.

    Call it from code running on the loop; the slot is disconnected once the future is done
    (or cancelled, as by a timeout).
    """
    future: asyncio.Future[tuple[object, ...]] = asyncio.get_running_loop().create_future()

    def on_emitted(*args: object) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(on_emitted)
    future.add_done_callback(lambda _: signal.disconnect(on_emitted))
    return future
