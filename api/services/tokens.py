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
IDLE = 8  # lookup connections kept idle at most (one per lookup running at the same time)
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
        self._idle: list[sqlite3.Connection] = []  # SQLite: lookup connections not in use
        self._idle_lock = threading.Lock()

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
        on SQLite through a read-only connection of its own, without the store pool's turns."""
        p = self.store.param
        sql = (f"SELECT author, role, site, session FROM {self.table} WHERE token_hash = {p} "
               f"AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > {p})")
        params = (_digest(token), datetime.now(UTC).isoformat())
        if self._sqlite_file():
            reader = self._take_reader()
            try:
                found = reader.execute(sql, params).fetchone()
            finally:
                self._give_back(reader)
            return None if found is None else User(*found)
        with self.store.read() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        return None if row is None else User(row["author"], row["role"], row["site"], row["session"])

    def _sqlite_file(self) -> bool:
        return isinstance(self.store, SQLiteStore) and self.store.shared()

    def _take_reader(self) -> sqlite3.Connection:
        """An idle read-only connection to the SQLite file, or a new one. In autocommit, each
        lookup is its own read transaction: it sees every commit made before it."""
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        assert isinstance(self.store, SQLiteStore)
        return sqlite3.connect(f"{Path(self.store.path).resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)

    def _give_back(self, reader: sqlite3.Connection) -> None:
        """Kept for the next lookup, as many as were ever in use at once (at most `IDLE`)."""
        with self._idle_lock:
            if len(self._idle) < IDLE:
                self._idle.append(reader)
                return
        reader.close()

    def close(self) -> None:
        """Close the idle lookup connections (a lookup after this opens one again)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for reader in idle:
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
