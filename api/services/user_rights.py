"""User-rights history (R20): every grant and revocation of a key (so of a role at a site), and
every lock and unlock of an account, with when, by whom and why, for periodic review. Read from
the log itself (the `keys` stream and the audit trail of `access/` streams), so it is as complete
and as tamper-evident as the records. HTTP and the CLI answer with the same rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from api.services.bootstrap import Services
from ledger.registry import GENESIS, KEY_REGISTERED, KEY_REVOKED, KEYS_STREAM
from projections import audit_trail

COLUMNS = ("recorded_at", "action", "author", "name", "role", "site", "key", "by", "reason",
           "record_hash")
_ACCOUNT = {"account.locked": "locked", "account.unlocked": "unlocked"}


def rights_history(services: Services) -> list[dict[str, Any]]:
    """Grants, revocations, locks and unlocks in the order they were recorded."""
    rows: list[dict[str, Any]] = []
    granted: dict[str, dict[str, Any]] = {}  # key id -> its grant row
    for record in services.ledger.stream(KEYS_STREAM):
        p, e = record.payload() or {}, record.entry.fields
        if record.type == KEY_REGISTERED:
            row = {"action": "granted", "author": p.get("author"), "name": p.get("name"),
                   "role": p.get("role"), "site": p.get("site"), "key": p.get("key")}
            granted[str(p.get("key"))] = row
        elif record.type == KEY_REVOKED:
            grant = granted.get(str(p.get("key")), {})
            row = {**{k: grant.get(k) for k in ("author", "name", "role", "site")},
                   "action": "revoked", "key": p.get("key")}
        elif record.type == GENESIS:
            row = {"action": "granted", "author": "root", "name": p.get("root_name"),
                   "role": "admin", "site": e["site"], "key": e["key"]}
        else:
            continue
        rows.append({"recorded_at": record.recorded_at, **row, "by": e["author"],
                     "reason": e["reason"], "record_hash": record.hash})
    services.views.catch_up()
    start = 0
    while page := services.views.docs(audit_trail.NAME, start, 5000):
        for r in page:
            if r["type"] in _ACCOUNT and r["stream"].startswith("access/"):
                rows.append({"recorded_at": r["recorded_at"], "action": _ACCOUNT[r["type"]],
                             "author": r["stream"].split("/", 1)[1], "name": None, "role": None,
                             "site": None, "key": None, "by": r["author"], "reason": r["reason"],
                             "record_hash": r["record_hash"]})
        start += len(page)
    return sorted(rows, key=lambda r: str(r["recorded_at"]))


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The history as CSV for a spreadsheet, one row per change, empty cells for what is None."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if r.get(k) is None else r[k] for k in COLUMNS} for r in rows)
    return buffer.getvalue()
