"""API bearer tokens: random, shown once, stored only as SHA-256, each bound to one user, each
ageing out (R17): a login's session token after `SESSION_HOURS`, a standing token from
`users add` after `STANDING_DAYS`. Logout and lock-out revoke them."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.store import Store
from ledger.store_sqlite import SQLiteStore

TABLE = "api_tokens"
SESSION_HOURS = float(os.environ.get("TRIAL_LEDGER_SESSION_HOURS", "8"))
STANDING_DAYS = float(os.environ.get("TRIAL_LEDGER_TOKEN_DAYS", "90"))
_COLUMNS = {"expires_at": "TEXT", "session": "TEXT"}  # added after the first release


@dataclass(frozen=True)
class User:
    author: str
    role: str
    site: str
    session: str | None = None  # the session.opened record this token belongs to


class TokenStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = store.qualify(TABLE)
        self._readers = threading.local()
        self._opened: list[sqlite3.Connection] = []  # every thread's, closed together
        self._opened_lock = threading.Lock()

    def create_table(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (token_hash TEXT PRIMARY KEY, "
                "author TEXT NOT NULL, role TEXT NOT NULL, site TEXT NOT NULL, "
                "created_at TEXT NOT NULL, revoked_at TEXT, expires_at TEXT, session TEXT)"
            )
            cur.execute(f"SELECT * FROM {self.table} WHERE 1 = 0")
            have = {d[0] for d in cur.description}
            for name, kind in _COLUMNS.items():
                if name not in have:
                    cur.execute(f"ALTER TABLE {self.table} ADD COLUMN {name} {kind}")

    def issue(self, user: User, *, ttl: timedelta | None = None) -> str:
        """A new token for `user`, valid for `ttl` (default: a standing token's lifetime)."""
        token = "tl_" + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + (ttl if ttl is not None else timedelta(days=STANDING_DAYS))
        p = self.store.param
        with self.store.transaction() as cur:
            cur.execute(
                f"INSERT INTO {self.table} (token_hash, author, role, site, created_at, expires_at, "
                f"session) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
                (_digest(token), user.author, user.role, user.site, now.isoformat(),
                 expires.isoformat(), user.session),
            )
        return token

    def lookup(self, token: str) -> User | None:
        """The token's user, unless it is unknown, revoked or expired. Asked on every request,
        so read as it stands now (a revocation holds from its commit on, in every process) but
        on SQLite through this thread's own read-only connection, without the pool's turns."""
        p = self.store.param
        sql = (f"SELECT author, role, site, session FROM {self.table} WHERE token_hash = {p} "
               f"AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > {p})")
        params = (_digest(token), datetime.now(UTC).isoformat())
        reader = self._reader()
        if reader is not None:
            found = reader.execute(sql, params).fetchone()
            return None if found is None else User(*found)
        with self.store.read() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        return None if row is None else User(row["author"], row["role"], row["site"], row["session"])

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's read-only connection to a SQLite file (None for other stores). In
        autocommit, each lookup is its own read transaction: it sees every commit before it."""
        if not isinstance(self.store, SQLiteStore) or not self.store.shared():
            return None
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(f"{Path(self.store.path).resolve().as_uri()}?mode=ro",
                                     uri=True, isolation_level=None, check_same_thread=False)
            self._readers.connection = reader
            with self._opened_lock:
                self._opened.append(reader)
        return reader

    def close(self) -> None:
        """Close the lookups' connections (each thread opens its own again if asked later)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        self._readers = threading.local()
        for reader in opened:
            reader.close()

    def revoke(self, token: str) -> None:
        self._revoke("token_hash", _digest(token))

    def revoke_all(self, author: str) -> int:
        """Revoke every live token of `author` (a locked or removed account); how many."""
        return self._revoke("author", author)

    def _revoke(self, column: str, value: Any) -> int:
        p = self.store.param
        with self.store.transaction() as cur:
            cur.execute(f"UPDATE {self.table} SET revoked_at = {p} WHERE {column} = {p} "
                        "AND revoked_at IS NULL", (datetime.now(UTC).isoformat(), value))
            return int(cur.rowcount or 0)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
