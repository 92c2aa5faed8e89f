"""Views: their status (position, tree size, root, fingerprint), rebuild, and reads as of a cut."""

from __future__ import annotations

from dataclasses import replace
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.exports.audit import AuditFilter, audit_docs, masked
from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep
from api.http.exports import Filter
from api.http.paging import Limit, Offset, paged
from api.services import blinding
from api.services.as_of import cut_of, folded
from api.services.blinding import RowMask
from api.services.rebuild import rebuild_views, views_status
from api.services.sites import other_sites_rows, sees_site
from projections import allocation_table, audit_trail
from projections.summary import trial_summary

router = APIRouter(prefix="/v1", tags=["projections"])


@router.get("/projections", response_model=None, responses=returns(schemas.Projections))
def projections(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Each view's log position, the tree size and root of that prefix, and its fingerprint."""
    return {"projections": views_status(services)}


@router.post("/projections/rebuild", response_model=None, responses=returns(schemas.Projections))
def rebuild(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Rebuild every view from zero (data managers, admin); answers with the new status."""
    return {"projections": rebuild_views(services)}


AsOf = Annotated[str | None, Query(description="as the log stood then: a UTC time (…Z), a day "
                                    "(its end, UTC), position:N or checkpoint:SIZE")]


@router.get("/allocation", response_model=None, responses=returns(schemas.Allocation))
def allocation(_: UserDep, services: ServicesDep, as_of: AsOf = None, offset: Offset = 0,
               limit: Limit = 1000) -> dict[str, Any]:
    """The allocation table, for the roles that may see the allocation."""
    if as_of is not None:
        rows = list(folded(services, as_of).docs(allocation_table.NAME).values())
        return {**paged("allocation", rows, offset, limit), "as_of": as_of}
    services.views.catch_up()
    return paged("allocation", services.views.allocation(), offset, limit)


@router.get("/audit", response_model=None, responses=returns(schemas.AuditPage))
def audit(user: UserDep, services: ServicesDep, offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100, as_of: AsOf = None,
          since: Filter = None, until: Filter = None, author: Filter = None,
          participant: Filter = None, type: Filter = None, site: Filter = None) -> dict[str, Any]:
    """The audit trail in log order, paged, masked as the caller's role requires, with the audit
    export's filters (`GET /v1/export/audit`: recorded since/until, UTC text compared as text,
    author, participant, entry type, site), applied by the same code."""
    services.views.catch_up()
    cut = None if as_of is None else cut_of(services, as_of)
    wanted = AuditFilter(since, until, author, participant, type, site)
    hidden = other_sites_rows(services, user)
    masker = RowMask(services, user.role)
    if masker.sees and cut is None and not hidden and wanted.is_empty():
        rows = services.views.docs(audit_trail.NAME, offset, limit)  # a page read straight
    else:  # skip what the caller may not see, or the filters or the cut leave out
        if cut is not None and cut.time is not None:
            wanted = replace(wanted, until=min(cut.time, until or cut.time))
        kept = audit_docs(services, user.role, wanted, hidden, below=cut.size if cut else None)
        rows = list(islice(kept, offset, offset + limit))
    body: dict[str, Any] = {"offset": offset, "limit": limit,
                            "rows": [masked(masker, row) for row in rows]}
    return body if as_of is None else {**body, "as_of": as_of}


@router.get("/summary", response_model=None, responses=returns(schemas.Summary))
def summary(user: UserDep, services: ServicesDep, as_of: AsOf = None) -> dict[str, Any]:
    if as_of is not None:
        states = folded(services, as_of).participants
    else:
        services.views.catch_up()
        states = services.views.participants()
    states = {pid: s for pid, s in states.items() if sees_site(user, s.site)}
    current = blinding.protocol(services)
    return trial_summary(states, target=current.target_enrolment if current else None,
                         show_arms=not blinding.is_blinded(services, user.role))
