"""Python's cyclic garbage collector, run on the GUI thread only while the window lives.

The collector runs in whichever thread happens to allocate when a threshold is crossed: a download,
hashing or simulator thread. A Qt object caught in a reference cycle is then destroyed in that
thread, and Qt warns (`QObject::~QObject: Timers cannot be stopped from another thread`) or worse.
So while the window is open, automatic collection is off and a timer on the GUI thread collects
instead, as often as the thresholds would have (checked every `INTERVAL_MS`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class MainThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        gc.enable()

    def collect(self) -> None:
        """Collect the generations whose counts passed their thresholds, as gc itself would."""
        first, second, third = gc.get_count()
        if first > self._threshold[0]:
            generation = 0
            if second > self._threshold[1]:
                generation = 1
                if third > self._threshold[2]:
                    generation = 2
            gc.collect(generation)


@contextlib.contextmanager
def collecting_on_this_thread() -> Iterator[MainThreadCollector]:
    """Within the block, cyclic garbage is collected on the calling (GUI) thread only."""
    collector = MainThreadCollector()
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
