"""Blinding (R27): what a blinded role may not see, applied to every response that carries it.

Which roles are blinded, and which fields reveal the arm, is protocol data. Responses drop those
fields (replaced by "masked"); records whose payload reveals the arm are served without payload
and salt (their signatures and proofs still verify: the entry binds the payload by digest).
The `allocation` stream is withheld whole: even its length would count slots.
"""

from __future__ import annotations

from typing import Any

from api.services.bootstrap import Services
from domain.protocol import Protocol
from domain.trial import ALLOCATION_STREAM, PROTOCOL_STREAM, protocol_in_force
from projections.facts import to_fact

MASK = "masked"
#: Entry types whose payload reveals the arm, directly or through the dose.
REVEALING = frozenset({"participant.randomised", "infusion.administered", "deviation.recorded",
                       "participant.unblinded",
                       "slot.assigned", "slot.invalidated", "allocation.committed",
                       "allocation.revealed"})
RESTRICTED_STREAMS = frozenset({ALLOCATION_STREAM})
#: Roles that may see slots and the allocation stream; every other role sees neither, so no
#: response lets anyone predict the next assignment (allocation concealment, R24).
ALLOCATION_ROLES = frozenset({"randomiser", "unblinded_statistician", "admin", "inspector"})
CONCEALED = frozenset({"slot", "stratum"})
_FALLBACK_BLINDED = frozenset({"data_manager", "monitor"})


def protocol(services: Services) -> Protocol | None:
    return protocol_in_force([to_fact(r) for r in services.ledger.stream(PROTOCOL_STREAM)])


def is_blinded(services: Services, role: str) -> bool:
    current = protocol(services)
    # Before a protocol is adopted nothing is allocated; blind the usual roles all the same.
    return role in (current.blinded_roles if current else _FALLBACK_BLINDED)


def masked_fields(services: Services) -> frozenset[str]:
    current = protocol(services)
    return frozenset(current.masked_fields) if current else frozenset({"arm", "slot"})


def mask(value: Any, fields: frozenset[str]) -> Any:
    """A copy of `value` with every masked field (at any depth) replaced by "masked"."""
    if isinstance(value, dict):
        return {k: MASK if k in fields and v is not None else mask(v, fields) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v, fields) for v in value]
    return value


def sees_allocation(role: str) -> bool:
    return role in ALLOCATION_ROLES


def participant_mask(services: Services, role: str) -> frozenset[str]:
    """The fields of a participant's state that `role` may not see."""
    fields: frozenset[str] = frozenset() if sees_allocation(role) else CONCEALED
    if is_blinded(services, role):
        fields |= masked_fields(services) | {"detail"}  # a deviation's text names the dose
    return fields


def mask_participant(services: Services, role: str, state: dict[str, Any]) -> dict[str, Any]:
    """A participant's state as `role` may see it."""
    fields = participant_mask(services, role)
    return dict(mask(state, fields)) if fields else state


def mask_receipt(role: str, receipt: dict[str, Any]) -> dict[str, Any]:
    """A receipt as `role` may see it: follow-ups on restricted streams are left out."""
    if sees_allocation(role):
        return receipt
    return {**receipt, "follow_ups": [f for f in receipt.get("follow_ups", [])
                                      if f["stream"] not in RESTRICTED_STREAMS]}


def mask_record(services: Services, role: str, view: dict[str, Any]) -> dict[str, Any]:
    """A record as `role` may see it: a payload that reveals the arm or a slot is withheld."""
    if sees_allocation(role):
        return view
    if view["stream"] in RESTRICTED_STREAMS or view["type"] == "participant.randomised" or (
            is_blinded(services, role) and view["type"] in REVEALING):
        return {**view, "payload": None, "salt": None, "withheld": "blinded"}
    return view


def mask_history_row(services: Services, role: str, row: dict[str, Any]) -> dict[str, Any]:
    """One history row as `role` may see it (payload withheld or fields masked)."""
    return RowMask(services, role)(row)


class RowMask:
    """`mask_history_row` with the protocol read once, for the many rows of an export."""

    def __init__(self, services: Services, role: str) -> None:
        self.sees = sees_allocation(role)
        self.blinded = is_blinded(services, role)
        fields: frozenset[str] = frozenset() if self.sees else CONCEALED
        self.fields = fields | (masked_fields(services) | {"detail"} if self.blinded else frozenset())

    def visible(self, row: dict[str, Any]) -> bool:
        """Whether the row may be shown at all (the allocation stream is withheld whole)."""
        return self.sees or row["stream"] not in RESTRICTED_STREAMS

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.sees:
            return row
        if row["stream"] in RESTRICTED_STREAMS or row["type"] == "participant.randomised" or (
                self.blinded and row["type"] in REVEALING):
            return {**row, "payload": None, "salt": None, "withheld": "blinded"}
        return {**row, "payload": mask(row["payload"], self.fields)} if self.fields else row
