"""Stream states: the decider's state of a stream at its head, so an append folds no history.

Rules that keep states (`contract.StateRules`) are handed, for each entry, the state after the
stream's last record instead of the records themselves. Those states are derived data and are
never believed on their own:

- in memory, each process keeps the states it decided or folded, each with the head (version
  and record hash) it belongs to; one is used only if that head is the stream's head read in
  the write transaction, under the write lock (another process may have appended since);
- in the `stream_states` table, each append writes its streams' states in its own
  transaction, with a MAC over (format, stream, version, record hash, redaction count, state)
  keyed by a secret that is not in the database: derived from the ledger's sealing key when it
  is loaded (processes that hold it share stored states), else random per process. A row is
  used only if its version and hash are the head's and its MAC holds; a row someone edited,
  moved, copied from another stream or kept from before a redaction fails one of those;
- whatever fails, the history is read and folded as before, and the state written again.

Redactions change what a fold gives without a new version: every kept state is dropped when
the redactions table grows, and the count is under the MAC. Verification and projection
rebuilds never read the table: it is an append path's cache, nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .contract import StateRules
from .entry import Record
from .errors import Head
from .note import NoteSigner
from .store import Store, StoredState

#: Streams whose state each process keeps in memory (a participant's state is a few KiB).
DEFAULT_KEPT_STREAMS = 20_000
_KEY_LABEL = b"trial-ledger stream-states key v1"


@dataclass(frozen=True)
class Kept:
    """A stream's state and the head it was folded up to."""

    head: Head
    state: object


def state_key(sealer: NoteSigner | None, fallback: bytes) -> bytes:
    """The MAC key: derived from the ledger's sealing key (never the key itself), or `fallback`."""
    if sealer is None:
        return fallback
    seed = sealer.private_key.private_bytes_raw()
    return hmac.new(seed, _KEY_LABEL, hashlib.sha256).digest()


def state_mac(key: bytes, fmt: str, stream: str, version: int, record_hash: str, redactions: int,
              state: bytes) -> str:
    # Lengths first: no two different tuples give one message.
    parts = [fmt.encode(), stream.encode(), str(version).encode(), record_hash.encode(),
             str(redactions).encode(), state]
    message = b"".join(len(p).to_bytes(8, "big") + p for p in parts)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class StateKeeper:
    def __init__(self, store: Store, max_streams: int = DEFAULT_KEPT_STREAMS) -> None:
        self.store = store
        self.max_streams = max_streams
        self.process_key = secrets.token_bytes(32)
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._mark: int | None = None  # the redaction count the kept states were folded under
        self._table = False  # whether this process has made sure the table exists
        self._lock = threading.Lock()
        #: How states were found since start-up ("memory", "stored", "folded"): for tests and
        #: for whoever wonders why an append was slow.
        self.counts = {"memory": 0, "stored": 0, "folded": 0}
        self._rules: tuple[object, StateRules | None] | None = None

    def rules_of(self, rules: object) -> StateRules | None:
        """`rules` if they keep states (asked once per rules object: isinstance on a protocol
        checks every member)."""
        seen = self._rules
        if seen is None or seen[0] is not rules:
            seen = self._rules = (rules, rules if isinstance(rules, StateRules) else None)
        return seen[1]

    def begin(self, cur: Any, redactions: int) -> None:
        """At the start of a write transaction (under the write lock)."""
        if not self._table:
            self.store.create_state_table(cur)  # a log made before this table: made here
            self._table = True
        with self._lock:
            if redactions != self._mark:
                self._kept.clear()
                self._mark = redactions

    def find(self, cur: Any, rules: StateRules, key: bytes, head: Head, redactions: int,
             history: Callable[[], Sequence[Record]],
             stored: Callable[[], StoredState | None] | None = None) -> tuple[Kept, bool]:
        """The stream's state at `head` (read under the write lock) and whether it is stored as
        such already (else the caller writes it). `stored`, if given, gives the stream's stored
        row as read in this transaction (a group's rows are read in one query)."""
        stream = head.stream
        with self._lock:
            kept = self._kept.get(stream)
            if kept is not None:
                self._kept.move_to_end(stream)
        if kept is not None and _same(kept.head, head):
            self.counts["memory"] += 1
            return Kept(head, kept.state), True
        row = stored() if stored is not None else self.store.stream_state(cur, stream)
        if row is not None and row.version == head.version and row.record_hash == head.record_hash:
            mac = state_mac(key, rules.state_format, stream, row.version, row.record_hash, redactions,
                            row.state)
            if hmac.compare_digest(mac, row.mac):
                try:
                    state = rules.load_state(stream, row.state)
                except Exception:  # bytes under a good MAC that do not load: fold instead
                    pass
                else:
                    self.counts["stored"] += 1
                    return Kept(head, state), True
        self.counts["folded"] += 1
        return Kept(head, rules.fold(stream, history() if head.version else ())), False

    def store_states(self, cur: Any, rules: StateRules, key: bytes, redactions: int,
                     kept: Iterable[Kept]) -> None:
        """In the append transaction: each state as it stands after it, under its MAC."""
        rows = []
        for k in kept:
            try:
                data = rules.dump_state(k.state)
            except (TypeError, ValueError):  # a state the rules cannot write: fold it next time
                data = b""
            h = k.head
            rows.append(StoredState(h.stream, h.version, h.record_hash, data, "" if not data else
                                    state_mac(key, rules.state_format, h.stream, h.version,
                                              h.record_hash, redactions, data)))
        if rows:
            self.store.put_stream_states(cur, rows)

    def committed(self, kept: Iterable[Kept], redactions: int) -> None:
        """After a commit (outside the write lock): keep the transaction's states, unless a
        newer one was kept meanwhile or the redaction count moved."""
        with self._lock:
            if redactions != self._mark:
                return
            for k in kept:
                old = self._kept.get(k.head.stream)
                if old is not None and old.head.version > k.head.version:
                    continue
                self._kept[k.head.stream] = k
                self._kept.move_to_end(k.head.stream)
            while len(self._kept) > self.max_streams:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._mark = None


def _same(a: Head, b: Head) -> bool:
    return a.version == b.version and a.record_hash == b.record_hash
