"""A rebuild shared between processes, for large logs on machines with several cores.

Each worker folds the participant streams of its share of a log prefix, writing its rows into
the new version's tables. On SQLite the parent deals the streams out by their record counts
(projections/rebuild.py `deal`, one walk of the stream index while the workers start) and hands
each worker its list; elsewhere each worker takes the streams whose CRC-32 falls to it (`share_of`).
Every stream that is not a participant's goes to worker 0. On SQLite the workers' writes are
derived data (`write_derived_data_only`: commits do not wait for the disk) and the parent
checkpoints the WAL from a thread while they run. Leaf indexes come from
positions (or each worker's own count of the log), so audit rows need no coordination.
The one view that crosses shares is the allocation table (a slot is taken on a participant's
stream and may be invalidated on the allocation stream): workers hand back their allocation rows
and the invalidations they could not place, and the parent joins them. The result is the same
as a single fold: the tests compare fingerprints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from ledger.errors import LedgerError
from ledger.store import Store, open_store
from ledger.store_sqlite import Checkpointer, SQLiteStore

from . import allocation_table
from .fold import ProtocolAt
from .rebuild import deal, fold_into, log_share
from .tables import Tables

PARALLEL_FROM = 100_000  # below this many records, starting processes costs more than it saves


@dataclass
class Share:
    """What a worker hands back: its participants, allocation rows (and each slot's leaf
    index), orphaned invalidations."""

    participants: int
    allocation: dict[str, Any]
    slots: dict[str, int]
    orphans: list[tuple[str, dict[str, Any], int]]
    peak_rss_bytes: int


def auto_workers(store: Store) -> int:
    """One worker per core (up to 8) for a large log in a database other processes can open."""
    if not store.shared() or store.max_position() < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def fold_share(url: str, version: int, worker: int, workers: int, upto: int,
               progress: Callable[[int], None] | None = None,
               streams: list[tuple[str, int]] | None = None) -> Share:
    """Fold this worker's share of the log up to position `upto` into version `version`;
    `streams`, the share as the parent dealt it (None: the worker finds its own)."""
    store = open_store(url)
    if isinstance(store, SQLiteStore):
        store.write_derived_data_only()  # the parent checkpoints (`fold_in_parallel`)
    try:
        with store.read() as cur:  # every worker scores under the protocol at the log's end
            protocol = ProtocolAt(store)(cur, upto)
        batch = fold_into(store, version, log_share(store, upto, worker, workers, progress,
                                                    streams), protocol=protocol)
        allocation = batch.docs.pop(allocation_table.NAME)
        with store.transaction() as cur:
            Tables(store).write(cur, version, batch.docs)
    finally:
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Share(batch.seen, allocation, batch.slots, batch.orphans, peak)


def fold_in_parallel(url: str, version: int, workers: int, upto: int,
                     progress: Callable[[int], None] | None = None) -> tuple[int, list[Share]]:
    """Run the workers (fresh interpreters: nothing of the caller's state is inherited), join the
    allocation table, write it; returns (participants, shares). On SQLite the workers leave the
    WAL's checkpoints to a thread here, which waits for the disk while they fold on."""
    with ExitStack() as stack:  # workers' stderr goes to files: a full pipe never blocks them
        errors = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(workers)]
        shares = _run_workers(url, version, workers, upto, progress, errors)
    if progress is not None:
        progress(upto)
    rows: dict[str, Any] = {}
    slots: dict[str, int] = {}
    for share in shares:
        rows.update(share.allocation)
        slots.update(share.slots)
    allocation_table.join(rows, slots, [o for share in shares for o in share.orphans])
    store = open_store(url)
    try:
        with store.transaction() as cur:
            Tables(store).write(cur, version, {allocation_table.NAME: rows})
    finally:
        store.close()
    return sum(s.participants for s in shares), shares


def _plan(url: str, upto: int, workers: int) -> tuple[list[list[tuple[str, int]]] | None, str | None]:
    """Each worker's streams as dealt here (None: each finds its own, as when this process
    cannot open the store: each worker then reports its own error), and the SQLite file whose
    WAL is checkpointed here."""
    try:
        store = open_store(url)
    except LedgerError:
        return None, None
    try:
        if isinstance(store, SQLiteStore) and store.shared():
            return deal(store, upto, workers), store.path
        return None, None
    finally:
        store.close()


def _run_workers(url: str, version: int, workers: int, upto: int,
                 progress: Callable[[int], None] | None, errors: list[Any]) -> list[Share]:
    procs = [subprocess.Popen([sys.executable, "-m", "projections.parallel", url, str(version),
                               str(w), str(workers), str(upto)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=errors[w], text=True)
             for w in range(workers)]
    shares: list[Share] = []
    with ExitStack() as stack:  # the checkpointer stops once the workers are done
        try:
            dealt, path = _plan(url, upto, workers)  # while the workers start their interpreters
            _hand_out(dealt, procs)
            if path is not None:
                stack.enter_context(Checkpointer(path))
            shares = _read_shares(procs, progress, errors)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                for pipe in (proc.stdin, proc.stdout):
                    if pipe is not None and not pipe.closed:
                        pipe.close()
    return shares


def _read_shares(procs: list[subprocess.Popen[str]], progress: Callable[[int], None] | None,
                 errors: list[Any]) -> list[Share]:
    """Each worker's share, in worker order; worker 0 reports progress on the way."""
    shares = []
    for w, proc in enumerate(procs):
        assert proc.stdout is not None
        share = None
        for line in proc.stdout:
            kind, _, body = line.partition(" ")
            if kind == "progress" and progress is not None:
                progress(int(body))
            elif kind == "share":
                share = Share(**json.loads(body))
        if proc.wait() != 0 or share is None:
            errors[w].seek(0)
            said = errors[w].read().strip().splitlines() or ["no message"]
            raise LedgerError(f"rebuild worker {w} failed: {said[-1][:500]}",
                              rule="rebuild.worker_failed")
        shares.append(share)
    return shares


def _hand_out(dealt: list[list[tuple[str, int]]] | None,
              procs: list[subprocess.Popen[str]]) -> None:
    """Write each worker's streams (JSON, one line: null when it is to find its own)."""
    for w, proc in enumerate(procs):
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(None if dealt is None else dealt[w]) + "\n")
            proc.stdin.close()
        except BrokenPipeError:  # the worker died starting: its exit status says why
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()


def main(argv: list[str]) -> None:
    """`python -m projections.parallel URL VERSION WORKER WORKERS UPTO` (started by the parent)."""
    url, version, worker, workers, upto = argv[0], *map(int, argv[1:5])

    def report(count: int) -> None:
        print(f"progress {count}", flush=True)

    try:
        dealt = json.loads(sys.stdin.readline() or "null")
        streams = None if dealt is None else [(str(name), int(n)) for name, n in dealt]
        share = fold_share(url, version, worker, workers, upto, report if worker == 0 else None,
                           streams)
    except Exception as exc:  # one line for the parent to report, not a traceback
        print(f"{type(exc).__name__}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        sys.exit(1)
    print("share " + json.dumps(dataclasses.asdict(share)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
