"""The one adapter from ledger records to domain facts (shared by replay, rules and views)."""

from __future__ import annotations

from domain.facts import Fact
from ledger.entry import Record, parse_time


def to_fact(record: Record) -> Fact:
    e = record.entry.fields
    return Fact(
        type=e["type"],
        schema=e["schema"],
        payload=record.payload() or {},
        stream=e["stream"],
        version=e["version"],
        author=e["author"],
        role=e["role"],
        site=e["site"],
        occurred_at=parse_time(e["occurred_at"]),
        recorded_at=parse_time(record.recorded_at),
        reason=e["reason"],
        record_hash=record.hash,
        redacted=record.redacted_by is not None,
        meaning=e["meaning"],
        prev=e["prev"],
    )
