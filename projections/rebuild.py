"""A fold from zero into a new version's tables: the hot loop of a rebuild, shared by the
single-process rebuild and each worker of a parallel one (projections/parallel.py).

On SQLite the log is read straight from the records table, a page of rows per query, and a
worker's share is picked by the database, so no worker reads or decodes another's records. That
needs positions 1..upto without a gap, so that a record's leaf index is its position - 1 (the
count is checked first); elsewhere the notification log is read and the leaf index counted.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from domain import participant
from ledger.entry import Record
from ledger.store import RECORDS_TABLE, Store, stored_bytes
from ledger.store_sqlite import SQLiteStore

from . import audit_trail
from .fold import Batch, apply, bulk, finish_in_chunks
from .tables import Tables

CHUNK = 20000  # audit rows written per transaction
PAGE = 2000  # rows read per query
PROGRESS = 10_000  # records between progress reports when counting the whole log


def share_of(stream: str, workers: int) -> int:
    """Which of `workers` folds `stream`: participant streams by CRC-32 of their name, every
    other stream (allocation, keys, exports…) by worker 0."""
    if workers == 1 or not stream.startswith(participant.STREAM_PREFIX):
        return 0
    return zlib.crc32(stream.encode("utf-8")) % workers


def log_share(store: Store, upto: int, worker: int = 0, workers: int = 1,
              progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, Record]]:
    """(leaf index, record) of one share of the log up to position `upto`, in log order;
    `progress` is told how far into the log the read has come."""
    if isinstance(store, SQLiteStore) and store.shared():
        reader = sqlite3.connect(store.path)  # its own: no transaction, no pool, only reads
        try:
            (count,) = reader.execute(f"SELECT COUNT(*) FROM {RECORDS_TABLE} WHERE rowid <= ?",
                                      (upto,)).fetchone()
            if count == upto:
                yield from _sqlite_share(reader, upto, worker, workers, progress)
                return
        finally:
            reader.close()
    for index, row in enumerate(store.iter_log()):
        if row.position > upto:
            break
        if progress is not None and index % PROGRESS == PROGRESS - 1:
            progress(index + 1)
        if share_of(row.stream, workers) == worker:
            yield index, Record.from_stored(row.state, row.position, check=False)


def _sqlite_share(reader: sqlite3.Connection, upto: int, worker: int, workers: int,
                  progress: Callable[[int], None] | None) -> Iterator[tuple[int, Record]]:
    where = ""
    if workers > 1:
        # The share's streams in a temporary table (a walk of the stream index); `+` keeps the
        # planner on the rowid range, in log order, testing each row's stream against the table.
        streams = reader.execute(f"SELECT DISTINCT originator_id FROM {RECORDS_TABLE}").fetchall()
        reader.execute("CREATE TEMP TABLE share (stream TEXT PRIMARY KEY)")
        reader.executemany("INSERT INTO temp.share VALUES (?)",
                           [row for row in streams if share_of(row[0], workers) == worker])
        reader.commit()  # no transaction stays open over the reads below
        where = " AND +originator_id IN temp.share"
    last = 0
    while last < upto:  # each page its own read: rows are append-only, no snapshot is needed
        rows = reader.execute(f"SELECT rowid, state FROM {RECORDS_TABLE} WHERE rowid > ? AND "
                              f"rowid <= ?{where} ORDER BY rowid LIMIT {PAGE}",
                              (last, upto)).fetchall()
        for position, state in rows:
            yield position - 1, Record.from_stored(stored_bytes(state), position, check=False)
        last = rows[-1][0] if len(rows) == PAGE else upto
        if progress is not None:
            progress(last)


def fold_into(store: Store, version: int, records: Iterable[tuple[int, Record]]) -> Batch:
    """Fold (leaf index, record) pairs from nothing into `version`'s tables: audit rows a chunk
    at a time as they come, then participants and scores a chunk at a time. Hands back the
    batch holding the rest (the allocation table) and the participants seen."""
    tables = Tables(store)
    batch = Batch(in_place=True)  # states are dropped once their documents are written
    audit = batch.docs[audit_trail.NAME]

    def write(docs: dict[str, dict[str, Any]]) -> None:
        with store.transaction() as cur:
            tables.write(cur, version, docs)

    with bulk():
        for index, record in records:
            apply(batch, record, index)
            if len(audit) >= CHUNK:
                write({audit_trail.NAME: audit})
                audit.clear()
        write({audit_trail.NAME: audit})
        audit.clear()
        finish_in_chunks(batch, write)
    return batch
