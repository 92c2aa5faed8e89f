"""The append-only store on eventsourcing's recorders: SQLite by default, PostgreSQL by URL.

eventsourcing owns the records table, its notification log and the tracking tables. We add
what a ledger needs around them: one write transaction that takes the store's write lock
before reading stream heads (so decisions and inserts are serialised and leaf order follows
commit order), and triggers that refuse UPDATE, DELETE and TRUNCATE on records.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
)

from .errors import LedgerError

RECORDS_TABLE = "stored_events"
REDACTIONS_TABLE = "redactions"
DEFAULT_URL = "sqlite:///trial-ledger.db"


class StoreError(LedgerError):
    rule = "store.error"


@dataclass(frozen=True)
class Row:
    position: int
    stream: str
    version: int
    topic: str
    state: bytes


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
    def transaction(self) -> Any:
        """Context manager: a write transaction for side tables (views, tokens), no log lock."""

    def qualify(self, table: str) -> str:
        """A side table's name as SQL, in the store's schema."""
        return table

    @abstractmethod
    def protect(self, cur: Any, table: str) -> None:
        """Triggers that refuse UPDATE and DELETE (and TRUNCATE where there is one) on `table`."""

    @abstractmethod
    def insert(self, cursor: Any, events: Sequence[StoredEvent]) -> list[int]:
        """Insert inside `write()`; returns the notification positions."""

    @abstractmethod
    def redact(self, cursor: Any, position: int, redaction_hash: str, state: bytes) -> None:
        """Inside `write()`: note the redaction, then replace the row's state (payload removed)."""

    @abstractmethod
    def insert_at(self, cursor: Any, rows: Sequence[Row]) -> None:
        """Insert rows at the log positions they carry (restoring an archive into an empty store)."""

    @abstractmethod
    def close(self) -> None: ...

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
        return [Row(int(r["p"]), stream, r["v"], r["topic"], bytes(r["state"])) for r in cursor.fetchall()]

    def row_at(self, cursor: Any, position: int) -> Row | None:
        cursor.execute(f"SELECT originator_id AS s, originator_version AS v, topic, state FROM "
                       f"{self._table} WHERE {self.position_column} = {self.param}", (position,))
        r = cursor.fetchone()
        return None if r is None else Row(position, r["s"], r["v"], r["topic"], bytes(r["state"]))

    def last_row(self, cursor: Any, stream: str) -> Row | None:
        cursor.execute(
            f"SELECT originator_version AS v, topic, state FROM {self._table} WHERE originator_id = "
            f"{self.param} ORDER BY originator_version DESC LIMIT 1",
            (stream,),
        )
        r = cursor.fetchone()
        return None if r is None else Row(0, stream, r["v"], r["topic"], bytes(r["state"]))

    def log_rows(self, start: int = 1, limit: int = 1000) -> list[Row]:
        """Records in log order from notification position `start` (inclusive)."""
        notes = self.recorder.select_notifications(start=start, limit=limit)
        return [Row(n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
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


def _first(row: Any) -> Any:
    if row is None:
        return None
    return row[0] if not isinstance(row, dict) else next(iter(row.values()))


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
    def write(self) -> Iterator[Any]:
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            cur = raw.cursor()
            try:
                # IMMEDIATE takes the write lock first: heads read inside are the heads we
                # append to, and no other writer can slip in between.
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

    def transaction(self) -> Any:
        return self.write()  # SQLite has one writer at a time whatever the table

    @contextmanager
    def lookup(self) -> Iterator[Any]:
        with self.datastore.get_connection(commit=False) as conn:
            yield conn._sqlite_conn.cursor()

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as cur:
            yield cur

    def insert(self, cursor: Any, events: Sequence[StoredEvent]) -> list[int]:
        import sqlite3

        positions = []
        try:
            for e in events:
                cursor.execute(
                    f"INSERT INTO {RECORDS_TABLE} VALUES (?,?,?,?)",
                    (e.originator_id, e.originator_version, e.topic, e.state),
                )
                positions.append(int(cursor.lastrowid))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        return positions

    def insert_at(self, cursor: Any, rows: Sequence[Row]) -> None:
        cursor.executemany(
            f"INSERT INTO {RECORDS_TABLE} (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?,?,?,?,?)", [(r.position, r.stream, r.version, r.topic, r.state) for r in rows])

    def close(self) -> None:
        self.datastore.close()


class PostgresStore(Store):
    param = "%s"
    blob_type = "bytea"
    bigint_type = "bigint"
    position_column = "notification_id"

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlparse(url)
        query = parse_qs(parts.query)
        self.schema = query.get("schema", ["public"])[0]
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.schema):
            raise StoreError(f"schema {self.schema!r} is not a plain lower-case identifier")
        self.datastore = PostgresDatastore(
            dbname=(parts.path or "/").lstrip("/") or "postgres",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            schema=self.schema,
            originator_id_type="text",
            pool_size=4,
            max_overflow=8,
            lock_timeout=30,
            connect_timeout=5,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore, events_table_name=RECORDS_TABLE)
        self.tracking = PostgresTrackingRecorder(self.datastore)

    @property
    def _table(self) -> str:
        return self.qualify(RECORDS_TABLE)

    def qualify(self, table: str) -> str:
        return f'"{self.schema}".{table}'

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cur:
            yield cur

    @contextmanager
    def lookup(self) -> Iterator[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            yield cur

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        self.recorder.create_table()
        self.tracking.create_table()
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(
                f'CREATE OR REPLACE FUNCTION "{self.schema}".refuse_change() RETURNS trigger '
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION '%: records are append-only', TG_TABLE_NAME; END $$"
            )
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.qualify(REDACTIONS_TABLE)} "
                        "(position bigint PRIMARY KEY, redaction_hash text NOT NULL)")
            self.protect(cur, REDACTIONS_TABLE)
            new, old = "(convert_from(NEW.state, 'UTF8')::jsonb)", "(convert_from(OLD.state, 'UTF8')::jsonb)"
            cur.execute(
                f'CREATE OR REPLACE FUNCTION "{self.schema}".guard_record_update() RETURNS trigger '
                "LANGUAGE plpgsql AS $$ BEGIN "
                f"IF EXISTS (SELECT 1 FROM {self.qualify(REDACTIONS_TABLE)} r "
                "WHERE r.position = OLD.notification_id "
                f"AND r.redaction_hash = {new} ->> 'redacted_by') "
                "AND NEW.notification_id = OLD.notification_id "
                "AND NEW.originator_id = OLD.originator_id "
                "AND NEW.originator_version = OLD.originator_version AND NEW.topic = OLD.topic "
                f"AND {new} ->> 'sealed' = {old} ->> 'sealed' "
                f"AND {new} -> 'payload' = 'null'::jsonb AND {new} -> 'salt' = 'null'::jsonb "
                "THEN RETURN NEW; END IF; "
                f"RAISE EXCEPTION '{RECORDS_TABLE}: records are append-only'; END $$")
            self.protect(cur, RECORDS_TABLE)
            cur.execute(f"DROP TRIGGER IF EXISTS {RECORDS_TABLE}_no_update ON {self._table}")
            cur.execute(f"CREATE TRIGGER {RECORDS_TABLE}_no_update BEFORE UPDATE ON {self._table} "
                        f'FOR EACH ROW EXECUTE FUNCTION "{self.schema}".guard_record_update()')

    def redact(self, cursor: Any, position: int, redaction_hash: str, state: bytes) -> None:
        cursor.execute(f"INSERT INTO {self.qualify(REDACTIONS_TABLE)} (position, redaction_hash) "
                       "VALUES (%s, %s)", (position, redaction_hash))
        cursor.execute(f"UPDATE {self._table} SET state = %s WHERE notification_id = %s",
                       (state, position))

    def protect(self, cur: Any, table: str) -> None:
        for action, scope in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            name = f"{table}_no_{action.lower()}"
            cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {self.qualify(table)}")
            cur.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON {self.qualify(table)} "
                f'FOR EACH {scope} EXECUTE FUNCTION "{self.schema}".refuse_change()'
            )

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cur:
            for statement in self.recorder.lock_table_statements:
                cur.execute(statement)
            yield cur

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as cur:
            yield cur

    def insert(self, cursor: Any, events: Sequence[StoredEvent]) -> list[int]:
        import psycopg

        try:
            self.recorder._insert_stored_events(cursor, events)
            return [int(r["notification_id"]) for r in cursor.fetchall()]
        except psycopg.IntegrityError as exc:
            raise IntegrityError(exc) from exc

    def insert_at(self, cursor: Any, rows: Sequence[Row]) -> None:
        cursor.executemany(
            f"INSERT INTO {self._table} (originator_id, originator_version, topic, state, "
            "notification_id) VALUES (%s, %s, %s, %s, %s)",
            [(r.stream, r.version, r.topic, r.state, r.position) for r in rows])
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{self._table}', 'notification_id'), "
                       f"(SELECT COALESCE(MAX(notification_id), 1) FROM {self._table}))")

    def close(self) -> None:
        self.datastore.close()


def open_store(url: str | None = None) -> Store:
    """A store from a URL: `sqlite:///path` (default) or `postgresql://…[?schema=name]`."""
    url = url or DEFAULT_URL
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
