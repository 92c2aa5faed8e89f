"""The audit trail (R2): who, role, site, what, which field, previous and new value, when observed,
when recorded, and why, for every record, keyed by leaf index (log order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from domain import participant
from ledger.canonical import canonical
from ledger.entry import Record

if TYPE_CHECKING:
    from .fold import Batch

NAME = "audit_trail"
_VALUE_FIELDS = ("value", "unit")
_FROM_PAYLOAD = ("previous", "new")
_SAFE_INT = 2**53 - 1


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


def text(row: dict[str, Any]) -> bytes:
    """The row's RFC 8785 bytes, as `canonical(row)` gives them, without walking the whole row
    for every record: its keys are ASCII and, for a record the ledger accepted, every value but
    the two taken from payloads is a string, a boolean, null or a safe integer, which orjson
    writes as RFC 8785 does. Those two go through `canonical`; a row holding anything else
    (a store edited by hand) goes through `canonical` whole."""
    for name, value in row.items():
        kind = type(value)
        if kind is str or value is None or kind is bool or name in _FROM_PAYLOAD:
            continue
        if kind is not int or not -_SAFE_INT <= value <= _SAFE_INT:
            return canonical(row)
    return orjson.dumps({**row, "previous": _fragment(row["previous"]),
                         "new": _fragment(row["new"])}, option=orjson.OPT_SORT_KEYS)


def _fragment(value: Any) -> Any:
    return value if value is None else orjson.Fragment(canonical(value))
