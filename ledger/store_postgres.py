"""The PostgreSQL backend: eventsourcing's recorders and table lock, triggers in the schema."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)

from .store import RECORDS_TABLE, REDACTIONS_TABLE, NewRow, Row, Store, StoreError


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
    def transaction(self, *, wait: bool = True) -> Iterator[Any]:
        # Side tables take row locks only: writers never queue behind one lock here.
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
            self.create_state_table(cur)

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

    def insert(self, cursor: Any, rows: Sequence[NewRow]) -> list[int]:
        events = [StoredEvent(originator_id=stream, originator_version=version, topic=topic,
                              state=state) for stream, version, topic, state in rows]
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
