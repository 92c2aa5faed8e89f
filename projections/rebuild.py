"""A fold from zero into a new version's tables: the hot loop of a rebuild, shared by the
single-process rebuild and each worker of a parallel one (projections/parallel.py).

On SQLite the log is read straight from the records table, a stream at a time, a page of rows
per query, and a worker's share is picked by the database, so no worker reads or decodes
another's records, and a participant's state lives only while its stream is folded. That needs
positions 1..upto without a gap, so that a record's leaf index is its position - 1 (the count is
checked first); elsewhere the notification log is read in log order and the leaf index counted.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from domain import participant
from domain.protocol import Protocol
from ledger.entry import Record
from ledger.store import Store, StoreBusy
from ledger.store_sqlite import SQLiteStore
from ledger.trusted import read_trusted

from . import audit_trail, participants, score_history
from .fold import Batch, apply, bulk, finish_in_chunks, let_go
from .tables import Tables

CHUNK = 20000  # audit rows written per transaction
PAGE = 2000  # rows read per query
PEOPLE = 1000  # participants' documents written per transaction
HOLD = 4  # chunks a fold holds before it waits for the write lock
PROGRESS = 10_000  # records between progress reports when counting the whole log


def share_of(stream: str, workers: int) -> int:
    """Which of `workers` folds `stream`: participant streams by CRC-32 of their name, every
    other stream (allocation, keys, exports…) by worker 0."""
    if workers == 1 or not stream.startswith(participant.STREAM_PREFIX):
        return 0
    return zlib.crc32(stream.encode("utf-8")) % workers


def deal(store: SQLiteStore, upto: int, workers: int) -> list[list[tuple[str, int]]] | None:
    """Each worker's streams and their record counts up to position `upto`, from one walk of
    the stream index (it holds each row's position; no record is read), or None when positions
    1..upto have a gap (a record's leaf index must be its position - 1 to read by stream).

    Participant streams are dealt in name order, each to the worker with the fewest records so
    far (ties to the lowest), so that workers finish together; every other stream (allocation,
    keys, exports…) goes to worker 0, as in `share_of`."""
    streams = store.stream_counts(upto)
    if sum(n for _, n in streams) != upto:
        return None
    shares: list[list[tuple[str, int]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for stream, n in streams:
        if not stream.startswith(participant.STREAM_PREFIX):
            shares[0].append((stream, n))
            loads[0] += n
    for stream, n in streams:
        if stream.startswith(participant.STREAM_PREFIX):
            least = loads.index(min(loads))
            shares[least].append((stream, n))
            loads[least] += n
    for share in shares:  # read in stream order (the dealing took two passes)
        share.sort()
    return shares


class LogShare:
    """(leaf index, record) of one share of the log up to position `upto`; `progress` is told
    how far the read has come, as a position (0..upto).

    On SQLite with positions 1..upto without a gap, the share is read a stream at a time
    (`by_stream`): each participant's records together, in stream order, so that a fold can
    write a participant's documents and let its state go as soon as its stream ends, and memory
    does not grow with the number of participants. Elsewhere it is read in log order."""

    def __init__(self, store: Store, upto: int, worker: int = 0, workers: int = 1,
                 progress: Callable[[int], None] | None = None,
                 streams: list[tuple[str, int]] | None = None) -> None:
        """`streams`: this share's streams and their record counts, when a parent dealt them
        already (`deal`); otherwise the share walks the stream index itself."""
        self.store, self.upto, self.worker, self.workers = store, upto, worker, workers
        self.progress = progress
        self.by_stream = False
        self.counts: list[tuple[str, int]] = []  # the share's streams and their records
        if isinstance(store, SQLiteStore) and store.shared():
            if streams is None:
                dealt = deal(store, upto, workers)
                streams = None if dealt is None else dealt[worker]
            if streams is not None:
                self.by_stream, self.counts = True, streams

    def __iter__(self) -> Iterator[tuple[int, Record]]:
        if self.by_stream:
            assert isinstance(self.store, SQLiteStore)  # (see __init__)
            yield from _by_stream(self.store, self.upto, self.counts, self.progress)
            return
        for index, row in enumerate(self.store.iter_log()):
            if row.position > self.upto:
                break
            if self.progress is not None and index % PROGRESS == PROGRESS - 1:
                self.progress(index + 1)
            if share_of(row.stream, self.workers) == self.worker:
                yield index, read_trusted(row.state, row.position)


def log_share(store: Store, upto: int, worker: int = 0, workers: int = 1,
              progress: Callable[[int], None] | None = None,
              streams: list[tuple[str, int]] | None = None) -> LogShare:
    return LogShare(store, upto, worker, workers, progress, streams)


def _by_stream(store: SQLiteStore, upto: int, counts: list[tuple[str, int]],
               progress: Callable[[int], None] | None) -> Iterator[tuple[int, Record]]:
    total = sum(n for _, n in counts) or 1
    done = 0
    for rows in store.stream_pages(_pages(counts), upto, PAGE):
        for position, state in rows:
            yield position - 1, read_trusted(state, position)
        done += len(rows)
        if progress is not None:
            progress(done * upto // total)


def _pages(counts: list[tuple[str, int]]) -> Iterator[list[str]]:
    """Streams in runs of at most PAGE records together (a longer stream alone)."""
    run: list[str] = []
    size = 0
    for stream, n in counts:
        if run and size + n > PAGE:
            yield run
            run, size = [], 0
        run.append(stream)
        size += n
    if run:
        yield run


class Writes:
    """A fold's documents written into `version`'s new tables a chunk at a time, each row
    once (inserted, not upserted: `Tables.write(fresh=True)`). Workers of a
    parallel rebuild on SQLite share one write lock: a worker that finds it held folds on and
    tries again a tenth of a chunk later, instead of sleeping in SQLite's busy handler (which
    wakes up to 100 ms after the lock is free); it waits for the lock only once it holds
    HOLD chunks, so memory stays bounded."""

    def __init__(self, store: Store, version: int, batch: Batch) -> None:
        self.store, self.version, self.batch = store, version, batch
        self.tables = Tables(store)
        self.next: dict[tuple[str, ...], int] = {}  # views -> pending size of the next try

    def write(self, docs: dict[str, dict[str, Any]]) -> None:
        with self.store.transaction() as cur:
            self.tables.write(cur, self.version, docs, fresh=True)

    def chunk(self, views: tuple[str, ...], pending: int, size: int) -> None:
        """Write the batch's documents of `views` if `pending` (how many) has reached `size`."""
        if pending < self.next.get(views, size):
            return
        docs = {name: self.batch.docs[name] for name in views}
        try:
            with self.store.transaction(wait=pending >= size * HOLD) as cur:
                self.tables.write(cur, self.version, docs, fresh=True)
        except StoreBusy:
            self.next[views] = pending + max(1, size // 10)
            return
        self.next[views] = size
        for written in docs.values():
            written.clear()


AUDIT = (audit_trail.NAME,)
PEOPLE_VIEWS = (participants.NAME, score_history.NAME)


def fold_into(store: Store, version: int, records: Iterable[tuple[int, Record]], *,
              protocol: Protocol | None = None) -> Batch:
    """Fold (leaf index, record) pairs from nothing into `version`'s tables: audit rows a chunk
    at a time as they come; participants and scores a chunk at a time, as each stream ends when
    the records come a stream at a time (a LogShare `by_stream`), else at the end. Hands back
    the batch holding the rest (the allocation table, its orphans) and the participants seen.
    `protocol`: the protocol in force at the fold's end, for records that come a stream at a
    time (scores are computed under it); None: followed as the protocol's records come."""
    # states are dropped once their documents are written
    batch = Batch(in_place=True, protocol=protocol, follow_protocol=protocol is None)
    writes = Writes(store, version, batch)
    audit = batch.docs[audit_trail.NAME]
    by_stream = isinstance(records, LogShare) and records.by_stream
    people = batch.docs[participants.NAME]
    current = ""
    with bulk():
        for index, record in records:
            if by_stream and record.stream != current:
                if current.startswith(participant.STREAM_PREFIX):
                    let_go(batch, participant.participant_id_of(current))
                    writes.chunk(PEOPLE_VIEWS, len(people), PEOPLE)
                current = record.stream
            apply(batch, record, index)
            if len(audit) >= CHUNK:
                writes.chunk(AUDIT, len(audit), CHUNK)
        writes.write({name: batch.docs[name] for name in (*AUDIT, *PEOPLE_VIEWS)})
        for name in (*AUDIT, *PEOPLE_VIEWS):
            batch.docs[name].clear()
        finish_in_chunks(batch, writes.write)
    return batch
