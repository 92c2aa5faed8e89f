"""The allocation table: slot, participant, arm, when and by whom (unblinded roles only).

One document per slot, keyed `stratum/slot` so that key order is slot order per stratum; an
invalidated allocation keeps its slot and says why.

A fold that reads the log a stream at a time (a rebuild) may meet a slot's invalidation, on the
allocation stream, before the randomisation it refers to, on a participant's stream: it keeps
such invalidations as orphans with their leaf index, and `join` places them as a fold in log
order would have (only on a randomisation that came before them in the log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.entry import Record

if TYPE_CHECKING:
    from .fold import Batch

NAME = "allocation"
KINDS = frozenset(("participant.randomised", "slot.invalidated"))  # the records it reads


def key(stratum: str, slot: int) -> str:
    return f"{stratum}/{slot:06d}"


def apply(batch: Batch, record: Record, payload: dict[str, Any] | None, leaf_index: int) -> None:
    kind = record.entry.fields["type"]
    if payload is None or kind not in KINDS:
        return
    if kind == "participant.randomised":
        slot = key(payload["stratum"], payload["slot"])
        batch.slots[slot] = leaf_index
        batch.put(NAME, slot, {
            "stratum": payload["stratum"], "slot": payload["slot"], "arm": payload["arm"],
            "participant_id": record.stream.split("/", 1)[1], "randomised_at": record.recorded_at,
            "by": record.entry.fields["author"], "record_hash": record.hash, "invalidated": None})
        return
    if not isinstance(payload.get("stratum"), str) or not isinstance(payload.get("slot"), int):
        return
    slot = key(payload["stratum"], payload["slot"])
    invalidated = {"reason": record.entry.fields["reason"], "at": record.recorded_at}
    row = batch.doc(NAME, slot)
    if row is None or batch.slots.get(slot, -1) > leaf_index:  # not randomised yet, in log order
        batch.orphans.append((slot, invalidated, leaf_index))
    else:
        batch.put(NAME, slot, {**row, "invalidated": invalidated})


def join(rows: dict[str, Any], slots: dict[str, int],
         orphans: list[tuple[str, dict[str, Any], int]]) -> None:
    """Place orphaned invalidations (in log order) on the rows randomised before them."""
    for slot, invalidated, leaf_index in sorted(orphans, key=lambda o: o[2]):
        if slot in rows and slots.get(slot, -1) < leaf_index:
            rows[slot] = {**rows[slot], "invalidated": invalidated}
