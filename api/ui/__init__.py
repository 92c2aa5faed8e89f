"""The web audit viewer under /ui/: server-rendered HTML, read-only, no script. Same users, roles
and masking as the API; see docs/viewer.md."""

from __future__ import annotations

from fastapi import APIRouter

from api.ui import audit, auth, flow, pages, records, safety

router = APIRouter(prefix="/ui", include_in_schema=False)
for part in (auth.router, pages.router, records.router, audit.router, flow.router,
             safety.router):
    router.include_router(part)

__all__ = ["router"]
