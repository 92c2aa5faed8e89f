"""The server's clock as records (R10, R11): when the clock reads earlier than the latest record,
the ledger keeps time from that record (recorded_at never decreases) and the step back is itself
recorded, by the system, on stream `clock`, in the same transaction as the entry that met it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from .facts import Consequence, Fact
from .participant import Payload

STREAM = "clock"
_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$"


class ClockSteppedBack(Payload):
    """`clock.stepped_back`, schema 1 (system): what the clock read, and the time kept instead."""

    clock_read: Annotated[str, Field(pattern=_TIME)]
    kept: Annotated[str, Field(pattern=_TIME)]
    behind_ms: Annotated[int, Field(ge=0)]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("clock.stepped_back", 1): ClockSteppedBack}
ROLES = {"clock.stepped_back": frozenset({"system"})}


def stepped_back(clock_read: str, kept: str) -> dict[str, Any]:
    """The payload recording a step back of the clock."""
    behind = datetime.fromisoformat(kept.replace("Z", "+00:00")) - \
        datetime.fromisoformat(clock_read.replace("Z", "+00:00"))
    return {"clock_read": clock_read, "kept": kept, "behind_ms": int(behind.total_seconds() * 1000)}


def decide(state: Any, fact: Fact, now: datetime, protocol: object) -> list[Consequence]:
    return []
