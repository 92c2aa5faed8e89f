"""The store keeps eventsourcing to itself: outside ledger/store*.py no module names the tables
eventsourcing (or the store) creates, their columns, or the recorders' private methods. The rest
of the code reads and writes the log through `Store` methods."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.store import RECORDS_TABLE, REDACTIONS_TABLE

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("ledger", "domain", "projections", "api", "benchmarks", "scripts")
TRACKING_TABLES = ("tracking", "notification_tracking")  # eventsourcing's, SQLite and PostgreSQL
_TABLES = "|".join(map(re.escape, (RECORDS_TABLE, REDACTIONS_TABLE, *TRACKING_TABLES)))
NAMED = [
    # the records table by name, or its name's constants
    re.compile(rf"\b({re.escape(RECORDS_TABLE)}|notification_tracking|RECORDS_TABLE|REDACTIONS_TABLE)\b"),
    # any of the store's tables in SQL
    re.compile(rf"\b(FROM|INTO|UPDATE|JOIN|TABLE|ON)\s+(IF\s+(NOT\s+)?EXISTS\s+)?[\"'`]?({_TABLES})\b",
               re.IGNORECASE),
    # the records table's columns
    re.compile(r"\b(originator_id|originator_version|notification_id)\b"),
    # the recorders' and datastores' private methods and attributes
    re.compile(r"\b_(insert_tracking|max_tracking_id|insert_stored_events|insert_events|"
               r"lock_table|sqlite_conn)\b"),
    re.compile(r"\.(recorder|tracking|datastore)\._\w"),
]


def _outside_the_store() -> list[Path]:
    return [path for room in ROOMS for path in sorted((ROOT / room).rglob("*.py"))
            if not (room == "ledger" and path.parent == ROOT / "ledger"
                    and path.name.startswith("store"))]


def test_no_module_outside_the_store_names_its_tables_or_private_methods() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in _outside_the_store()
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if any(pattern.search(line) for pattern in NAMED)]
    assert offenders == []


def test_the_scan_sees_what_it_looks_for() -> None:
    """Each pattern finds the kind of line it is there to refuse, and the scan reads every room."""
    caught = [f"SELECT state FROM {RECORDS_TABLE} WHERE rowid = ?",
              "from ledger.store import RECORDS_TABLE",
              'cur.execute("SELECT MAX(notification_id) FROM tracking")',
              f"INSERT INTO {REDACTIONS_TABLE} (position) VALUES (?)",
              "store.tracking._insert_tracking(cur, Tracking(name, 1))",
              "store.recorder._insert_stored_events(cur, events)",
              "WHERE originator_id = ?"]
    assert all(any(p.search(line) for p in NAMED) for line in caught)
    passed = ["self.store.track(cur, self._tracking(version), last)",
              "if stream == redaction.REDACTIONS_STREAM:", "tracking = store.tracked(cur, name)"]
    assert not any(p.search(line) for line in passed for p in NAMED)
    scanned = {path.relative_to(ROOT).parts[0] for path in _outside_the_store()}
    assert {"ledger", "domain", "projections", "api", "benchmarks"} <= scanned
    assert ROOT / "ledger" / "store.py" not in _outside_the_store()
