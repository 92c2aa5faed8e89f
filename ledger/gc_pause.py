"""The cyclic garbage collector held off while a large batch is appended.

A batch keeps every entry's objects alive until its commit (parsed entries, records, states):
tens of thousands of young containers that the collector's young passes traverse again and again,
then promote, so that full collections (every tracked object of the process) follow batch after
batch, for objects that all die together a moment later by reference counting. Held off for the
batch, they die young. Nothing is checked differently; memory is reclaimed as before, by
reference counts at once and by the collector once it runs again.

The collector is one per process: callers in several threads share one hold, counted, and the
collector is turned back on only by the last of them, and only if it was on when the first came.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Below this many entries a batch leaves the collector alone (its objects are few).
PAUSE_FROM = 64

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def paused(entries: int) -> Iterator[None]:
    """Hold the collector off while the block runs, if `entries` is at least `PAUSE_FROM`."""
    global _holders, _was_enabled
    if entries < PAUSE_FROM:
        yield
        return
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
