"""Views: their status (position, tree size, root, fingerprint), rebuild, and reads as of a cut."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from domain import participant
from domain.participant import ParticipantState
from domain.streams import evolve_participant_all
from domain.visit_scores import scores_by_visit
from ledger.errors import NotFound
from projections import allocation_table, audit_trail
from projections.asof import Cut, within
from projections.facts import to_fact
from projections.parallel import auto_workers
from projections.replay import Folded, replay
from projections.status import status
from projections.summary import trial_summary

from . import blinding, schemas
from .bootstrap import Services
from .contract import returns
from .deps import ServicesDep, UserDep
from .paging import Limit, Offset, paged
from .sites import check_participant_site, other_sites_rows, sees_site

router = APIRouter(prefix="/v1", tags=["projections"])


@router.get("/projections", response_model=None, responses=returns(schemas.Projections))
def projections(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Each view's log position, the tree size and root of that prefix, and its fingerprint."""
    services.views.catch_up()
    return {"projections": status(services.views, services.ledger.tree)}


@router.post("/projections/rebuild", response_model=None, responses=returns(schemas.Projections))
def rebuild(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Rebuild every view from zero (data managers, admin); answers with the new status."""
    services.views.rebuild(workers=auto_workers(services.store))
    return {"projections": status(services.views, services.ledger.tree)}


AsOf = Annotated[str | None, Query(description="as the log stood then: a UTC time (…Z), a day "
                                    "(its end, UTC), position:N or checkpoint:SIZE")]


def _folded(services: Services, as_of: str) -> Folded:
    """Every view folded from the records the cut keeps (streamed from the log)."""
    return replay(within(services.ledger.records(), _cut(services, as_of)))


def _cut(services: Services, as_of: str) -> Cut:
    cut = Cut.parse(as_of)
    if cut.position is not None:  # a position names a log prefix: the leaves it holds
        size = services.ledger.tree.size_at_position(cut.position)
        cut = Cut(time=cut.time, size=size if cut.size is None else min(size, cut.size))
    return cut


@router.get("/allocation", response_model=None, responses=returns(schemas.Allocation))
def allocation(_: UserDep, services: ServicesDep, as_of: AsOf = None, offset: Offset = 0,
               limit: Limit = 1000) -> dict[str, Any]:
    """The allocation table, for the roles that may see the allocation."""
    if as_of is not None:
        rows = list(_folded(services, as_of).docs(allocation_table.NAME).values())
        return {**paged("allocation", rows, offset, limit), "as_of": as_of}
    services.views.catch_up()
    return paged("allocation", services.views.allocation(), offset, limit)


@router.get("/audit", response_model=None, responses=returns(schemas.AuditPage))
def audit(user: UserDep, services: ServicesDep, offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100, as_of: AsOf = None) -> dict[str, Any]:
    """The audit trail in log order, paged, masked as the caller's role requires."""
    services.views.catch_up()
    cut = None if as_of is None else _cut(services, as_of)
    sees = blinding.sees_allocation(user.role)
    hidden = other_sites_rows(services, user)

    def kept(row: dict[str, Any]) -> bool:
        if (not sees and row["stream"] in blinding.RESTRICTED_STREAMS) or row["stream"] in hidden:
            return False
        return cut is None or ((cut.time is None or row["recorded_at"] <= cut.time)
                               and (cut.size is None or row["leaf_index"] < cut.size))

    if sees and cut is None and not hidden:
        rows = services.views.docs(audit_trail.NAME, offset, limit)
    else:  # skip what the caller may not see or the cut leaves out, a page at a time
        rows, skipped, start = [], 0, 0
        while len(rows) < limit:
            page = services.views.docs(audit_trail.NAME, start, 1000)
            for row in filter(kept, page):
                if skipped < offset:
                    skipped += 1
                elif len(rows) < limit:
                    rows.append(row)
            if len(page) < 1000 or (cut is not None and cut.size is not None
                                    and page[-1]["leaf_index"] >= cut.size):
                break
            start += 1000
    shown = [blinding.mask_history_row(services, user.role, {**row, "payload": row["new"]})
             for row in rows]
    body: dict[str, Any] = {
        "offset": offset, "limit": limit,
        "rows": [{k: v for k, v in r.items() if k != "payload"} | {"new": r["payload"]} for r in shown]}
    return body if as_of is None else {**body, "as_of": as_of}


@router.get("/summary", response_model=None, responses=returns(schemas.Summary))
def summary(user: UserDep, services: ServicesDep, as_of: AsOf = None) -> dict[str, Any]:
    if as_of is not None:
        states = _folded(services, as_of).participants
    else:
        services.views.catch_up()
        states = services.views.participants()
    states = {pid: s for pid, s in states.items() if sees_site(user, s.site)}
    current = blinding.protocol(services)
    return trial_summary(states, target=current.target_enrolment if current else None,
                         show_arms=not blinding.is_blinded(services, user.role))


@router.get("/participants/{participant_id}/scores", tags=["participants"], response_model=None,
            responses=returns(schemas.Scores, 403, 404))
def scores(participant_id: str, user: UserDep, services: ServicesDep,
           as_of: AsOf = None) -> dict[str, Any]:
    """Every score per visit, with its algorithm version and input records."""
    check_participant_site(services, user, participant_id)
    if as_of is not None:
        state = participant_as_of(services, participant_id, as_of)
        found = None if state is None else scores_by_visit(state)
    else:
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
    return evolve_participant_all(participant.initial(), [to_fact(record) for record in kept])


__all__ = ["participant_as_of", "router", "within"]
