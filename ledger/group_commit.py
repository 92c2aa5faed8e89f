"""Group commit: appends from concurrent callers share one transaction and one checkpoint.

Each caller prepares its own entry (parse, digest, Ed25519 check) in its own thread, then
queues it. Whoever holds the leader's turn takes everything queued, appends it with
`Ledger.append_each` (each entry decided on its own: a refusal goes back to its caller alone),
runs `after` once for the group (the server brings its views up to date there), then wakes
the callers. A caller that arrives while a group is being written is in the next one, so under
load the commit, the checkpoint signature and the views' catch-up are paid once per group
instead of once per entry; a caller on its own is its own group and waits for nobody.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .contract import Receipt
from .entry import Submission
from .ledger import Ledger
from .prepared import Prepared

log = logging.getLogger(__name__)

#: Entries in one transaction at most: bounds one group's latency and its lock time.
MAX_GROUP = 256


@dataclass
class _Waiting:
    item: Prepared | Exception
    done: threading.Event = field(default_factory=threading.Event)
    receipt: Receipt | None = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, ledger: Ledger, after: Callable[[], object] | None = None,
                 max_group: int = MAX_GROUP) -> None:
        self.ledger = ledger
        self.after = after
        self.max_group = max_group
        self._queue: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()  # the leader's turn: one group written at a time
        self.groups = 0  # groups written (for benchmarks and tests)

    def append(self, submission: Submission) -> Receipt:
        """Append one entry, in whichever group it lands; raises what a lone append raises."""
        waiting = _Waiting(self.ledger.prepare(submission))  # a malformed entry raises here
        with self._queue_lock:
            self._queue.append(waiting)
        while not waiting.done.is_set():
            with self._turn:
                if waiting.done.is_set():
                    break
                with self._queue_lock:
                    group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
                if group:
                    self._write(group)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.receipt is not None
        return waiting.receipt

    def _write(self, group: list[_Waiting]) -> None:
        try:
            results = self.ledger.append_each([w.item for w in group])
        except BaseException as exc:  # the transaction itself failed: nothing of it was written
            for w in group:
                w.error = exc
                w.done.set()
            if not isinstance(exc, Exception):
                raise
            return
        self.groups += 1
        if self.after is not None and any(isinstance(r, Receipt) for r in results):
            try:
                self.after()
            except Exception:  # the records are committed; the views catch up on the next read
                log.exception("catching up after a group commit failed")
        for w, result in zip(group, results, strict=True):
            if isinstance(result, Receipt):
                w.receipt = result
            else:
                w.error = result
            w.done.set()
