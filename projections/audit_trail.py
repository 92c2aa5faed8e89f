"""The audit trail (R2): who, role, site, what, which field, previous and new value, when observed,
when recorded, and why, for every record, keyed by leaf index (log order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain import participant
from ledger.entry import Record

if TYPE_CHECKING:
    from .fold import Batch

NAME = "audit_trail"
_VALUE_FIELDS = ("value", "unit")


def key(leaf_index: int) -> str:
    return f"{leaf_index:012d}"


def row(record: Record, payload: dict[str, Any] | None, leaf_index: int,
        replaced: dict[str, Any] | None) -> dict[str, Any]:
    """One row; `replaced` is the current lab value a correction or removal supersedes."""
    e = record.entry.fields
    kind = e["type"]
    out: dict[str, Any] = {
        "leaf_index": leaf_index, "record_hash": record.hash, "stream": e["stream"],
        "version": e["version"], "type": kind, "author": e["author"], "role": e["role"],
        "site": e["site"], "meaning": e["meaning"], "observed_at": e["occurred_at"],
        "recorded_at": record.recorded_at, "reason": e["reason"], "client": e["client"],
        "redacted": record.redacted_by is not None, "field": None, "previous": None, "new": None}
    if payload is None:
        return out
    if kind in ("lab.corrected", "lab.removed"):
        before = replaced or {}
        out["field"] = f"{before.get('visit', '?')}/{before.get('analyte', '?')}"
        out["previous"] = {k: before.get(k) for k in _VALUE_FIELDS}
        out["new"] = None if kind == "lab.removed" else {k: payload.get(k) for k in _VALUE_FIELDS}
    elif kind == "lab.resulted":
        out["field"] = f"{payload['visit']}/{payload['analyte']}"
        out["new"] = {k: payload.get(k) for k in _VALUE_FIELDS}
    else:
        out["new"] = payload
    return out


def apply(batch: Batch, record: Record, payload: dict[str, Any] | None, leaf_index: int) -> None:
    replaced = None
    if payload is not None and record.entry.fields["type"] in ("lab.corrected", "lab.removed"):
        state = batch.participant(participant.participant_id_of(record.stream))
        replaced = next((v for v in state.labs.values()
                         if v["record_hash"] == payload.get("supersedes")), None)
    batch.put(NAME, key(leaf_index), row(record, payload, leaf_index, replaced))
