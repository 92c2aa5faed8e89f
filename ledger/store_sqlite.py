"""The SQLite backend: eventsourcing's SQLite recorders, the write lock taken first, triggers."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteTrackingRecorder

from .store import RECORDS_TABLE, REDACTIONS_TABLE, NewRow, Row, Store, StoreBusy, StoreError, stored_bytes

LOOKUP_MMAP_BYTES = 1 << 30
LOOKUP_CACHE_KIB = 64 * 1024
DERIVED_CACHE_KIB = 32 * 1024  # a derived-data writer's page cache: each page written once a commit
CHECKPOINT_EVERY = 0.25  # seconds between a checkpointer's passes


def _begin_at_once(cur: Any) -> None:
    """BEGIN IMMEDIATE without SQLite's busy handler, which sleeps in growing steps (up to 100
    ms) while another connection writes: StoreBusy if the write lock is held."""
    (waits,) = cur.execute("PRAGMA busy_timeout").fetchone()
    cur.execute("PRAGMA busy_timeout = 0")
    try:
        cur.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:  # (the primary code: extended ones add bits above 0xFF)
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise StoreBusy("another writer holds the write lock") from exc
        raise StoreError(f"cannot take the write lock: {exc}") from exc
    finally:
        cur.execute(f"PRAGMA busy_timeout = {int(waits)}")


class _WriteTurn:
    """Writers of one database file, in several processes, queued by the kernel: an exclusive
    `flock` of `<file>-write.lock` taken before BEGIN IMMEDIATE. Without it a process that finds
    the write lock held sleeps in SQLite's busy handler (1, 2, 5 ... 100 ms) and is overtaken by
    whoever asks next, which costs a server's workers and its view runner their latency. SQLite's
    own lock still decides: a writer that does not take this turn is merely not queued."""

    def __init__(self, path: str) -> None:
        self.path = f"{path}-write.lock"
        self._fd: int | None = None
        self._opening = threading.Lock()

    def take(self, *, wait: bool) -> None:
        if self._fd is None:
            with self._opening:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreBusy("another writer holds the write lock") from exc
            raise StoreError(f"cannot take the write lock: {exc}") from exc

    def give(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SQLiteStore(Store):
    param = "?"

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self.path = path
        if path != ":memory:" and "mode=memory" not in path:
            parent = Path(path).parent
            if not parent.exists():
                raise StoreError(f"folder {parent} does not exist for database {path}")
        self.datastore = SQLiteDatastore(path, originator_id_type="text", lock_timeout=30)
        self.recorder = SQLiteApplicationRecorder(self.datastore, RECORDS_TABLE)
        self.tracking = SQLiteTrackingRecorder(self.datastore)
        self.derived_only = False
        self._turn = _WriteTurn(os.path.realpath(path)) if self.shared() else None

    def write_derived_data_only(self) -> None:
        """This store's writes from now on are derived data that can be made again from the log
        (a rebuild worker's view rows): commit without waiting for the disk and leave the WAL's
        checkpoints to a `Checkpointer` in another process or thread. WAL with synchronous
        NORMAL keeps the database intact on power loss; only the last commits may be lost, and
        a rebuild that loses them is started again. Never for a process that appends records."""
        self.derived_only = True

    def shared(self) -> bool:
        return self.path != ":memory:" and "mode=memory" not in self.path

    def create_tables(self) -> None:
        self.recorder.create_table()
        self.tracking.create_table()
        with self.write() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {REDACTIONS_TABLE} (position INTEGER PRIMARY KEY, "
                        "redaction_hash TEXT NOT NULL)")
            self.protect(cur, REDACTIONS_TABLE)
            new, old = "json_extract(CAST(NEW.state AS TEXT), '$.{0}')", \
                "json_extract(CAST(OLD.state AS TEXT), '$.{0}')"
            cur.execute(
                f"CREATE TRIGGER IF NOT EXISTS {RECORDS_TABLE}_no_update BEFORE UPDATE ON {RECORDS_TABLE} "
                f"WHEN NOT (EXISTS (SELECT 1 FROM {REDACTIONS_TABLE} r WHERE r.position = OLD.rowid) "
                "AND NEW.rowid = OLD.rowid AND NEW.originator_id = OLD.originator_id "
                "AND NEW.originator_version = OLD.originator_version AND NEW.topic = OLD.topic "
                f"AND {new.format('sealed')} = {old.format('sealed')} "
                f"AND {new.format('payload')} IS NULL AND {new.format('salt')} IS NULL "
                f"AND {new.format('redacted_by')} = (SELECT redaction_hash FROM {REDACTIONS_TABLE} r "
                "WHERE r.position = OLD.rowid)) "
                f"BEGIN SELECT RAISE(ABORT, '{RECORDS_TABLE}: records are append-only'); END")
            self.protect(cur, RECORDS_TABLE)
            self.create_state_table(cur)

    def redact(self, cursor: Any, position: int, redaction_hash: str, state: bytes) -> None:
        cursor.execute(f"INSERT INTO {REDACTIONS_TABLE} (position, redaction_hash) VALUES (?, ?)",
                       (position, redaction_hash))
        cursor.execute(f"UPDATE {RECORDS_TABLE} SET state = ? WHERE rowid = ?", (state, position))

    def protect(self, cur: Any, table: str) -> None:
        for action in ("UPDATE", "DELETE"):
            cur.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}: records are append-only'); END"
            )

    @contextmanager
    def write(self, *, wait: bool = True) -> Iterator[Any]:
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            if self.derived_only and not getattr(conn, "derived_only", False):
                raw.execute("PRAGMA synchronous = NORMAL")
                raw.execute("PRAGMA wal_autocheckpoint = 0")
                raw.execute(f"PRAGMA cache_size = -{DERIVED_CACHE_KIB}")
                conn.derived_only = True  # type: ignore[attr-defined]
            cur = raw.cursor()
            # IMMEDIATE takes the write lock first: heads read inside are the heads we append
            # to, and no other writer can slip in between.
            if self._turn is not None:
                self._turn.take(wait=wait)
            try:
                if not wait:
                    _begin_at_once(cur)  # StoreBusy if another writer holds it
                else:
                    try:
                        cur.execute("BEGIN IMMEDIATE")
                    except Exception as exc:
                        raise StoreError(f"cannot take the write lock: {exc}") from exc
                try:
                    yield cur
                except BaseException:
                    raw.rollback()
                    raise
                else:
                    raw.commit()
            finally:
                if self._turn is not None:
                    self._turn.give()

    def transaction(self, *, wait: bool = True) -> Any:
        return self.write(wait=wait)  # SQLite has one writer at a time whatever the table

    @contextmanager
    def lookup(self) -> Iterator[Any]:
        with self.datastore.get_connection(commit=False) as conn:
            raw = conn._sqlite_conn
            if not getattr(conn, "tuned_for_lookups", False):
                # Proof reads jump around a large nodes table: map the file instead of copying
                # pages through read(2), and keep more of it cached.
                raw.execute(f"PRAGMA mmap_size = {LOOKUP_MMAP_BYTES}")
                raw.execute(f"PRAGMA cache_size = -{LOOKUP_CACHE_KIB}")
                conn.tuned_for_lookups = True  # type: ignore[attr-defined]
            yield raw.cursor()

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as cur:
            yield cur

    def insert(self, cursor: Any, rows: Sequence[NewRow]) -> list[int]:
        positions = []
        try:
            for row in rows:
                cursor.execute(f"INSERT INTO {RECORDS_TABLE} VALUES (?,?,?,?)", row)
                positions.append(int(cursor.lastrowid))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        return positions

    def insert_at(self, cursor: Any, rows: Sequence[Row]) -> None:
        cursor.executemany(
            f"INSERT INTO {RECORDS_TABLE} (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?,?,?,?,?)", [(r.position, r.stream, r.version, r.topic, r.state) for r in rows])

    def stream_counts(self, upto: int) -> list[tuple[str, int]]:
        """Each stream and its records among positions 1..upto, in stream order, from one walk
        of the stream index (it holds each row's position; no record is read). Read through a
        connection of its own: a rebuild's reads never share the writers' connection."""
        reader = sqlite3.connect(self.path)
        try:
            return [(str(stream), int(n)) for stream, n in reader.execute(
                f"SELECT originator_id, COUNT(*) FROM {RECORDS_TABLE} WHERE rowid <= ? "
                "GROUP BY originator_id ORDER BY originator_id", (upto,)).fetchall()]
        finally:
            reader.close()

    def stream_pages(self, runs: Iterable[Sequence[str]], upto: int,
                     page: int) -> Iterator[list[tuple[int, bytes]]]:
        """(position, state) of the records of each run of streams up to position `upto`, a
        stream at a time in stream and version order, at most `page` rows per query (a stream
        longer than a page must come alone in its run: it is read a page at a time, by version).
        Read through a connection of its own, held while the pages are consumed."""
        reader = sqlite3.connect(self.path)
        try:
            for streams in runs:
                marks = ",".join("?" * len(streams))
                after = -1
                while True:
                    rows = reader.execute(
                        f"SELECT rowid, originator_version, state FROM {RECORDS_TABLE} WHERE "
                        f"originator_id IN ({marks}) AND originator_version > ? AND rowid <= ? "
                        f"ORDER BY originator_id, originator_version LIMIT {int(page)}",
                        (*streams, after if len(streams) == 1 else -1, upto)).fetchall()
                    yield [(position, stored_bytes(state)) for position, _, state in rows]
                    if len(streams) > 1 or len(rows) < page:
                        break
                    after = rows[-1][1]
        finally:
            reader.close()

    def close(self) -> None:
        self.datastore.close()
        if self._turn is not None:
            self._turn.close()


class Checkpointer:
    """Copies the WAL's frames into the database file from a thread of its own, every
    CHECKPOINT_EVERY seconds while in use and once at its end, for writers that leave
    checkpoints to it (`SQLiteStore.write_derived_data_only`): the disk syncs a checkpoint
    waits for are then waited for here, not by them. PASSIVE: it never blocks a reader or a
    writer, and copies what no reader still needs."""

    def __init__(self, path: str, every: float = CHECKPOINT_EVERY) -> None:
        self.path, self.every = path, every
        self.passes = 0
        self.failures = 0  # passes that raised (a busy database): the next pass tries again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)

    def __enter__(self) -> Checkpointer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path)
        try:
            while True:
                stopping = self._stop.wait(self.every)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.passes += 1
                except sqlite3.Error:
                    self.failures += 1
                if stopping:
                    return
        finally:
            conn.close()
