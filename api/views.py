"""Views: their status (position, tree size, root, fingerprint), rebuild, and reads as of a cut."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from domain import participant
from domain.participant import ParticipantState
from domain.streams import evolve_participant
from ledger.errors import NotFound
from projections import audit_trail
from projections.asof import Cut, within
from projections.facts import to_fact
from projections.parallel import auto_workers
from projections.status import status
from projections.summary import trial_summary

from . import blinding
from .bootstrap import Services
from .deps import ServicesDep, UserDep
from .problems import Denied

router = APIRouter(prefix="/v1", tags=["projections"])
REBUILDERS = frozenset({"data_manager", "admin"})


@router.get("/projections")
def projections(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Each view's log position, the tree size and root of that prefix, and its fingerprint."""
    services.views.catch_up()
    return {"projections": status(services.views, services.ledger.tree)}


@router.post("/projections/rebuild")
def rebuild(user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Rebuild every view from zero (data managers, admin); answers with the new status."""
    if user.role not in REBUILDERS:
        raise Denied(403, "auth.role", f"role {user.role} may not rebuild views")
    services.views.rebuild(workers=auto_workers(services.store))
    return {"projections": status(services.views, services.ledger.tree)}


@router.get("/allocation")
def allocation(user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """The allocation table, for the roles that may see the allocation."""
    if not blinding.sees_allocation(user.role):
        raise Denied(403, "blinding.restricted", f"role {user.role} may not see the allocation table")
    services.views.catch_up()
    return {"allocation": services.views.allocation()}


@router.get("/audit")
def audit(user: UserDep, services: ServicesDep, offset: Annotated[int, Query(ge=0)] = 0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The audit trail in log order, paged, masked as the caller's role requires."""
    services.views.catch_up()
    if blinding.sees_allocation(user.role):
        rows = services.views.docs(audit_trail.NAME, offset, limit)
    else:  # skip the restricted streams without counting them, a page at a time
        rows, skipped, start = [], 0, 0
        while len(rows) < limit:
            page = services.views.docs(audit_trail.NAME, start, 1000)
            for row in page:
                if row["stream"] in blinding.RESTRICTED_STREAMS:
                    continue
                if skipped < offset:
                    skipped += 1
                elif len(rows) < limit:
                    rows.append(row)
            if len(page) < 1000:
                break
            start += 1000
    shown = [blinding.mask_history_row(services, user.role, {**row, "payload": row["new"]})
             for row in rows]
    return {"offset": offset, "limit": limit,
            "rows": [{k: v for k, v in r.items() if k != "payload"} | {"new": r["payload"]}
                     for r in shown]}


@router.get("/summary")
def summary(user: UserDep, services: ServicesDep) -> dict[str, Any]:
    services.views.catch_up()
    current = blinding.protocol(services)
    return trial_summary(services.views.participants(),
                         target=current.target_enrolment if current else None,
                         show_arms=not blinding.is_blinded(services, user.role))


@router.get("/participants/{participant_id}/scores", tags=["participants"])
def scores(participant_id: str, _: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Every score per visit, with its algorithm version and input records."""
    services.views.catch_up()
    found = services.views.scores(participant_id)
    if found is None:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    return {"participant_id": participant_id, "scores": found}


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
