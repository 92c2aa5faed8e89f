"""A participant's timeline: every record of their stream, oldest first, with who (author and the
printed name registered with the signing key), role and site, when observed and when recorded
(UTC), the signature's meaning and the reason. Corrections stand beside what they supersede.
Each row is masked by `blinding.mask_history_row`, the function the history route uses."""

from __future__ import annotations

import re
from typing import Any

from api.services import blinding
from api.services.bootstrap import Services
from ledger.entry import Record
from ledger.errors import NotFound

HASH = re.compile(r"^[0-9a-f]{64}$")
CORRECTIONS = frozenset({"lab.corrected", "lab.removed"})
_VALUE = ("value", "unit")


def timeline(services: Services, role: str, records: list[Record]) -> list[dict[str, Any]]:
    """The rows as `role` may see them; corrections name the row they supersede and back."""
    keys = services.ledger.registry().keys
    mask = blinding.RowMask(services, role)
    rows: list[dict[str, Any]] = []
    for r in records:
        e = r.entry.fields
        key = keys.get(str(e["key"]))
        row = {"version": r.version, "type": r.type, "record_hash": r.hash, "author": e["author"],
               "name": key.name if key else None, "role": e["role"], "site": e["site"],
               "meaning": e["meaning"], "occurred_at": e["occurred_at"], "recorded_at": r.recorded_at,
               "reason": e["reason"], "payload": r.payload(), "redacted_by": r.redacted_by,
               "stream": r.stream}
        rows.append(mask(row))
    _pair_corrections(rows)
    return rows


def _pair_corrections(rows: list[dict[str, Any]]) -> None:
    """Put each correction beside its original: `corrects` on the one, `corrected_by` on the other."""
    by_hash = {row["record_hash"]: row for row in rows}
    for row in rows:
        payload = row.get("payload")
        if row["type"] not in CORRECTIONS or not isinstance(payload, dict):
            continue
        original = by_hash.get(str(payload.get("supersedes")))
        if original is None:
            continue
        before = original.get("payload") or {}
        field = original["corrects"]["field"] if "corrects" in original else \
            f"{before.get('visit', '?')}/{before.get('analyte', '?')}"  # a correction of a correction
        row["corrects"] = {"version": original["version"], "record_hash": original["record_hash"],
                           "field": field,
                           "previous": {k: before.get(k) for k in _VALUE},
                           "new": None if row["type"] == "lab.removed"
                           else {k: payload.get(k) for k in _VALUE}}
        original.setdefault("corrected_by", []).append(
            {"version": row["version"], "record_hash": row["record_hash"], "type": row["type"],
             "reason": row["reason"]})


class RecordLinks:
    """Whether a value names a record, so a page may link it: key ids and digests look the same,
    and a stream's first record names the all-zero hash as `prev`."""

    def __init__(self, services: Services) -> None:
        self.tree = services.ledger.tree
        self.known: dict[str, bool] = {}

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str) or HASH.match(value) is None:
            return False
        if value not in self.known:
            try:
                self.tree.leaf_by_hash(value)
                self.known[value] = True
            except NotFound:
                self.known[value] = False
        return self.known[value]
