"""What the domain sees of a record or a candidate entry: plain data, no ledger types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Fact:
    """One entry of a stream, as the trial's rules read it."""

    type: str
    schema: int
    payload: Mapping[str, Any]
    stream: str
    version: int
    author: str
    role: str
    site: str
    occurred_at: datetime
    recorded_at: datetime
    reason: str | None = None
    record_hash: str | None = None
    redacted: bool = False  # the payload was removed by a justified redaction; only metadata remains
    meaning: str = "authorship"  # the Part 11 meaning the author signed with
    prev: str | None = None  # hash of the record this entry follows (what a signature binds)

    @cached_property
    def recorded_text(self) -> str:
        """`recorded_at` as the trial's documents write it: `datetime.isoformat()`. A reader
        that holds the ledger's own text of the time may fill it in (it is asked once a fact)."""
        return self.recorded_at.isoformat()


class Rejection(Exception):
    """A trial rule refuses an entry; `rule` is a stable id, `field` points at the culprit."""

    def __init__(self, rule: str, message: str, *, field: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.field = field
        self.errors = errors or []


@dataclass(frozen=True)
class Consequence:
    """A record a rule requires after an accepted fact, written by a system actor (by role)."""

    stream: str
    type: str
    payload: Mapping[str, Any]
    actor: str
    reason: str | None = None
