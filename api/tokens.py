"""API bearer tokens: random, shown once, stored only as SHA-256, each bound to one user."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.store import Store

TABLE = "api_tokens"


@dataclass(frozen=True)
class User:
    author: str
    role: str
    site: str


class TokenStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = store.qualify(TABLE)

    def create_table(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (token_hash TEXT PRIMARY KEY, "
                "author TEXT NOT NULL, role TEXT NOT NULL, site TEXT NOT NULL, "
                "created_at TEXT NOT NULL, revoked_at TEXT)"
            )

    def issue(self, user: User) -> str:
        token = "tl_" + secrets.token_urlsafe(32)
        p = self.store.param
        with self.store.transaction() as cur:
            cur.execute(
                f"INSERT INTO {self.table} (token_hash, author, role, site, created_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (_digest(token), user.author, user.role, user.site, datetime.now(UTC).isoformat()),
            )
        return token

    def lookup(self, token: str) -> User | None:
        with self.store.read() as cur:
            cur.execute(
                f"SELECT author, role, site FROM {self.table} "
                f"WHERE token_hash = {self.store.param} AND revoked_at IS NULL",
                (_digest(token),),
            )
            row = cur.fetchone()
        return None if row is None else User(row["author"], row["role"], row["site"])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
