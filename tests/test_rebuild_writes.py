"""How a parallel rebuild's workers write on SQLite: commits that do not wait for the disk, and
the WAL's checkpoints left to a thread in the parent (ledger/store_sqlite.py)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from ledger.store import open_store
from ledger.store_sqlite import Checkpointer, SQLiteStore

ROWS = 3000
DOC = "x" * 2000  # about 1,500 pages in all: past the 1,000 pages of an automatic checkpoint


def _store(path: Path) -> SQLiteStore:
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SQLiteStore)
    with store.transaction() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS derived (key TEXT PRIMARY KEY, doc TEXT)")
    return store


def _fill(store: SQLiteStore) -> None:
    for start in range(0, ROWS, 500):
        with store.transaction() as cur:
            cur.executemany("INSERT INTO derived VALUES (?, ?)",
                            [(f"{n:06d}", DOC) for n in range(start, start + 500)])


def _settings(store: SQLiteStore) -> tuple[int, int]:
    with store.transaction() as cur:
        return (cur.execute("PRAGMA synchronous").fetchone()[0],
                cur.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_store_writing_derived_data_commits_without_syncing_and_leaves_checkpoints(
        tmp_path: Path) -> None:
    plain = _store(tmp_path / "plain.db")
    assert _settings(plain) == (2, 1000)  # FULL: the log's own writes wait for the disk
    _fill(plain)
    grown = os.path.getsize(tmp_path / "plain.db")
    plain.close()

    derived = _store(tmp_path / "derived.db")
    before = os.path.getsize(tmp_path / "derived.db")
    derived.write_derived_data_only()
    assert _settings(derived) == (1, 0)  # NORMAL, and no automatic checkpoint
    _fill(derived)
    # Nothing copied into the database file: the pages wait in the WAL for a checkpointer.
    assert os.path.getsize(tmp_path / "derived.db") == before < grown
    with Checkpointer(derived.path, every=0.01) as checkpointer:
        deadline = time.monotonic() + 10
        while checkpointer.passes == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert checkpointer.passes >= 1 and checkpointer.failures == 0
    assert os.path.getsize(tmp_path / "derived.db") >= grown * 0.9
    with derived.transaction() as cur:
        assert cur.execute("SELECT COUNT(*) FROM derived").fetchone()[0] == ROWS
    derived.close()


def test_a_checkpointer_makes_a_last_pass_when_it_stops(tmp_path: Path) -> None:
    derived = _store(tmp_path / "derived.db")
    derived.write_derived_data_only()
    with Checkpointer(derived.path, every=60) as checkpointer:
        _fill(derived)  # written while the checkpointer waits out its interval
    assert checkpointer.passes == 1
    assert os.path.getsize(tmp_path / "derived.db") > len(DOC) * ROWS * 0.9  # copied by that pass
    probe = sqlite3.connect(derived.path)  # every frame was copied: nothing left to checkpoint
    busy, frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    probe.close()
    assert busy == 0 and frames == copied
    derived.close()
