"""Exports as records (R8, R35): every export of trial data names who took what, in which
format, with which filters, before a byte of it leaves. Stream `exports`, written by the system."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from .facts import Consequence, Fact
from .participant import Payload

STREAM = "exports"


class ExportMade(Payload):
    """`export.made`, schema 1 (system): who exported what, how, filtered how."""

    what: Annotated[str, Field(min_length=1, max_length=64)]
    format: Annotated[str, Field(min_length=1, max_length=16)]
    by: Annotated[str, Field(min_length=1, max_length=64)]
    role: Annotated[str, Field(min_length=1, max_length=32)]
    filters: dict[str, str | None]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("export.made", 1): ExportMade}
ROLES = {"export.made": frozenset({"system"})}


def decide(state: Any, fact: Fact, now: datetime, protocol: object) -> list[Consequence]:
    return []
