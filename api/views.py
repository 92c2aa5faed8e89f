"""Views: their status (position, tree size, root, fingerprint), rebuild, and reads as of a cut."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from domain import participant
from domain.participant import ParticipantState
from domain.streams import evolve_participant
from projections.asof import Cut, within
from projections.facts import to_fact
from projections.status import participants_status

from .bootstrap import Services
from .deps import ServicesDep, UserDep
from .problems import Denied

router = APIRouter(prefix="/v1", tags=["projections"])
REBUILDERS = frozenset({"data_manager", "admin"})


@router.get("/projections")
def projections(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Each view's log position, the tree size and root of that prefix, and its fingerprint."""
    services.participants.catch_up()
    return {"projections": [participants_status(services.participants, services.ledger.tree)]}


@router.post("/projections/rebuild")
def rebuild(user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Rebuild every view from zero (data managers, admin); answers with the new status."""
    if user.role not in REBUILDERS:
        raise Denied(403, "auth.role", f"role {user.role} may not rebuild views")
    services.participants.rebuild(services.ledger.records())
    return {"projections": [participants_status(services.participants, services.ledger.tree)]}


def participant_as_of(services: Services, participant_id: str, as_of: str) -> ParticipantState | None:
    """One participant folded from its stream, keeping only the records the cut keeps."""
    cut = Cut.parse(as_of)
    if cut.size is not None:  # a checkpoint's size is a log prefix: its last leaf's position
        last = services.ledger.tree.leaf_by_index(cut.size - 1) if cut.size else None
        cut = Cut(time=cut.time, position=last.position if last else 0)
    records = services.ledger.stream(participant.STREAM_PREFIX + participant_id)
    kept = [r for r in records if (cut.time is None or r.recorded_at <= cut.time)
            and (cut.position is None or (r.position or 0) <= cut.position)]
    if not kept:
        return None
    state = participant.initial()
    for record in kept:
        state = evolve_participant(state, to_fact(record))
    return state


__all__ = ["participant_as_of", "router", "within"]
