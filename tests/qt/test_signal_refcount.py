"""Regression guard for the PySide6 6.12.0 crash that pins `PySide6-Essentials<6.12`.

PySide6 6.12.0 on CPython 3.11 drops one reference to `True` on every Python-side
`Signal.emit()`. `True` is not immortal before CPython 3.12, so after roughly a thousand emits
its count reaches zero and the interpreter aborts with `Fatal Python error: bool_dealloc`: the
app dies while a busy poll emits progress signals. (On 3.12+ True is immortal and its count
never moves, so this test passes trivially there.)

The emits run in small batches, the count checked after each, so a leaking PySide6 fails this
test after the first batch, long before the count could reach zero; the lost references are then
given back so that pytest reports the failure instead of aborting at exit. Before raising the
pin, run this test against the new version (checked: 6.12.0 fails it after 100 emits).
"""

from __future__ import annotations

import ctypes
import sys

import pytest
from PySide6.QtCore import QObject, Signal

EMITS = 10_000
BATCH = 100
TOLERANCE = 10  # unrelated code may drop a few references to True meanwhile; a leak drops 100s


class _Emitter(QObject):
    toggled = Signal(bool)
    pinged = Signal()


def test_python_side_emits_keep_true_and_false_alive() -> None:
    emitter = _Emitter()
    received = {"toggled": 0, "pinged": 0}

    def on_toggled(value: bool) -> None:
        received["toggled"] += 1  # counting only: storing the bools would hold references

    def on_pinged() -> None:
        received["pinged"] += 1

    emitter.toggled.connect(on_toggled)
    emitter.pinged.connect(on_pinged)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for batch in range(EMITS // BATCH):
        for i in range(BATCH):
            emitter.toggled.emit(i % 2 == 0)
            emitter.pinged.emit()
        after = sys.getrefcount(True), sys.getrefcount(False)
        lost = before[0] - after[0], before[1] - after[1]
        if max(lost) > TOLERANCE:
            _give_back(True, lost[0])
            _give_back(False, lost[1])
            pytest.fail(f"after {(batch + 1) * BATCH} emits, (True, False) lost {lost} references")
    assert received == {"toggled": EMITS, "pinged": EMITS}


def _give_back(value: bool, references: int) -> None:
    for _ in range(references):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(value))
