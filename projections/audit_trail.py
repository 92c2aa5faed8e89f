"""The audit trail (R2): who, role, site, what, which field, previous and new value, when observed,
when recorded, and why, for every record, keyed by leaf index (log order).

The view keeps, per record, what folding the log decides: which field the record changed, the
previous and the new value, and the hash of the record that changed it (a `change`). Who, role,
site, what, when and why are the record's own signed fields: a row is shown (`shown`) with them
read from the record itself, which the stored hash must match, never from a copy of them. So the
fingerprint covers every field shown (the record hash commits to the signed ones), and a rebuild
writes a short document per record instead of a second copy of the log."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from domain import participant
from ledger.canonical import NotFast, canonical, jcs_number, jcs_ready
from ledger.entry import Record
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from .fold import Batch

NAME = "audit_trail"
#: Records whose row names the value they replace (read from the participant's state).
REPLACING = frozenset(("lab.corrected", "lab.removed"))
_VALUE_FIELDS = ("value", "unit")
_SIGNED = itemgetter("author", "client", "meaning", "occurred_at", "reason", "role", "site",
                     "stream", "type", "version")


class ViewMismatch(LedgerError):
    """A stored view row does not match the log it claims to come from (rebuild the views)."""

    rule = "views.mismatch"


def key(leaf_index: int) -> str:
    """A row's key: its leaf index, zero-padded so that text order is log order (`zfill`: a
    rebuild makes one for every record, and it costs under half of `format`'s "{:012d}")."""
    return str(leaf_index).zfill(12)


def change(record: Record, payload: dict[str, Any] | None,
           replaced: dict[str, Any] | None) -> dict[str, Any]:
    """What the record changed, as the view keeps it; `replaced` is the current lab value a
    correction or removal supersedes."""
    kind = record.entry.fields["type"]
    out: dict[str, Any] = {"field": None, "new": None, "previous": None,
                           "record_hash": record.hash}
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


def full(record: Record, leaf_index: int, changed: dict[str, Any]) -> dict[str, Any]:
    """The row as R2 shows it (keys in RFC 8785 order): the record's signed fields beside what
    it changed."""
    (author, client, meaning, observed, reason, role, site, stream, kind,
     version) = _SIGNED(record.entry.fields)
    return {
        "author": author, "client": client, "field": changed["field"], "leaf_index": leaf_index,
        "meaning": meaning, "new": changed["new"], "observed_at": observed,
        "previous": changed["previous"], "reason": reason, "record_hash": record.hash,
        "recorded_at": record.recorded_at, "redacted": record.redacted_by is not None,
        "role": role, "site": site, "stream": stream, "type": kind, "version": version}


def shown(record: Record, leaf_index: int, stored: str) -> dict[str, Any]:
    """The row for the stored document `stored` of leaf `leaf_index`, whose record is `record`."""
    try:
        changed = orjson.loads(stored)
        if changed["record_hash"] != record.hash:
            raise ViewMismatch(f"audit trail row {leaf_index} names record "
                               f"{str(changed['record_hash'])[:16]}…, but leaf {leaf_index} is "
                               f"{record.hash[:16]}…: rebuild the views", field="audit_trail")
        return full(record, leaf_index, changed)
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ViewMismatch(f"audit trail row {leaf_index} does not read: {exc}",
                           field="audit_trail") from exc


def apply(batch: Batch, record: Record, payload: dict[str, Any] | None, leaf_index: int) -> None:
    replaced = None
    if payload is not None and record.entry.fields["type"] in REPLACING:
        state = batch.participant(participant.participant_id_of(record.stream))
        replaced = next((v for v in state.labs.values()
                         if v["record_hash"] == payload.get("supersedes")), None)
    # Kept as its text: a row is written once and never read back from the batch, and a text
    # costs less to hold (and free) than the row's dictionary.
    batch.docs[NAME][key(leaf_index)] = line(record, payload, replaced)


def line(record: Record, payload: dict[str, Any] | None,
         replaced: dict[str, Any] | None) -> str:
    """`canonical(change(...))` as text, made without the safety walk where the document is
    known to be RFC 8785 already as orjson writes it: a lab result's number (by ledger.canonical's
    number rules, `jcs_number`) and text unit, the object's keys in RFC 8785 order. Anything
    else takes the plain way. A rebuild makes one of these for every record of the log."""
    kind = record.entry.fields["type"]
    if payload is not None and kind in REPLACING:  # the value replaced: a few records in a log
        return canonical(change(record, payload, replaced)).decode()
    try:
        field = new = None
        sort = 0  # the object below is in RFC 8785 order already, and so is a lab value
        if payload is None:
            pass
        elif kind == "lab.resulted":
            field = f"{payload['visit']}/{payload['analyte']}"
            value, unit = payload.get("value"), payload.get("unit")
            if type(unit) is str and (type(value) is float or type(value) is int):
                new = {"unit": unit, "value": jcs_number(value)}  # NotFast: the plain way
            else:  # an odd value or unit (a list, an object…), its keys sorted
                new = jcs_ready({"unit": unit, "value": value})
                sort = orjson.OPT_SORT_KEYS
        else:
            new = jcs_ready(payload)
            sort = orjson.OPT_SORT_KEYS
        return orjson.dumps({"field": field, "new": new, "previous": None,
                             "record_hash": record.hash}, option=sort).decode()
    except (NotFast, orjson.JSONEncodeError, KeyError, TypeError):
        pass
    return canonical(change(record, payload, replaced)).decode()


def stored(doc: dict[str, Any] | str) -> str:
    """A row's stored text: rows folded from the log are kept as their text already."""
    return doc if isinstance(doc, str) else canonical(doc).decode()
