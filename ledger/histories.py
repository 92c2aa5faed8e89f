"""Stream histories as the append path reads them, kept between transactions.

Deciding an entry needs its stream's whole history (the rules fold it). Reading and decoding it
again for every append costs more than anything else under the write lock once the table
outgrows the page cache, so each process keeps the histories it read or wrote, bounded by a
number of records, least recently used out first.

Nothing here is trusted without a look at the database: inside every write transaction a kept
history is topped up with the rows after its last version (another process may have appended),
and the whole cache is dropped when the redactions table has grown (a redaction replaces a
row's payload without a new version). Only committed histories are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .entry import Record
from .store import Store
from .trusted import read_trusted

#: About 3 KiB of memory each: 20,000 records is tens of MiB per process.
DEFAULT_CACHED_RECORDS = 20_000


class HistoryCache:
    def __init__(self, store: Store, max_records: int = DEFAULT_CACHED_RECORDS) -> None:
        self.store = store
        self.max_records = max_records
        self._kept: OrderedDict[str, tuple[Record, ...]] = OrderedDict()
        self._records = 0
        self._redactions: int | None = None  # the redactions table's last position when filled
        self._lock = threading.Lock()

    def begin(self, cur: Any) -> int:
        """At the start of a write transaction: forget everything if a redaction was made.
        Returns the redactions table's count (read under the write lock)."""
        mark = self.store.redaction_mark(cur)
        with self._lock:
            if mark != self._redactions:
                self._kept.clear()
                self._records = 0
                self._redactions = mark
        return mark

    def history(self, cur: Any, stream: str) -> list[Record]:
        """The stream's committed history as it stands in this transaction (a new list)."""
        with self._lock:
            kept = self._kept.get(stream)
            if kept is not None:
                self._kept.move_to_end(stream)
        after = kept[-1].version if kept else 0
        fresh = [read_trusted(r.state, r.position)
                 for r in self.store.stream_rows(cur, stream, after=after)]
        return [*(kept or ()), *fresh]

    def committed(self, histories: Mapping[str, list[Record]], redacted: bool) -> None:
        """After a commit: keep the histories the transaction used. Called outside the write
        lock, so a newer history kept meanwhile is not replaced."""
        with self._lock:
            if redacted:  # a payload was removed in this transaction: start again
                self._kept.clear()
                self._records = 0
                self._redactions = None
                return
            for stream, history in histories.items():
                old = self._kept.get(stream)
                if (old is not None and len(old) >= len(history)) or len(history) > self.max_records:
                    continue
                self._kept[stream] = tuple(history)
                self._records += len(history) - (len(old) if old else 0)
            while self._records > self.max_records and self._kept:
                _, dropped = self._kept.popitem(last=False)
                self._records -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._records = 0
            self._redactions = None
