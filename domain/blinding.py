"""Blinding (R27) and allocation concealment (R24): who may see an arm, a slot, the list.

Which roles are blinded, and which payload fields reveal the arm, is protocol data. Fixed here:
- the entry types whose payload reveals the arm, directly or through the dose;
- the `allocation` stream, withheld whole from every role that does not see slots (even its
  length would count slots, and so predict the next assignment);
- `participant.randomised`, whose payload carries the slot: withheld from those roles too;
- what a masked value reads as ("masked") and why a payload is withheld ("blinded").

Masking holds for the whole trial: neither the list's reveal at unblinding (`allocation.revealed`)
nor an emergency unblinding of one participant (`participant.unblinded`, itself revealing) lifts
it for a blinded role; the roles that see the allocation see every arm all along.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import Protocol
from .protocol import is_blinded as blinded_by
from .trial import ALLOCATION_STREAM

MASK = "masked"  # what a field a role may not see reads as
WITHHELD = "blinded"  # why a record's payload is not shown
#: Entry types whose payload reveals the arm, directly or through the dose.
REVEALING = frozenset({"participant.randomised", "infusion.administered", "deviation.recorded",
                       "participant.unblinded",
                       "slot.assigned", "slot.invalidated", "allocation.committed",
                       "allocation.revealed"})
#: Entry types whose payload names a slot, outside the allocation stream.
SLOT_BEARING = frozenset({"participant.randomised"})
RESTRICTED_STREAMS = frozenset({ALLOCATION_STREAM})
#: Roles that may see slots and the allocation stream; every other role sees neither, so no
#: answer lets anyone predict the next assignment (allocation concealment, R24).
ALLOCATION_ROLES = frozenset({"randomiser", "unblinded_statistician", "admin", "inspector"})
#: Fields that place a participant in the list: hidden from roles that do not see the allocation.
CONCEALED = frozenset({"slot", "stratum"})
#: Free text that may name the dose (a deviation's detail): hidden from blinded roles.
NARRATIVE = frozenset({"detail"})
#: Before a protocol is adopted nothing is allocated; the usual roles are blinded all the same.
UNADOPTED_BLINDED = frozenset({"data_manager", "monitor"})
UNADOPTED_MASKED = frozenset({"arm", "slot"})


def is_blinded(protocol: Protocol | None, role: str) -> bool:
    """Whether `role` may never see an arm or a dose under `protocol` (None: none adopted yet)."""
    return role in UNADOPTED_BLINDED if protocol is None else blinded_by(protocol, role)


def masked_fields(protocol: Protocol | None) -> frozenset[str]:
    """Payload fields that reveal the arm, masked for blinded roles."""
    return UNADOPTED_MASKED if protocol is None else frozenset(protocol.masked_fields)


def sees_allocation(role: str) -> bool:
    """Whether `role` may see slots, strata and the allocation stream."""
    return role in ALLOCATION_ROLES


def shows_stream(role: str, stream: str) -> bool:
    """Whether `role` may see the records of `stream` at all."""
    return sees_allocation(role) or stream not in RESTRICTED_STREAMS


@dataclass(frozen=True)
class Sight:
    """What one role may see under one protocol: decided once, applied to many records."""

    sees_allocation: bool
    blinded: bool
    hidden: frozenset[str]  # fields masked at any depth of a payload or a participant's state

    def shows(self, stream: str) -> bool:
        """Whether the records of `stream` may be shown at all."""
        return self.sees_allocation or stream not in RESTRICTED_STREAMS

    def withholds(self, stream: str, entry_type: str) -> bool:
        """Whether a record's payload (and salt) must be withheld: it names a slot, or reveals
        the arm to a blinded role. Its signature and proofs still verify (the entry binds the
        payload by digest)."""
        if self.sees_allocation:
            return False
        return stream in RESTRICTED_STREAMS or entry_type in SLOT_BEARING or (
            self.blinded and entry_type in REVEALING)


def sight(protocol: Protocol | None, role: str) -> Sight:
    """What `role` may see under `protocol` (None: before a protocol is adopted)."""
    sees = sees_allocation(role)
    blinded = is_blinded(protocol, role)
    hidden = frozenset() if sees else CONCEALED
    if blinded:
        hidden |= masked_fields(protocol) | NARRATIVE
    return Sight(sees, blinded, hidden)
