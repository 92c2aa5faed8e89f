"""A rebuild shared between processes, for large logs on machines with several cores.

Each worker reads the same log prefix and folds the participant streams of its share (streams
are dealt out by CRC-32 of their name; every other stream goes to worker 0), writing its rows
into the new version's tables. Leaf indexes come from each worker's own count of the log, so
audit rows need no coordination. The one view that crosses shares is the allocation table
(a slot is taken on a participant's stream and may be invalidated on the allocation stream):
workers hand back their allocation rows and the invalidations they could not place, and the
parent joins them. The result is the same as a single fold: the tests compare fingerprints.
"""

from __future__ import annotations

import os
import resource
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from domain import participant
from ledger.entry import Record
from ledger.store import Store, open_store

from . import allocation_table, audit_trail
from .fold import Batch, apply, bulk, finish
from .tables import Tables

CHUNK = 5000  # audit rows written per transaction
PARALLEL_FROM = 100_000  # below this many records, starting processes costs more than it saves


@dataclass
class Share:
    """What a worker hands back: its participants, allocation rows, orphaned invalidations."""

    participants: int
    allocation: dict[str, Any]
    orphans: list[tuple[str, dict[str, Any]]]
    peak_rss_bytes: int


def auto_workers(store: Store) -> int:
    """One worker per core (up to 8) for a large log in a database other processes can open."""
    if not store.shared() or store.max_position() < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def share_of(stream: str, workers: int) -> int:
    if not stream.startswith(participant.STREAM_PREFIX):
        return 0
    return zlib.crc32(stream.encode("utf-8")) % workers


def fold_share(url: str, version: int, worker: int, workers: int, upto: int,
               progress: Any = None) -> Share:
    """Fold this worker's share of the log up to position `upto` into version `version`."""
    store = open_store(url)
    tables = Tables(store)
    batch = Batch()
    audit = batch.docs[audit_trail.NAME]
    try:
        with bulk():
            index = -1
            for index, row in enumerate(store.iter_log()):
                if row.position > upto:
                    break
                if progress is not None and worker == 0 and index % 1000 == 999:
                    with progress.get_lock():
                        progress.value = index + 1
                if share_of(row.stream, workers) != worker:
                    continue
                apply(batch, Record.from_stored(row.state, row.position, check=False), index)
                if len(audit) >= CHUNK:
                    with store.transaction() as cur:
                        tables.write(cur, version, {audit_trail.NAME: audit})
                    audit.clear()
            finish(batch)
        allocation = batch.docs.pop(allocation_table.NAME)
        with store.transaction() as cur:
            tables.write(cur, version, batch.docs)
    finally:
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Share(len(batch.states), allocation, batch.orphans, peak)


def fold_in_parallel(url: str, version: int, workers: int, upto: int,
                     progress: Callable[[int], None] | None = None) -> tuple[int, list[Share]]:
    """Run the workers, join the allocation table, write it; returns (participants, shares)."""
    context = get_context("spawn")  # never fork a process that may hold threads and connections
    counter = context.Value("q", 0)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_keep, initargs=(counter,)) \
            as pool:
        futures = [pool.submit(_run, url, version, w, workers, upto) for w in range(workers)]
        while True:
            done, _ = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
            if progress is not None:
                progress(counter.value)
            if len(done) == len(futures) or any(f.exception() is not None for f in done):
                break
        shares = [f.result() for f in futures]  # raises a worker's error
    rows: dict[str, Any] = {}
    for share in shares:
        rows.update(share.allocation)
    for share in shares:
        for key, invalidated in share.orphans:
            if key in rows:
                rows[key] = {**rows[key], "invalidated": invalidated}
    store = open_store(url)
    try:
        with store.transaction() as cur:
            Tables(store).write(cur, version, {allocation_table.NAME: rows})
    finally:
        store.close()
    return sum(s.participants for s in shares), shares


_counter: Any = None


def _keep(counter: Any) -> None:
    global _counter
    _counter = counter


def _run(url: str, version: int, worker: int, workers: int, upto: int) -> Share:
    return fold_share(url, version, worker, workers, upto, _counter)
