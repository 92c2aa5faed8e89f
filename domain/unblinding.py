"""Undoing an allocation, and emergency unblinding of one participant (R25, R28).

- `randomisation.invalidated` (investigator, reason required): the allocation was an error; the
  randomiser retires the slot (`slot.invalidated`, never reused) and the participant may be
  randomised again, into the next slot. Not after an infusion.
- `unblinding.requested` (investigator, reason required, meaning `responsibility`, signed within
  minutes of the request: a fresh signature is the re-authentication): reveals exactly this
  participant's arm, in a `participant.unblinded` record by the randomiser; every request is in the
  unblinding report with who, when, why and who was informed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, Field

from .facts import Consequence, Fact, Rejection
from .participant import ParticipantState, Payload

FRESH = timedelta(minutes=10)


class RandomisationInvalidated(Payload):
    """`randomisation.invalidated`, schema 1: the reason is the entry's own `reason`."""

    slot_error: Annotated[str, Field(min_length=1, max_length=200,
                                     description="what went wrong (e.g. wrong participant)")]


class UnblindingRequested(Payload):
    """`unblinding.requested`, schema 1."""

    informed: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1)]
    emergency: bool = True


class ParticipantUnblinded(Payload):
    """`participant.unblinded`, schema 1 (the randomiser): the one arm revealed."""

    arm: str
    request: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("randomisation.invalidated", 1): RandomisationInvalidated,
    ("unblinding.requested", 1): UnblindingRequested,
    ("participant.unblinded", 1): ParticipantUnblinded,
}


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    if fact.redacted:
        return state
    if fact.type == "randomisation.invalidated":
        return state.model_copy(update={"stage": "eligible", "stratum": None, "slot": None, "arm": None})
    if fact.type == "unblinding.requested":
        return state.model_copy(update={"unblindings": (*state.unblindings, {
            "by": fact.author, "at": fact.recorded_text, "reason": fact.reason,
            "informed": list(fact.payload["informed"]), "record_hash": fact.record_hash})})
    return state


def decide(state: ParticipantState, fact: Fact, now: datetime) -> list[Consequence]:
    if fact.type == "participant.unblinded":
        return []
    if fact.reason is None:
        raise Rejection("unblinding.reason_required" if fact.type == "unblinding.requested"
                        else "randomisation.reason_required", f"{fact.type} needs a reason",
                        field="entry.reason")
    if fact.type == "randomisation.invalidated":
        if state.stage != "randomised":
            raise Rejection("randomisation.not_invalidatable", "only a randomisation not yet "
                            f"followed by an infusion can be invalidated (stage: {state.stage})",
                            field="entry.type")
        return []
    if state.arm is None:
        raise Rejection("unblinding.not_randomised", "the participant has no arm to reveal",
                        field="entry.type")
    if not now - FRESH <= fact.occurred_at <= now + timedelta(minutes=1):
        raise Rejection("unblinding.stale_signature", "an unblinding request must be signed at the "
                        "moment it is made (a fresh signature re-authenticates)", field="entry.occurred_at")
    return [Consequence(fact.stream, "participant.unblinded",
                        {"arm": state.arm, "request": fact.record_hash or ""}, actor="randomiser")]
