"""Views: their status (position, tree size, root, fingerprint), rebuild, and reads as of a cut."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.exports.audit import AuditFilter
from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep
from api.http.exports import Filter
from api.http.paging import Limit, Offset, paged
from api.services import views
from api.services.rebuild import rebuild_views, views_status

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
    body = paged("allocation", views.allocation_rows(services, as_of), offset, limit)
    return body if as_of is None else {**body, "as_of": as_of}


@router.get("/audit", response_model=None, responses=returns(schemas.AuditPage))
def audit(user: UserDep, services: ServicesDep, offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100, as_of: AsOf = None,
          since: Filter = None, until: Filter = None, author: Filter = None,
          participant: Filter = None, type: Filter = None, site: Filter = None) -> dict[str, Any]:
    """The audit trail in log order, paged, masked as the caller's role requires, with the audit
    export's filters (`GET /v1/export/audit`: recorded since/until, UTC text compared as text,
    author, participant, entry type, site), applied by the same code."""
    wanted = AuditFilter(since, until, author, participant, type, site)
    rows = views.audit_page(services, user, wanted, offset=offset, limit=limit, as_of=as_of)
    body: dict[str, Any] = {"offset": offset, "limit": limit, "rows": rows}
    return body if as_of is None else {**body, "as_of": as_of}


@router.get("/summary", response_model=None, responses=returns(schemas.Summary))
def summary(user: UserDep, services: ServicesDep, as_of: AsOf = None) -> dict[str, Any]:
    return views.summary(services, user, as_of)
