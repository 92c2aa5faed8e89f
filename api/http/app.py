"""The HTTP API (v1): the app factory. Each resource's routes live in their own module; a route
parses the request, calls a service and maps its answer; errors become problem+json."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from api.http import contract, problems
from api.http.contract import no_unknown_query
from api.http.deps import views_current
from api.http.docs import router as docs
from api.http.entries import router as entries
from api.http.entry_types import router as entry_types
from api.http.etags import ETagMiddleware
from api.http.exports import router as exports
from api.http.flow import router as flow
from api.http.health import router as health
from api.http.limits import BodyLimit
from api.http.listing import router as listing
from api.http.participants import router as participants
from api.http.safety import router as safety
from api.http.sessions import router as sessions
from api.http.tiles import router as tiles
from api.http.transparency import router as transparency
from api.http.user_rights import router as user_rights
from api.http.views import router as views
from api.http.witnessing import router as witnessing
from api.services import roles
from api.services.bootstrap import Services
from api.ui import router as ui


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="trial-ledger", version="1",
                  description="Signed, append-only, replayable audit ledger for a clinical trial.",
                  docs_url=None, redoc_url=None,  # served from the package: api/http/docs.py
                  dependencies=[Depends(no_unknown_query), Depends(views_current)])
    app.state.services = services
    problems.install(app)
    contract.install(app)
    app.include_router(health)
    app.include_router(entries)
    app.include_router(participants)
    app.include_router(transparency)
    app.include_router(tiles)
    app.include_router(witnessing)
    app.include_router(views)
    app.include_router(flow)
    app.include_router(safety)
    app.include_router(listing)
    app.include_router(sessions)
    app.include_router(user_rights)
    app.include_router(entry_types)
    app.include_router(exports)
    app.include_router(ui)
    app.include_router(docs)
    roles.check_complete(app)
    app.add_middleware(ETagMiddleware)
    app.add_middleware(BodyLimit)
    return app
