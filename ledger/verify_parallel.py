"""Verification with worker processes, for large logs on machines with several cores.

Each worker (ledger/verify_worker.py, a fresh interpreter) takes spans of the log in turn and
reads them itself from the same database or bundle file (ledger/verify_sources.py); for each row
it parses the stored bytes with every canonical-form check, computes the payload digest, record
hash and leaf hash, and checks the Ed25519 signature where the key id names a key the log's
key registry holds (ledger/verify_work.py). The parent takes the spans' answers back in log
order and replays them (ledger/verify.py): chains, time order, the key registry's decisions in
each record's turn, the tree and checkpoints. A signature checked ahead is only the answer for
that (key, message, signature); rows the replay needs whole come back as their stored bytes and
are parsed in the parent, as in-process verification parses them.

Below PARALLEL_FROM records, starting processes costs more than it saves, and rows are checked
in this process (ledger/verify_signatures.py). Either way the report is the same: when a worker
fails, or a bundle line is not well formed, the rest is read and checked in this process.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Generator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from .registry import KeyRegistry
from .store import Row
from .verify_signatures import checked_ahead
from .verify_sources import RowSource, Span, Spec
from .verify_work import Checked, from_wire, reparse
from .verify_worker import frame, read_body

PARALLEL_FROM = 20_000  # records; below this the in-process path is faster
CHUNK = 2_000  # records a span: small enough to start the replay soon, large enough to amortise
AHEAD = 3  # spans queued a worker, so that none waits while the parent replays
MAX_WORKERS = 8
_ROOT = str(Path(__file__).resolve().parent.parent)  # where `ledger` is importable from


def auto_workers(source: RowSource) -> int:
    """One worker a core (up to MAX_WORKERS) for a large log other processes can open; else 0."""
    cores = os.cpu_count() or 1
    if cores < 2 or not source.shared() or source.size() < PARALLEL_FROM:
        return 0
    return min(cores, MAX_WORKERS)


def checked_rows(rows: Iterable[Row], registry: KeyRegistry, workers: int | None = None,
                 chunk: int | None = None) -> Generator[Checked, None, None]:
    """Each row with its order-free checks made, in log order: by `workers` processes (None:
    `auto_workers`) when `rows` is a RowSource other processes can open, in this process
    otherwise. `registry` is the replay's, read by the in-process path as it goes."""
    if isinstance(rows, RowSource):
        count = auto_workers(rows) if workers is None else workers
        if count > 0 and rows.shared():
            return _in_workers(rows, registry, count, chunk or CHUNK)
        rows = rows.rows()
    return checked_ahead(rows, registry)


def _in_workers(source: RowSource, registry: KeyRegistry, count: int, chunk: int
                ) -> Generator[Checked, None, None]:
    spans = source.spans(chunk)
    resume: Span | None = None  # where this process takes over (None: after the last span)
    delivered = 0
    if not spans:  # nothing for workers to read (rows appended since are read below)
        yield from checked_ahead(source.rest(None, 0), registry)
        return
    try:
        pool = _Workers(source.spec(), source.signing_keys(), count, spans)
    except OSError:  # no processes to be had (limits, no interpreter): this process reads it all
        yield from checked_ahead(source.rest(spans[0], 0), registry)
        return
    with pool:
        for k, span in enumerate(spans):
            answer = pool.receive(k)
            if answer is None:  # its worker failed: this process reads from here
                resume = span
                break
            items, trouble = answer
            for item in items:
                yield reparse(item) if len(item) == 5 else from_wire(item)
            delivered += len(items)
            if trouble:
                resume = span
                break
        else:
            pool.done = True
    yield from checked_ahead(source.rest(resume, delivered), registry)


class _Workers:
    """The worker processes. Spans go to whichever worker has room (one slowed by other work on
    the machine takes fewer), AHEAD a worker at most; each worker's answers are collected by a
    thread as they come (a worker never waits on a full pipe). A failing worker says why in one
    line on stderr; the replay goes on without it."""

    command = ("-m", "ledger.verify_worker")

    def __init__(self, spec: Spec, keys: list[bytes], count: int, spans: list[Span]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
        self.spans, self.window = spans, count * AHEAD
        self.done = False  # every span answered: the workers end once their input closes
        self._lock = threading.Condition()
        self._next = self._consumed = 0  # the next span to hand out; spans the replay has taken
        self._answers: dict[int, bytes | None] = {}  # span -> its answer (None: its worker failed)
        self._queued: list[deque[int]] = [deque() for _ in range(count)]  # spans each worker holds
        self._alive = [True] * count
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(count):
                self.procs.append(subprocess.Popen([sys.executable, *self.command], stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE, env=env))
        except OSError:
            for proc in self.procs:
                proc.kill()
                proc.communicate()  # waits, and closes its pipes
            raise
        setup = frame((spec, keys))
        for w in range(count):
            self._write(w, setup)
        self.threads = [threading.Thread(target=self._collect, args=(w,), daemon=True)
                        for w in range(count)]
        with self._lock:
            self._hand_out()
        for thread in self.threads:
            thread.start()

    def receive(self, k: int) -> tuple[list[tuple[Any, ...]], bool] | None:
        """The answer for span k (spans are taken in order); None if its worker failed."""
        with self._lock:
            while k not in self._answers:
                self._lock.wait()
            body = self._answers.pop(k)
            self._consumed = k + 1
            self._hand_out()
        return None if body is None else marshal.loads(body)

    def _hand_out(self) -> None:
        """Give spans to workers with room, up to the window (called holding the lock)."""
        for w, queued in enumerate(self._queued):
            while (self._alive[w] and len(queued) < AHEAD and self._next < len(self.spans)
                   and self._next < self._consumed + self.window):
                queued.append(self._next)
                self._write(w, frame(self.spans[self._next]))
                self._next += 1

    def _collect(self, w: int) -> None:
        """Worker w's answers, in the order it was given spans; at its end, its spans fail."""
        stream = self.procs[w].stdout
        assert stream is not None
        while True:
            body = read_body(stream)
            with self._lock:
                if body is None or not self._queued[w]:
                    self._alive[w] = False
                    failed = list(self._queued[w])
                    if not any(self._alive):  # nobody is left to take the spans not handed out
                        failed += range(self._next, len(self.spans))
                    self._answers.update(dict.fromkeys(failed))
                    self._queued[w].clear()
                    self._lock.notify_all()
                    return
                self._answers[self._queued[w].popleft()] = body
                self._hand_out()
                self._lock.notify_all()

    def _write(self, worker: int, data: bytes) -> None:
        stdin = self.procs[worker].stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.flush()
        except OSError:
            pass  # it has ended: its collector fails the spans it held

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        for proc in self.procs:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # a worker with nothing left to do ends here
            except OSError:
                pass
            if proc.poll() is None and not (self.done and kind is None and self._ends(proc)):
                proc.kill()  # its answers are no longer wanted
            proc.wait()
        for thread in self.threads:
            thread.join()
        for proc in self.procs:
            if proc.stdout is not None:
                proc.stdout.close()

    @staticmethod
    def _ends(proc: subprocess.Popen[bytes]) -> bool:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return True
