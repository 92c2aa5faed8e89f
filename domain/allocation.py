"""The allocation stream's bookkeeping (R24, R25): the slots used so far, and the records the
randomiser adds in the same transaction as the participant's entry that calls for them.

- `fold`: the `slot.assigned` and `slot.invalidated` records, in log order, onto the decrypted
  list: an invalidated slot stays used, so it is never handed out again;
- `allocate`: an accepted `randomisation.requested` takes the next slot of its stratum, in list
  order: `slot.assigned` on `allocation` (who took which slot, no arm) and
  `participant.randomised` on the participant's stream (slot and arm);
- `follow_ups`: an accepted `randomisation.invalidated` retires the participant's slot
  (`slot.invalidated`, with the entry's reason).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import streams
from .facts import Consequence, Fact, Rejection
from .participant import ParticipantState
from .protocol import Protocol
from .randomisation import UNSTRATIFIED, AllocationList, AllocationState, SlotUse, assign, strata_of
from .trial import ALLOCATION_STREAM

RANDOMISER = "randomiser"  # the system role that writes the allocation records


def participant_of(stream: str) -> str:
    return stream.split("/", 1)[1]


def fold(allocation: AllocationList, history: Sequence[Fact]) -> AllocationState:
    """The slots used so far, per stratum, from the allocation stream's records in log order."""
    used: dict[str, list[SlotUse]] = {}
    for fact in history:
        p = fact.payload
        if fact.type == "slot.assigned":
            used.setdefault(p["stratum"], []).append(SlotUse(participant_id=p["participant_id"],
                                                             invalidated=None))
        elif fact.type == "slot.invalidated":
            uses = used[p["stratum"]]
            uses[p["slot"] - 1] = SlotUse(participant_id=p["participant_id"],
                                          invalidated=fact.reason or "invalidated")
    return AllocationState(allocation=allocation, used={k: tuple(v) for k, v in used.items()})


def allocate(state: AllocationState, request: Fact, protocol: Protocol) -> list[Consequence]:
    """The next slot of the requesting participant's stratum, in list order."""
    stratum = request.payload.get("stratum") or UNSTRATIFIED
    if stratum not in strata_of(protocol):
        raise Rejection("randomisation.unknown_stratum", f"no stratum {stratum}",
                        field="payload.stratum")
    participant_id = participant_of(request.stream)
    _, slot, arm = assign(state, stratum, participant_id)
    return [
        Consequence(ALLOCATION_STREAM, "slot.assigned",
                    {"stratum": stratum, "slot": slot, "participant_id": participant_id}, RANDOMISER),
        Consequence(request.stream, "participant.randomised",
                    {"stratum": stratum, "slot": slot, "arm": arm}, RANDOMISER),
    ]


def retire_slot(state: ParticipantState, invalidation: Fact) -> Consequence:
    """`slot.invalidated` for the slot the participant held before `invalidation`."""
    return Consequence(ALLOCATION_STREAM, "slot.invalidated", {
        "stratum": state.stratum, "slot": state.slot,
        "participant_id": participant_of(invalidation.stream)}, RANDOMISER, invalidation.reason)


def follow_ups(history: Sequence[Fact], fact: Fact) -> list[Consequence]:
    """The allocation records an accepted entry on a participant's stream calls for, besides
    the randomiser's answer to a request (which needs the list: `allocate`)."""
    if fact.type != "randomisation.invalidated":
        return []
    return [retire_slot(streams.fold(streams.kind_of(fact.stream), history), fact)]
