"""A piece of the participant's stream that lives in its own module: its entry types, who may
author them, how they fold into the state and the rules that decide them.

`domain/streams.py` joins the parts into the participant's stream, so a new kind of record
(medications, deviations, disposition) is one module and one line there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from .facts import Consequence, Fact
from .participant import ParticipantState
from .protocol import Protocol

Decider = Callable[[ParticipantState, Fact, datetime, Protocol | None], list[Consequence]]

def _unchanged(state: ParticipantState, fact: Fact) -> ParticipantState:
    return state

def _no_check(state: ParticipantState, fact: Fact, now: datetime,
              protocol: Protocol | None) -> list[Consequence]:
    return []

@dataclass(frozen=True)
class Part:
    schemas: Mapping[tuple[str, int], type[BaseModel]]
    roles: Mapping[str, frozenset[str]]  # entry type -> roles that may author it
    evolve: Callable[[ParticipantState, Fact], ParticipantState] = _unchanged
    # The rules for the part's own types (raise Rejection; return the records that must follow).
    decide: Decider = _no_check
    # Rules this part adds to other parts' types (e.g. a baseline complete before the
    # infusion): asked for every participant entry after its own part accepted it.
    check: Decider = _no_check
    # Its types that may still be recorded once the participant has left the trial.
    after_exit: frozenset[str] = field(default_factory=frozenset)

    def owns(self, fact: Fact) -> bool:
        return (fact.type, fact.schema) in self.schemas
