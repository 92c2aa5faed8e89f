"""Group commit: appends from concurrent callers share one transaction and one checkpoint.

Two ways in, one way to the database:
- `append` for threads: each caller prepares its own entry (parse, digest, Ed25519 check) in its
  own thread, then queues it; whoever holds the leader's turn takes everything queued.
- `append_async` for an event loop (the HTTP route): entries are queued on the loop without a
  thread hop each; one task hands each group to a worker thread, which prepares the group
  (signature checks started together, over the cores) and writes it.
Either way a group is appended with `Ledger.append_each` (each entry decided on its own: a
refusal goes back to its caller alone), then the callers get their answers. A caller that arrives
while a group is being written is in the next one, so under load the commit and the checkpoint
signature are paid once per group instead of once per entry; a caller on its own is its own
group and waits for nobody.

After a group commits, `committed` is told (a view runner woken: the views catch up off the
request path) and `after`, if set, runs before anyone is answered (a process without a runner
brings its views up to date there). Each runs once per group that wrote something.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
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


@dataclass
class _LoopQueue:
    """Entries waiting on one event loop (touched from that loop only)."""
    waiting: list[tuple[Submission, asyncio.Future[Receipt]]] = field(default_factory=list)
    draining: bool = False


class GroupCommit:
    def __init__(self, ledger: Ledger, after: Callable[[], object] | None = None,
                 max_group: int = MAX_GROUP, *,
                 committed: Callable[[], object] | None = None) -> None:
        self.ledger = ledger
        self.after = after  # before the answers: must be worth the callers' wait
        self.committed = committed  # told without delaying the answers: must not block
        self.max_group = max_group
        self._queue: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()  # the leader's turn: one group written at a time
        self.groups = 0  # groups written (for benchmarks and tests)
        # One queue per event loop: a future belongs to its loop, and a server may run several
        # loops (test clients start one per request); the groups of all loops take `_turn`.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary())

    def append(self, submission: Submission | Prepared) -> Receipt:
        """Append one entry, in whichever group it lands; raises what a lone append raises. An
        entry the caller prepared already (`Ledger.prepare`) is not parsed again."""
        waiting = _Waiting(submission if isinstance(submission, Prepared)
                           else self.ledger.prepare(submission))  # a malformed entry raises here
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

    async def append_async(self, submission: Submission) -> Receipt:
        """Append one entry from an event loop; raises what a lone append raises."""
        loop = asyncio.get_running_loop()
        with self._queue_lock:
            queue = self._loops.setdefault(loop, _LoopQueue())
        future: asyncio.Future[Receipt] = loop.create_future()
        queue.waiting.append((submission, future))
        if not queue.draining:
            queue.draining = True
            task = asyncio.ensure_future(self._drain(queue))
            task.add_done_callback(_surface)
        return await future

    async def _drain(self, queue: _LoopQueue) -> None:
        """Write what is queued, a group at a time, until nothing is left (runs on the loop)."""
        try:
            while queue.waiting:
                taken = queue.waiting[:self.max_group]
                queue.waiting = queue.waiting[self.max_group:]
                try:
                    group = await asyncio.to_thread(self._prepare_and_write, [s for s, _ in taken])
                except BaseException as exc:
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), w in zip(taken, group, strict=True):
                    if future.done():  # the caller went away
                        continue
                    if w.error is not None:
                        future.set_exception(w.error)
                    else:
                        assert w.receipt is not None
                        future.set_result(w.receipt)
        finally:
            queue.draining = False

    def _prepare_and_write(self, submissions: list[Submission]) -> list[_Waiting]:
        group = [_Waiting(item) for item in self.ledger.prepare_each(submissions)]
        with self._turn:
            self._write(group)
        return group

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
        if any(isinstance(r, Receipt) for r in results):
            _call(self.committed, "telling the view runner")
            _call(self.after, "catching up")
        for w, result in zip(group, results, strict=True):
            if isinstance(result, Receipt):
                w.receipt = result
            else:
                w.error = result
            w.done.set()


def _call(hook: Callable[[], object] | None, doing: str) -> None:
    if hook is None:
        return
    try:
        hook()
    except Exception:  # the records are committed; the views catch up on the next read
        log.exception("%s after a group commit failed", doing)


def _surface(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("group commit task failed", exc_info=task.exception())
