"""The append-only store on eventsourcing's recorders: SQLite by default, PostgreSQL by URL.

eventsourcing owns the records table, its notification log and the tracking tables. We add
what a ledger needs around them: one write transaction that takes the store's write lock
before reading stream heads (so decisions and inserts are serialised and leaf order follows
commit order), and triggers that refuse UPDATE, DELETE and TRUNCATE on records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import PersistenceError, Tracking

from .errors import LedgerError

RECORDS_TABLE = "stored_events"
REDACTIONS_TABLE = "redactions"
#: Derived data the append path may use (ledger/stream_state.py), never verification: each
#: stream's decider state at a head, bound to it by a MAC whose key is not in the database.
STATES_TABLE = "stream_states"
DEFAULT_URL = "sqlite:///trial-ledger.db"


class StoreError(LedgerError):
    rule = "store.error"


class StoreBusy(StoreError):
    """Another writer holds the write lock, and the caller asked not to wait for it."""

    rule = "store.busy"


NewRow = tuple[str, int, str, bytes]  # (stream, version, topic, state): a record to insert


@dataclass(frozen=True)
class StoredState:
    """A row of `stream_states`: as read, not yet believed (ledger/stream_state.py checks it)."""

    stream: str
    version: int
    record_hash: str
    state: bytes
    mac: str


@dataclass(frozen=True)
class Row:
    position: int
    stream: str
    version: int
    topic: str
    state: bytes


def stored_bytes(value: object) -> bytes:
    """A state column as bytes. Someone editing the database by hand may leave text (or worse)
    where bytes belong: that must reach verification as a finding, not crash the reader."""
    if type(value) is bytes:  # what SQLite hands back for a BLOB: the common case first
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


class Store(ABC):
    """A backend: the eventsourcing recorder plus the ledger's transaction discipline."""

    url: str
    blob_type = "BLOB"
    bigint_type = "INTEGER"
    position_column = "rowid"
    recorder: Any
    tracking: Any
    param: str  # DB-API parameter marker of the backend

    @abstractmethod
    def create_tables(self) -> None:
        """The migration step: records, triggers, tracking. Run once, by `init`."""

    @abstractmethod
    def write(self) -> Any:
        """Context manager: a transaction holding the store's write lock; yields a cursor."""

    @abstractmethod
    def read(self) -> Any:
        """Context manager: a read transaction; yields a cursor."""

    @abstractmethod
    def lookup(self) -> Any:
        """Context manager: a cursor for single-statement reads of append-only tables, no
        transaction around them (each statement sees a committed state; rows never change)."""

    @abstractmethod
    def transaction(self, *, wait: bool = True) -> Any:
        """Context manager: a write transaction for side tables (views, tokens), no log lock.
        `wait=False`: raise StoreBusy at once where the backend has one writer at a time and
        another holds it (SQLite), instead of waiting for it."""

    def qualify(self, table: str) -> str:
        """A side table's name as SQL, in the store's schema."""
        return table

    @abstractmethod
    def protect(self, cur: Any, table: str) -> None:
        """Triggers that refuse UPDATE and DELETE (and TRUNCATE where there is one) on `table`."""

    @abstractmethod
    def insert(self, cursor: Any, rows: Sequence[NewRow]) -> list[int]:
        """Insert (stream, version, topic, state) rows inside `write()`; returns their log
        positions. A (stream, version) held already raises eventsourcing's IntegrityError."""

    @abstractmethod
    def redact(self, cursor: Any, position: int, redaction_hash: str, state: bytes) -> None:
        """Inside `write()`: note the redaction, then replace the row's state (payload removed)."""

    @abstractmethod
    def insert_at(self, cursor: Any, rows: Sequence[Row]) -> None:
        """Insert rows at the log positions they carry (restoring an archive into an empty store)."""

    @abstractmethod
    def close(self) -> None: ...

    def shared(self) -> bool:
        """Whether another process can open this same database from its URL."""
        return True

    def is_initialised(self) -> bool:
        try:
            with self.read() as cur:
                cur.execute(f"SELECT COUNT(*) AS n FROM {self._table} WHERE originator_id = "
                            f"{self.param}", ("keys",))
                return bool(_first(cur.fetchone()))
        except PersistenceError:
            return False
        except Exception as exc:  # the driver's own "no such table"
            if "stored_events" in str(exc) or "does not exist" in str(exc):
                return False
            raise

    @property
    def _table(self) -> str:
        return RECORDS_TABLE

    def stream_rows(self, cursor: Any, stream: str, after: int = 0) -> list[Row]:
        cursor.execute(
            f"SELECT {self.position_column} AS p, originator_version AS v, topic, state FROM "
            f"{self._table} WHERE originator_id = {self.param} AND originator_version > {self.param} "
            "ORDER BY originator_version",
            (stream, after),
        )
        return [Row(int(r["p"]), stream, r["v"], r["topic"], stored_bytes(r["state"]))
                for r in cursor.fetchall()]

    def first_row(self, cursor: Any, stream: str) -> Row | None:
        """The stream's first record (None for a stream with none), read in the caller's
        transaction."""
        cursor.execute(
            f"SELECT {self.position_column} AS p, originator_version AS v, topic, state FROM "
            f"{self._table} WHERE originator_id = {self.param} ORDER BY originator_version LIMIT 1",
            (stream,),
        )
        r = cursor.fetchone()
        return None if r is None else Row(int(r["p"]), stream, r["v"], r["topic"],
                                          stored_bytes(r["state"]))

    def redaction_mark(self, cursor: Any) -> int:
        """How many redactions the log holds (they only ever grow): a change means some row's
        payload was removed since the mark was read."""
        cursor.execute(f"SELECT COUNT(*) AS n FROM {self.qualify(REDACTIONS_TABLE)}")
        return int(_first(cursor.fetchone()) or 0)

    def row_at(self, cursor: Any, position: int) -> Row | None:
        cursor.execute(f"SELECT originator_id AS s, originator_version AS v, topic, state FROM "
                       f"{self._table} WHERE {self.position_column} = {self.param}", (position,))
        r = cursor.fetchone()
        return None if r is None else Row(position, r["s"], r["v"], r["topic"], stored_bytes(r["state"]))

    def states_between(self, cursor: Any, first: int, last: int) -> dict[int, bytes]:
        """Stored records at positions `first`..`last` (position -> state), in the caller's
        transaction: a page of records read with one query."""
        cursor.execute(f"SELECT {self.position_column} AS p, state FROM {self._table} WHERE "
                       f"{self.position_column} BETWEEN {self.param} AND {self.param}",
                       (first, last))
        return {int(r["p"]): stored_bytes(r["state"]) for r in cursor.fetchall()}

    def latest_row(self, cursor: Any) -> Row | None:
        """The log's last record (highest position), read in the caller's transaction."""
        cursor.execute(f"SELECT {self.position_column} AS p, originator_id AS s, originator_version AS v, "
                       f"topic, state FROM {self._table} ORDER BY {self.position_column} DESC LIMIT 1")
        r = cursor.fetchone()
        return None if r is None else Row(r["p"], r["s"], r["v"], r["topic"], stored_bytes(r["state"]))

    def last_row(self, cursor: Any, stream: str) -> Row | None:
        cursor.execute(
            f"SELECT originator_version AS v, topic, state FROM {self._table} WHERE originator_id = "
            f"{self.param} ORDER BY originator_version DESC LIMIT 1",
            (stream,),
        )
        r = cursor.fetchone()
        return None if r is None else Row(0, stream, r["v"], r["topic"], stored_bytes(r["state"]))

    def last_rows(self, cursor: Any, streams: Sequence[str]) -> dict[str, Row]:
        """`last_row` of many streams in one query per chunk (a group's streams: one round trip
        instead of one per entry); a stream with no record is absent."""
        found: dict[str, Row] = {}
        for chunk in _chunks(sorted(set(streams))):
            marks = ", ".join([self.param] * len(chunk))
            cursor.execute(
                f"SELECT originator_id AS s, originator_version AS v, topic, state FROM "
                f"{self._table} AS r WHERE originator_id IN ({marks}) AND originator_version = "
                f"(SELECT MAX(originator_version) FROM {self._table} WHERE originator_id = "
                "r.originator_id)", tuple(chunk))
            for r in cursor.fetchall():
                found[r["s"]] = Row(0, r["s"], r["v"], r["topic"], stored_bytes(r["state"]))
        return found

    def log_rows(self, start: int = 1, limit: int = 1000) -> list[Row]:
        """Records in log order from notification position `start` (inclusive)."""
        notes = self.recorder.select_notifications(start=start, limit=limit)
        return [Row(n.id, str(n.originator_id), n.originator_version, n.topic, stored_bytes(n.state))
                for n in notes]

    def iter_log(self, start: int = 1, page: int = 1000) -> Iterator[Row]:
        while True:
            rows = self.log_rows(start, page)
            yield from rows
            if len(rows) < page:
                return
            start = rows[-1].position + 1

    def max_position(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def subscribe(self, after: int) -> Any:
        """Context manager: an iterator of notices of records inserted after position `after`
        (PostgreSQL's LISTEN/NOTIFY; blocks until one comes)."""
        return self.recorder.subscribe(gt=after)

    # -- stream states: derived, rewritable, read only by the append path --------------------
    def create_state_table(self, cursor: Any) -> None:
        """Not protected like the log: each append rewrites its streams' rows."""
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.qualify(STATES_TABLE)} (stream TEXT PRIMARY KEY, "
                       f"version {self.bigint_type} NOT NULL, record_hash TEXT NOT NULL, "
                       f"state {self.blob_type} NOT NULL, mac TEXT NOT NULL)")

    def stream_state(self, cursor: Any, stream: str) -> StoredState | None:
        cursor.execute(f"SELECT version, record_hash, state, mac FROM {self.qualify(STATES_TABLE)} "
                       f"WHERE stream = {self.param}", (stream,))
        r = cursor.fetchone()
        if r is None:
            return None
        return StoredState(stream, r["version"], r["record_hash"], stored_bytes(r["state"]), r["mac"])

    def stream_states(self, cursor: Any, streams: Sequence[str]) -> dict[str, StoredState]:
        """`stream_state` of many streams, a query per chunk; a stream with no row is absent."""
        found: dict[str, StoredState] = {}
        for chunk in _chunks(sorted(set(streams))):
            marks = ", ".join([self.param] * len(chunk))
            cursor.execute(f"SELECT stream, version, record_hash, state, mac FROM "
                           f"{self.qualify(STATES_TABLE)} WHERE stream IN ({marks})", tuple(chunk))
            for r in cursor.fetchall():
                found[r["stream"]] = StoredState(r["stream"], r["version"], r["record_hash"],
                                                 stored_bytes(r["state"]), r["mac"])
        return found

    def put_stream_states(self, cursor: Any, rows: Sequence[StoredState]) -> None:
        p = self.param
        cursor.executemany(
            f"INSERT INTO {self.qualify(STATES_TABLE)} (stream, version, record_hash, state, mac) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (stream) DO UPDATE SET "
            "version = excluded.version, record_hash = excluded.record_hash, "
            "state = excluded.state, mac = excluded.mac",
            [(r.stream, r.version, r.record_hash, r.state, r.mac) for r in rows])

    # -- tracking: how far a follower of the log (the views) has applied it ----------------
    def track(self, cursor: Any, name: str, position: int) -> None:
        """In the caller's transaction: `name` has applied the log up to `position`. Raises
        eventsourcing's IntegrityError unless that is past the position tracked already, so two
        followers never apply the same records twice."""
        self.tracking._insert_tracking(cursor, Tracking(name, position))

    def tracked(self, cursor: Any, name: str) -> int:
        """The position `name` has applied the log up to (0: none), in the caller's transaction."""
        return int(self.tracking._max_tracking_id(name, cursor) or 0)


def _first(row: Any) -> Any:
    if row is None:
        return None
    return row[0] if not isinstance(row, dict) else next(iter(row.values()))


def open_store(url: str | None = None) -> Store:
    """A store from a URL: `sqlite:///path` (default) or `postgresql://…[?schema=name]`."""
    url = url or DEFAULT_URL
    from .store_postgres import PostgresStore
    from .store_sqlite import SQLiteStore

    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        path = path[1:] if path.startswith("/") else path
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        if not path:
            raise StoreError("sqlite URL needs a path: sqlite:///trial-ledger.db")
        return SQLiteStore(url, path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise StoreError(f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://…")


def _chunks(items: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """Within any SQLite's limit on bound parameters (999 before 3.32)."""
    return [items[i:i + size] for i in range(0, len(items), size)]
