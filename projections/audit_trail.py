"""The audit trail (R2): who, role, site, what, which field, previous and new value, when observed,
when recorded, and why, for every record, in log order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ledger.entry import Record

_VALUE_FIELDS = ("value", "unit")


def audit_trail(records: Iterable[Record]) -> Iterator[dict[str, Any]]:
    """Streams rows; a correction or removal shows the value it replaced beside the new one."""
    current: dict[str, dict[str, Any]] = {}  # record hash -> payload, for what corrections replace
    for index, record in enumerate(records):
        e = record.entry.fields
        payload = record.payload()
        row: dict[str, Any] = {
            "leaf_index": index, "record_hash": record.hash, "stream": record.stream,
            "version": record.version, "type": record.type, "author": e["author"], "role": e["role"],
            "site": e["site"], "meaning": e["meaning"], "observed_at": e["occurred_at"],
            "recorded_at": record.recorded_at, "reason": e["reason"], "client": e["client"],
            "redacted": record.redacted_by is not None, "field": None, "previous": None, "new": None}
        if payload is not None and record.type in ("lab.corrected", "lab.removed"):
            before = current.get(payload["supersedes"], {})
            row["field"] = f"{before.get('visit', '?')}/{before.get('analyte', '?')}"
            row["previous"] = {k: before.get(k) for k in _VALUE_FIELDS}
            row["new"] = None if record.type == "lab.removed" else {k: payload.get(k)
                                                                     for k in _VALUE_FIELDS}
            current[record.hash] = {**before, **{k: payload.get(k) for k in _VALUE_FIELDS}}
        elif payload is not None and record.type == "lab.resulted":
            row["field"] = f"{payload['visit']}/{payload['analyte']}"
            row["new"] = {k: payload.get(k) for k in _VALUE_FIELDS}
            current[record.hash] = dict(payload)
        elif payload is not None:
            row["new"] = payload
        yield row
