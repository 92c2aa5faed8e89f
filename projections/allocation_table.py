"""The allocation table: slot, participant, arm, when and by whom (unblinded roles only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.entry import Record


def allocation_table(records: Iterable[Record]) -> list[dict[str, Any]]:
    """One row per allocation, in slot order per stratum; invalidated ones keep their slot."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        p = record.payload() or {}
        if record.type == "participant.randomised" and record.redacted_by is None:
            rows[(p["stratum"], p["slot"])] = {
                "stratum": p["stratum"], "slot": p["slot"], "arm": p["arm"],
                "participant_id": record.stream.split("/", 1)[1], "randomised_at": record.recorded_at,
                "by": record.entry.fields["author"], "record_hash": record.hash, "invalidated": None}
        elif record.type == "slot.invalidated" and (p.get("stratum"), p.get("slot")) in rows:
            rows[(p["stratum"], p["slot"])]["invalidated"] = {
                "reason": record.entry.fields["reason"], "at": record.recorded_at}
    return [rows[key] for key in sorted(rows)]
