"""The one adapter from ledger records to domain facts (shared by replay, rules and views)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.facts import Fact
from ledger.entry import Record

_fromiso = datetime.fromisoformat  # Python 3.11 reads the trailing Z


def to_fact(record: Record, payload: Mapping[str, Any] | None = None) -> Fact:
    """`payload`, when the caller parsed it already, saves parsing it twice."""
    e = record.entry.fields
    # Filled in directly, as Fact(...) would: a frozen dataclass's __init__ sets each of its
    # fifteen fields through object.__setattr__, a cost every record of a rebuild pays.
    fact = object.__new__(Fact)
    fact.__dict__.update(
        type=e["type"],
        schema=e["schema"],
        payload=(payload if payload is not None else record.payload()) or {},
        stream=e["stream"],
        version=e["version"],
        author=e["author"],
        role=e["role"],
        site=e["site"],
        occurred_at=_fromiso(e["occurred_at"]),
        recorded_at=_fromiso(record.recorded_at),
        reason=e["reason"],
        record_hash=record.hash,
        redacted=record.redacted_by is not None,
        meaning=e["meaning"],
        prev=e["prev"],
    )
    return fact
