"""The one adapter from ledger records to domain facts (shared by replay, rules and views)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.facts import Fact
from ledger.entry import Record

_fromiso = datetime.fromisoformat  # Python 3.11 reads the trailing Z


def _isoformat(text: str) -> str | None:
    """`datetime.fromisoformat(text).isoformat()` for a time in the ledger's own form, by
    rewriting its suffix (isoformat drops a zero fraction: those are left to it). Called on
    text that `fromisoformat` has read already: then its separators in their places make it
    the ledger's form, a cheaper test than the whole pattern: CPython's `fromisoformat` (C,
    the interpreter this project runs on) reads only ASCII digits between them. A pure-Python
    `datetime` would read more ('2_26'), so another interpreter needs the whole pattern."""
    # The separators sit every third character from the fifth: one slice checks them all.
    if len(text) == 27 and text[4:20:3] == "--T::." and text[26] == "Z" and text[20:26] != "000000":
        return text[:26] + "+00:00"
    return None


def to_fact(record: Record, payload: Mapping[str, Any] | None = None) -> Fact:
    """`payload`, when the caller parsed it already, saves parsing it twice."""
    e = record.entry.fields
    recorded = record.recorded_at
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
        recorded_at=_fromiso(recorded),
        reason=e["reason"],
        record_hash=record.hash,
        redacted=record.redacted_by is not None,
        meaning=e["meaning"],
        prev=e["prev"],
    )
    text = _isoformat(recorded)
    if text is not None:  # Fact.recorded_text, which the domain asks for once a fact
        fact.__dict__["recorded_text"] = text
    return fact
