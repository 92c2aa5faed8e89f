"""Request dependencies: the wired services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from .bootstrap import Services
from .problems import Denied
from .tokens import User


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]


def current_user(services: ServicesDep,
                 authorization: Annotated[str | None, Header()] = None) -> User:
    if not authorization or not authorization.startswith("Bearer "):
        raise Denied(401, "auth.missing_token", "send Authorization: Bearer <token>")
    user = services.tokens.lookup(authorization.removeprefix("Bearer ").strip())
    if user is None:
        raise Denied(401, "auth.invalid_token", "the token is unknown or revoked")
    return user


UserDep = Annotated[User, Depends(current_user)]
