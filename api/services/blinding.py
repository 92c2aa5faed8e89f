"""Blinding (R27) applied to every response that carries it; the policy is domain/blinding.py.

Responses replace the fields a role may not see with "masked"; records whose payload reveals the
arm or a slot are served without payload and salt (their signatures and proofs still verify: the
entry binds the payload by digest). The `allocation` stream is withheld whole.
"""

from __future__ import annotations

from typing import Any

from api.services.bootstrap import Services
from domain import blinding as policy
from domain.blinding import MASK
from domain.blinding import RESTRICTED_STREAMS as RESTRICTED_STREAMS  # the routes read them here
from domain.blinding import sees_allocation as sees_allocation
from domain.protocol import Protocol
from domain.trial import PROTOCOL_STREAM, protocol_in_force
from projections.facts import to_fact


def protocol(services: Services) -> Protocol | None:
    return protocol_in_force([to_fact(r) for r in services.ledger.stream(PROTOCOL_STREAM)])


def is_blinded(services: Services, role: str) -> bool:
    return policy.is_blinded(protocol(services), role)


def masked_fields(services: Services) -> frozenset[str]:
    return policy.masked_fields(protocol(services))


def mask(value: Any, fields: frozenset[str]) -> Any:
    """A copy of `value` with every masked field (at any depth) replaced by "masked"."""
    if isinstance(value, dict):
        return {k: MASK if k in fields and v is not None else mask(v, fields) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v, fields) for v in value]
    return value


def participant_mask(services: Services, role: str) -> frozenset[str]:
    """The fields of a participant's state that `role` may not see."""
    return policy.sight(protocol(services), role).hidden


def mask_participant(services: Services, role: str, state: dict[str, Any]) -> dict[str, Any]:
    """A participant's state as `role` may see it."""
    fields = participant_mask(services, role)
    return dict(mask(state, fields)) if fields else state


def mask_receipt(role: str, receipt: dict[str, Any]) -> dict[str, Any]:
    """A receipt as `role` may see it: follow-ups on restricted streams are left out."""
    if sees_allocation(role):
        return receipt
    return {**receipt, "follow_ups": [f for f in receipt.get("follow_ups", [])
                                      if policy.shows_stream(role, f["stream"])]}


def _withheld(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "payload": None, "salt": None, "withheld": policy.WITHHELD}


def mask_record(services: Services, role: str, view: dict[str, Any]) -> dict[str, Any]:
    """A record as `role` may see it: a payload that reveals the arm or a slot is withheld."""
    if sees_allocation(role):
        return view
    sight = policy.sight(protocol(services), role)
    return _withheld(view) if sight.withholds(view["stream"], view["type"]) else view


def mask_history_row(services: Services, role: str, row: dict[str, Any]) -> dict[str, Any]:
    """One history row as `role` may see it (payload withheld or fields masked)."""
    return RowMask(services, role)(row)


class RowMask:
    """`mask_history_row` with the protocol read once, for the many rows of an export."""

    def __init__(self, services: Services, role: str) -> None:
        self.sight = policy.sight(protocol(services), role)
        self.sees = self.sight.sees_allocation
        self.blinded = self.sight.blinded
        self.fields = self.sight.hidden

    def visible(self, row: dict[str, Any]) -> bool:
        """Whether the row may be shown at all (the allocation stream is withheld whole)."""
        return self.sight.shows(row["stream"])

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.sees:
            return row
        if self.sight.withholds(row["stream"], row["type"]):
            return _withheld(row)
        return {**row, "payload": mask(row["payload"], self.fields)} if self.fields else row
