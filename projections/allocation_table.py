"""The allocation table: slot, participant, arm, when and by whom (unblinded roles only).

One document per slot, keyed `stratum/slot` so that key order is slot order per stratum; an
invalidated allocation keeps its slot and says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.entry import Record

if TYPE_CHECKING:
    from .fold import Batch

NAME = "allocation"


def key(stratum: str, slot: int) -> str:
    return f"{stratum}/{slot:06d}"


def apply(batch: Batch, record: Record, payload: dict[str, Any] | None) -> None:
    kind = record.entry.fields["type"]
    if payload is None or kind not in ("participant.randomised", "slot.invalidated"):
        return
    if kind == "participant.randomised":
        batch.put(NAME, key(payload["stratum"], payload["slot"]), {
            "stratum": payload["stratum"], "slot": payload["slot"], "arm": payload["arm"],
            "participant_id": record.stream.split("/", 1)[1], "randomised_at": record.recorded_at,
            "by": record.entry.fields["author"], "record_hash": record.hash, "invalidated": None})
        return
    if not isinstance(payload.get("stratum"), str) or not isinstance(payload.get("slot"), int):
        return
    slot = key(payload["stratum"], payload["slot"])
    invalidated = {"reason": record.entry.fields["reason"], "at": record.recorded_at}
    row = batch.doc(NAME, slot)
    if row is None:
        batch.orphans.append((slot, invalidated))
    else:
        batch.put(NAME, slot, {**row, "invalidated": invalidated})
