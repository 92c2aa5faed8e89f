"""Where the views live: one table per view and version, `(key, doc)` with the document as its
RFC 8785 text, so a fingerprint is a straight read in key order.

Fingerprint: SHA-256 over the canonical bytes of the JSON object {key: document, …} holding a
view's whole state. Keys are ASCII (participant ids, `stratum/slot`, leaf indexes), so byte order
is RFC 8785's key order and the object's bytes can be hashed as the rows stream past.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from ledger.canonical import canonical
from ledger.store import Store

from . import audit_trail
from .fold import NAMES

ROWS_PER_STATEMENT = 250  # 500 parameters: under every SQLite build's limit (999 before 3.32)


def _canonical_text(doc: Any) -> str:
    return canonical(doc).decode("utf-8")


#: How a view's documents become their stored text (RFC 8785): the same bytes either way.
TEXT: dict[str, Callable[[Any], str]] = {audit_trail.NAME: audit_trail.stored}


def text(view: str, doc: Any) -> bytes:
    return TEXT.get(view, _canonical_text)(doc).encode("utf-8")


class Digest:
    """The fingerprint of a view, fed (key, document bytes) in ascending key order."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"{")
        self._last: str | None = None
        self.count = 0

    def add(self, key: str, doc: bytes) -> None:
        if not key.isascii() or (self._last is not None and key <= self._last):
            raise ValueError(f"view keys must be ASCII and ascending: {key!r} after {self._last!r}")
        self._hash.update(b"," if self._last is not None else b"")
        self._hash.update(orjson.dumps(key) + b":" + doc)  # an ASCII string: JCS's bytes
        self._last = key
        self.count += 1

    def hexdigest(self) -> str:
        final = self._hash.copy()
        final.update(b"}")
        return final.hexdigest()


def fingerprint(docs: Mapping[str, bytes]) -> str:
    digest = Digest()
    for key in sorted(docs):
        digest.add(key, docs[key])
    return digest.hexdigest()


class Tables:
    def __init__(self, store: Store) -> None:
        self.store = store
        # PostgreSQL sorts text by locale unless told otherwise; fingerprints need byte order.
        self._collate = ' COLLATE "C"' if store.param == "%s" else ""

    def name(self, view: str, version: int) -> str:
        return self.store.qualify(f"view_{view}_v{version}")

    def create(self, cur: Any, version: int) -> None:
        for view in NAMES:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.name(view, version)} "
                        f"(key TEXT{self._collate} PRIMARY KEY, doc TEXT NOT NULL)")

    def drop(self, cur: Any, version: int) -> None:
        for view in NAMES:
            cur.execute(f"DROP TABLE IF EXISTS {self.name(view, version)}")

    def load(self, cur: Any, version: int, view: str, key: str) -> str | None:
        cur.execute(f"SELECT doc FROM {self.name(view, version)} WHERE key = {self.store.param}",
                    (key,))
        row = cur.fetchone()
        return None if row is None else str(row["doc"])

    def load_many(self, cur: Any, version: int, view: str, keys: Iterable[str]) -> dict[str, str]:
        """`load` of many keys in one query per 500 (a runner's page: one round trip for its
        participants instead of one each); a key with no row is absent."""
        wanted = sorted(set(keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join([self.store.param] * len(chunk))
            cur.execute(f"SELECT key, doc FROM {self.name(view, version)} WHERE key IN ({marks})",
                        chunk)
            found.update((str(r["key"]), str(r["doc"])) for r in cur.fetchall())
        return found

    def write(self, cur: Any, version: int, docs: Mapping[str, Mapping[str, Any]], *,
              fresh: bool = False) -> None:
        """Upsert documents (view -> key -> JSON value), each as its canonical text. Views in one
        order and keys sorted: two runners racing for the same page take row locks in the same
        order, so PostgreSQL never sees them deadlock (the loser fails on the tracking insert).
        `fresh`: rows of a fold from zero, each written once: inserted, not upserted (SQLite
        then searches a key's index once, not twice; a key written twice is an error)."""
        for view in sorted(docs):
            changed = docs[view]
            encode = TEXT.get(view, _canonical_text)
            if changed:
                keys = sorted(changed)
                params: list[str] = [""] * (2 * len(keys))  # key, text, key, text…
                params[0::2] = keys
                params[1::2] = [encode(changed[key]) for key in keys]
                self._insert(cur, self.name(view, version), params, fresh)

    def _insert(self, cur: Any, table: str, params: list[str], fresh: bool) -> None:
        """Insert (upsert unless `fresh`) many rows per statement: SQLite inserts a row about a
        quarter faster than when it steps a one-row statement per row (a rebuild writes a row
        per record of the log)."""
        p = self.store.param
        head = f"INSERT INTO {table} (key, doc) VALUES "
        tail = "" if fresh else " ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
        step = 2 * ROWS_PER_STATEMENT
        full = head + ",".join([f"({p}, {p})"] * ROWS_PER_STATEMENT) + tail
        for start in range(0, len(params), step):
            part = params[start:start + step]
            sql = full if len(part) == step else \
                head + ",".join([f"({p}, {p})"] * (len(part) // 2)) + tail
            cur.execute(sql, part)

    def rows(self, cur: Any, version: int, view: str, *, offset: int = 0,
             limit: int | None = None) -> list[tuple[str, str]]:
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        cur.execute(f"SELECT key, doc FROM {self.name(view, version)} ORDER BY key{page}")
        return [(str(r["key"]), str(r["doc"])) for r in cur.fetchall()]

    def fingerprint(self, cur: Any, version: int, view: str) -> tuple[str, int]:
        """(fingerprint, rows) streamed from the table in key order."""
        digest = Digest()
        last = ""
        while True:
            p = self.store.param
            cur.execute(f"SELECT key, doc FROM {self.name(view, version)} WHERE key > {p} "
                        "ORDER BY key LIMIT 5000", (last,))
            rows = cur.fetchall()
            for r in rows:
                digest.add(str(r["key"]), str(r["doc"]).encode("utf-8"))
            if len(rows) < 5000:
                return digest.hexdigest(), digest.count
            last = str(rows[-1]["key"])
