"""`GET /v1/users/history`: the user-rights history (R20), paged JSON or whole CSV; the rows are
api/services/user_rights.py's, the same the CLI prints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.http import schemas
from api.http.deps import ServicesDep, UserDep
from api.http.paging import Limit, Offset, paged
from api.services.user_rights import COLUMNS, rights_history, to_csv

router = APIRouter(prefix="/v1", tags=["users"])


@router.get("/users/history", response_model=None, responses={200: {
    "model": schemas.RightsHistory, "description": "JSON (paged), or CSV with format=csv (whole)",
    "content": {"text/csv": {"schema": {"type": "string"}}}}})
def history(_: UserDep, services: ServicesDep,
            format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
            offset: Offset = 0, limit: Limit = 1000) -> dict[str, Any] | PlainTextResponse:
    """The user-rights history, as JSON (paged) or as CSV for a spreadsheet (whole)."""
    rows = rights_history(services)
    if format == "json":
        return {"columns": list(COLUMNS), **paged("rows", rows, offset, limit)}
    return PlainTextResponse(to_csv(rows), media_type="text/csv",
                             headers={"Content-Disposition": "attachment; filename=user-rights.csv"})

