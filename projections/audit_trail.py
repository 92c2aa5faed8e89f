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
#: Records whose row names the value they replace (read from the participant's state).
REPLACING = frozenset(("lab.corrected", "lab.removed"))
_VALUE_FIELDS = ("value", "unit")
_SAFE_INT = 2**53 - 1
# Doubles of a lab value orjson writes as RFC 8785 does once integral ones are integers (see
# ledger.canonical): magnitudes from 1e-4 up to, not including, 2**53 - 1; NaN and
# infinities fall outside.
_DOUBLE_MIN, _DOUBLE_MAX = 1e-4, float(2**53 - 1)
_STRINGS = itemgetter("record_hash", "stream", "type", "author", "role", "site", "meaning",
                      "observed_at", "recorded_at", "client")
_STR_TYPE = {str}  # (the stored row's check in `text`)
_NUMBERS = (int, float)
_ENTRY_STRINGS = itemgetter("type", "author", "role", "site", "meaning", "occurred_at", "client",
                            "stream")
_FIELDS = 17


def key(leaf_index: int) -> str:
    """A row's key: its leaf index, zero-padded so that text order is log order (`zfill`: a
    rebuild makes one for every record, and it costs under half of `format`'s "{:012d}")."""
    return str(leaf_index).zfill(12)


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
    if kind in REPLACING:
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
    if payload is not None and record.entry.fields["type"] in REPLACING:
        state = batch.participant(participant.participant_id_of(record.stream))
        replaced = next((v for v in state.labs.values()
                         if v["record_hash"] == payload.get("supersedes")), None)
    # Kept as its text: a row is written once and never read back from the batch, and a text
    # costs less to hold (and free) than the row's dictionary.
    batch.docs[NAME][key(leaf_index)] = line(record, payload, leaf_index, replaced)


def line(record: Record, payload: dict[str, Any] | None, leaf_index: int,
         replaced: dict[str, Any] | None) -> str:
    """`canonical(row(...))` as text, made without the row's dictionary and its checks: the
    fields come straight from the entry into an object whose keys are already in RFC 8785 order.
    The entry's own fields are checked flat (strings where the format says so, safe integers);
    only the two values taken from payloads are walked. Anything unexpected (a store edited by
    hand) takes the plain way. A rebuild makes one of these for every record of the log."""
    e = record.entry.fields
    try:
        strings = _ENTRY_STRINGS(e)
        "".join(strings)  # each one a string (TypeError otherwise: the plain way)
        kind, author, role, site, meaning, observed, client, stream = strings
        version, reason, recorded = e["version"], e["reason"], record.recorded_at
        if not (type(version) is int and 0 <= version <= _SAFE_INT
                and (reason is None or type(reason) is str) and type(leaf_index) is int
                and 0 <= leaf_index <= _SAFE_INT and type(recorded) is str):
            raise NotFast
        field = new = None
        sort = 0  # the object below is in RFC 8785 order already, and so is a lab value
        if kind == "lab.resulted" and payload is not None:
            field = f"{payload['visit']}/{payload['analyte']}"
            value, unit = payload.get("value"), payload.get("unit")
            ready = type(value) is int and abs(value) <= _SAFE_INT
            if type(value) is float and _DOUBLE_MIN <= abs(value) < _DOUBLE_MAX:
                # finite, neither tiny nor past 2**53: written as JCS writes it, or an integer
                value = int(value) if value.is_integer() else value
                ready = True
            new = {"unit": unit, "value": value}
            if not ready or type(unit) is not str:
                new = jcs_ready(new)  # a double, or what only `canonical` writes as JCS does
                if type(unit) is not str or type(new["value"]) not in _NUMBERS:
                    sort = orjson.OPT_SORT_KEYS  # (an odd value: a list, an object…)
        elif kind in REPLACING and payload is not None:
            return text(row(record, payload, leaf_index, replaced)).decode()
        elif payload is not None:
            new = jcs_ready(payload)
            sort = orjson.OPT_SORT_KEYS
        return orjson.dumps({
            "author": author, "client": client, "field": field, "leaf_index": leaf_index,
            "meaning": meaning, "new": new, "observed_at": observed, "previous": None,
            "reason": reason, "record_hash": record.hash, "recorded_at": recorded,
            "redacted": record.redacted_by is not None, "role": role, "site": site,
            "stream": stream, "type": kind, "version": version,
        }, option=sort).decode()
    except (NotFast, orjson.JSONEncodeError, KeyError, TypeError):
        pass
    return canonical(row(record, payload, leaf_index, replaced)).decode()


def stored(doc: dict[str, Any] | str) -> str:
    """A row's stored text: rows folded from the log are kept as their text already."""
    return doc if isinstance(doc, str) else text(doc).decode()


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
