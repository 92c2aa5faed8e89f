"""Paged lists: the log in leaf order and the participants, masked as the caller's role requires."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep
from api.http.transparency import record_view
from api.services import blinding
from api.services.sites import other_sites_rows, sees_site
from ledger.entry import Record

router = APIRouter(prefix="/v1")
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many (1–1000)")]


@router.get("/log", tags=["transparency"], response_model=None, responses=returns(schemas.LogPage))
def log(user: UserDep, services: ServicesDep,
        start: Annotated[int, Query(ge=0, le=2**53, description="first leaf index")] = 0,
        limit: Limit = 100) -> dict[str, Any]:
    """Records in leaf order from `start`, each with its sealed bytes (so a client can check its
    signature and leaf hash). Payloads that reveal the arm are withheld from blinded roles, and the
    allocation stream from every role that may not see it; `next` is the following page's start."""
    leaves = services.ledger.tree.leaves(start, limit)
    rows = services.store.log_rows(leaves[0].position, len(leaves)) if leaves else []
    by_position = {row.position: row for row in rows}
    hidden = other_sites_rows(services, user)
    records = []
    for leaf in leaves:
        row = by_position[leaf.position]
        if row.stream in blinding.RESTRICTED_STREAMS and not blinding.sees_allocation(user.role):
            records.append({"leaf_index": leaf.leaf_index, "withheld": "restricted stream"})
            continue
        if row.stream in hidden:
            records.append({"leaf_index": leaf.leaf_index, "withheld": "another site" if row.stream
                            .startswith("participant/") else "not shown to site staff"})
            continue
        view = record_view(Record.from_stored(row.state, row.position), leaf.leaf_index)
        records.append(blinding.mask_record(services, user.role, view))
    more = len(leaves) == limit
    return {"start": start, "limit": limit, "records": records,
            "next": start + len(leaves) if more else None}


@router.get("/participants", tags=["participants"], response_model=None,
            responses=returns(schemas.Participants))
def participants(user: UserDep, services: ServicesDep,
                 offset: Annotated[int, Query(ge=0, le=2**53)] = 0, limit: Limit = 100) -> dict[str, Any]:
    """One line per participant, by id: site, consent, stage, eligibility, arm (as the role may
    see it), visits done, infusions, open queries, locks and sign-offs."""
    services.views.catch_up()
    states = [(pid, s) for pid, s in services.views.participants().items()
              if sees_site(user, s.site)]
    hidden = blinding.participant_mask(services, user.role)
    lines = []
    for pid, s in states[offset:offset + limit]:
        line = {"participant_id": pid, "site": s.site, "status": s.status, "stage": s.stage,
                "eligible": s.eligible, "arm": s.arm, "slot": s.slot, "visits": len(s.visits),
                "infusions": len(s.infusions),
                "open_queries": sum(1 for q in s.queries.values() if q["status"] != "closed"),
                "locks": len(s.locks), "signoffs": len(s.signoffs)}
        lines.append(blinding.mask(line, hidden))
    return {"offset": offset, "limit": limit, "total": len(states), "participants": lines,
            "next": offset + limit if offset + limit < len(states) else None}
