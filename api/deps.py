"""Request dependencies: the wired services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from . import roles
from .bootstrap import Services
from .problems import Denied
from .tokens import User


async def services_of(request: Request) -> Services:
    # async (as current_user): a sync dependency costs every request a hop to a worker thread
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]


async def current_user(request: Request, services: ServicesDep,
                       authorization: Annotated[str | None, Header()] = None) -> User:
    """The caller, authenticated by token and allowed by the role matrix for this route.

    Runs on the event loop: the token lookup is one indexed read of a small table, cheaper
    than handing every request to a worker thread and back."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Denied(401, "auth.missing_token", "send Authorization: Bearer <token>")
    user = services.tokens.lookup(authorization.removeprefix("Bearer ").strip())
    if user is None:
        raise Denied(401, "auth.invalid_token", "the token is unknown or revoked")
    route = request.scope.get("route")
    permitted = roles.MATRIX.get((request.method, getattr(route, "path", "")), frozenset())
    if permitted is not None and user.role not in permitted:
        raise Denied(403, "auth.role", f"role {user.role} may not {request.method} "
                     f"{getattr(route, 'path', request.url.path)}")
    return user


UserDep = Annotated[User, Depends(current_user)]
