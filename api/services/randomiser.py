"""The randomiser: a system actor holding the decrypted allocation list in memory.

It answers an accepted `randomisation.requested` with two records signed by its own key, in the
same transaction as the request (so two requests never share a slot, R25): `slot.assigned` on the
`allocation` stream (which participant took which slot, no arm) and `participant.randomised` on
the participant's stream (slot and arm, masked for blinded roles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.allocation import allocate, fold
from domain.facts import Fact
from domain.protocol import Protocol
from domain.randomisation import AllocationList, AllocationState
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
        return [FollowUp(c.stream, c.type, c.payload, RANDOMISER)
                for c in allocate(self.state(allocation_history), request, protocol)]

    def state(self, history: Sequence[Fact]) -> AllocationState:
        return fold(self.allocation, history)
