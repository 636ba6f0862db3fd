"""While the window lives, cyclic garbage is collected on the GUI thread only (a Qt object in a
cycle must never be destroyed by a download thread's allocation)."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

from jobdock.qt.gc_main_thread import collecting_on_this_thread


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_cycles_made_in_another_thread_are_freed_by_the_gui_thread(qapp: Any) -> None:
    freed_in: list[str] = []
    refs: list[weakref.ref[Node]] = []

    def make_garbage() -> None:
        for _ in range(5000):  # far past gen-0's threshold: gc would run in this thread
            node = Node()
            weakref.finalize(node, lambda: freed_in.append(threading.current_thread().name))
            refs.append(weakref.ref(node))

    with collecting_on_this_thread() as collector:
        assert not gc.isenabled()
        worker = threading.Thread(target=make_garbage, name="download")
        worker.start()
        worker.join()
        assert "download" not in freed_in
        collector.collect()
        assert all(ref() is None for ref in refs)
        assert set(freed_in) == {threading.current_thread().name}
    assert gc.isenabled()
