"""Settings as records (R6): no setting disables or changes auditing. A setting the ledger does
not know (say `TRIAL_LEDGER_AUDIT=off`) is refused when the server starts, and the attempt is
recorded by the system on stream `settings`: which name, what value, by which account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from .facts import Consequence, Fact
from .participant import Payload

STREAM = "settings"


class SettingRefused(Payload):
    """`setting.refused`, schema 1 (system)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    value: Annotated[str, Field(max_length=200)]
    by: Annotated[str, Field(min_length=1, max_length=100)]
    rule: Annotated[str, Field(min_length=1, max_length=200)]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("setting.refused", 1): SettingRefused}
ROLES = {"setting.refused": frozenset({"system"})}


def decide(state: Any, fact: Fact, now: datetime, protocol: object) -> list[Consequence]:
    return []
