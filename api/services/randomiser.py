"""The randomiser: a system actor holding the decrypted allocation list in memory.

It answers an accepted `randomisation.requested` with two records signed by its own key, in the
same transaction as the request (so two requests never share a slot, R25): `slot.assigned` on the
`allocation` stream (which participant took which slot, no arm) and `participant.randomised` on
the participant's stream (slot and arm, masked for blinded roles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.facts import Fact, Rejection
from domain.protocol import Protocol
from domain.randomisation import AllocationList, AllocationState, SlotUse, assign, strata_of
from domain.trial import ALLOCATION_STREAM
from ledger.ledger import FollowUp

RANDOMISER = "randomiser"


@dataclass
class Randomiser:
    allocation: AllocationList
    salt: bytes
    commitment: str

    def allocate(self, allocation_history: Sequence[Fact], request: Fact,
                 protocol: Protocol) -> list[FollowUp]:
        """The next slot of the participant's stratum, in list order."""
        stratum = request.payload.get("stratum") or "all"
        if stratum not in strata_of(protocol):
            raise Rejection("randomisation.unknown_stratum", f"no stratum {stratum}",
                            field="payload.stratum")
        participant_id = request.stream.split("/", 1)[1]
        _, slot, arm = assign(self.state(allocation_history), stratum, participant_id)
        return [
            FollowUp(ALLOCATION_STREAM, "slot.assigned",
                     {"stratum": stratum, "slot": slot, "participant_id": participant_id}, RANDOMISER),
            FollowUp(request.stream, "participant.randomised",
                     {"stratum": stratum, "slot": slot, "arm": arm}, RANDOMISER),
        ]

    def state(self, history: Sequence[Fact]) -> AllocationState:
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
        return AllocationState(allocation=self.allocation,
                               used={k: tuple(v) for k, v in used.items()})
