"""The audit trail (R2): who, role, site, what, which field, previous and new value, when observed,
when recorded, and why, for every record, keyed by leaf index (log order)."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from domain import participant
from ledger.canonical import NotFast, canonical, jcs_ready
from ledger.entry import Record

if TYPE_CHECKING:
    from .fold import Batch

NAME = "audit_trail"
_VALUE_FIELDS = ("value", "unit")
_SAFE_INT = 2**53 - 1
_STRINGS = itemgetter("record_hash", "stream", "type", "author", "role", "site", "meaning",
                      "observed_at", "recorded_at", "client")
_STR_TYPE = {str}
_FIELDS = 17


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
    """The row's RFC 8785 bytes, as `canonical(row)` gives them, with the safety walk only over
    the two values taken from payloads: the other fields are strings, null, booleans and safe
    integers, as the entry format fixes them, which orjson writes as RFC 8785 does. Their types
    are checked flat; a row holding anything else (a store edited by hand) goes to `canonical`."""
    version, reason, field = row["version"], row["reason"], row["field"]
    if (len(row) == _FIELDS and set(map(type, _STRINGS(row))) == _STR_TYPE
            and type(version) is int and -_SAFE_INT <= version <= _SAFE_INT
            and type(row["leaf_index"]) is int and 0 <= row["leaf_index"] <= _SAFE_INT
            and (reason is None or type(reason) is str) and (field is None or type(field) is str)
            and type(row["redacted"]) is bool):
        try:
            return orjson.dumps({**row, "previous": jcs_ready(row["previous"]),
                                 "new": jcs_ready(row["new"])}, option=orjson.OPT_SORT_KEYS)
        except (NotFast, orjson.JSONEncodeError):
            pass
    return canonical(row)
