"""Request dependencies: the wired services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.problems import Denied
from api.services import roles
from api.services.bootstrap import Services
from api.services.tokens import User


async def services_of(request: Request) -> Services:
    # async (as current_user): a sync dependency costs every request a hop to a worker thread
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]
# Declares the bearer scheme in the OpenAPI document (the Authorize button of /docs); no
# auto_error, so a missing token is answered below as 401 problem+json like every other refusal.
bearer = HTTPBearer(auto_error=False, description="an API token: a session's from "
                    "`POST /v1/sessions`, or a standing one from `trial-ledger users add`")


async def current_user(request: Request, services: ServicesDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                       ) -> User:
    """The caller, authenticated by token and allowed by the role matrix for this route.

    Runs on the event loop: the token lookup is one indexed read of a small table, cheaper
    than handing every request to a worker thread and back."""
    if credentials is None:
        raise Denied(401, "auth.missing_token", "send Authorization: Bearer <token>")
    user = services.tokens.lookup(credentials.credentials.strip())
    if user is None:
        raise Denied(401, "auth.invalid_token", "the token is unknown or revoked")
    route = request.scope.get("route")
    permitted = roles.MATRIX.get((request.method, getattr(route, "path", "")), frozenset())
    if permitted is not None and user.role not in permitted:
        raise Denied(403, "auth.role", f"role {user.role} may not {request.method} "
                     f"{getattr(route, 'path', request.url.path)}")
    return user


UserDep = Annotated[User, Depends(current_user)]


#: GET routes that read the log, not the views (health, stream heads, records, proofs, tiles,
#: the docs): they neither wait for the runner nor fail when it is stuck. Where a site-bound
#: caller's visibility check reads the views, the service waits itself (`Views.catch_up`).
NO_VIEWS = ("/v1/health", "/v1/streams/", "/v1/checkpoint", "/v1/records/", "/v1/proofs/",
            "/v1/verify", "/checkpoint", "/tile/", "/docs", "/redoc", "/openapi.json")


async def views_current(request: Request) -> None:
    """Read-your-writes while a runner keeps the views (`serve`): appends are answered before
    the views have them, so a read (GET) waits until the views have reached the log's end as it
    stood when the request came; 503 `views.behind` if the runner does not get there in time.
    Without a runner there is nothing to wait for: each group commit catches the views up."""
    if request.method != "GET" or request.url.path.startswith(NO_VIEWS):
        return
    services: Services = request.app.state.services
    follower = services.views.follower
    if follower is None:
        return
    position = services.store.max_position()  # one indexed read; on the loop, as current_user's
    if follower.reached < position:
        await anyio.to_thread.run_sync(follower.reach, position)
