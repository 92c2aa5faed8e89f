"""Login for the viewer: the same users and tokens as the API. The login form takes an API token,
checks it exactly as the API does (`TokenStore.lookup`: unknown, revoked and expired tokens are
refused) and keeps it in an HttpOnly, SameSite=Strict cookie; every page looks it up again, so a
revoked token ends the viewer session at once. Logging in and out writes nothing to the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.http.deps import ServicesDep
from api.services import blinding
from api.services.bootstrap import Services
from api.services.roles import READERS
from api.services.tokens import User
from api.ui.render import HEADERS, LOGIN, LoginNeeded, UIError, UIRoute, page

COOKIE = "trial_ledger_ui"
router = APIRouter(route_class=UIRoute)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user and what their role may see (decided by the API's own rules)."""

    user: User
    name: str  # printed name of the user's registered key, if any
    blinded: bool  # protocol's blinded roles: no arm, no dose
    sees_allocation: bool


def viewer(request: Request, services: ServicesDep) -> Viewer:
    """The signed-in reader; redirect to login without a valid cookie, 403 for other roles."""
    token = request.cookies.get(COOKIE)
    user = services.tokens.lookup(token) if token else None
    if user is None:
        raise LoginNeeded()
    _check_role(user)
    found = Viewer(user, printed_name(services, user.author) or user.author,
                   blinding.is_blinded(services, user.role), blinding.sees_allocation(user.role))
    request.state.viewer = found  # error pages still show who is signed in
    return found


ViewerDep = Annotated[Viewer, Depends(viewer)]


def _check_role(user: User) -> None:
    # The API's READERS: the roles that may read participants, history and the audit trail.
    if user.role not in READERS:
        raise UIError(403, "Not a reader", f"role {user.role} may not read the trial; the viewer is "
                      f"for the roles {', '.join(sorted(READERS))}")


def printed_name(services: Services, author: str) -> str | None:
    """The printed name registered with the author's key (R13)."""
    return next((k.name for k in services.ledger.registry().keys.values() if k.author == author), None)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    return page(request, "login.html", next=_safe_next(next), problem=None)


@router.post("/login", response_model=None)
def login(request: Request, services: ServicesDep,
          token: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=500)] = "/ui/") -> Response:
    _same_origin(request)
    user = services.tokens.lookup(token.strip()) if token.strip() else None
    if user is None:
        return page(request, "login.html", 401, next=_safe_next(next),
                    problem="The token is unknown, revoked or expired.")
    _check_role(user)
    response = RedirectResponse(_safe_next(next), status_code=303, headers=HEADERS)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", path="/ui",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout", response_model=None)
def logout(request: Request) -> Response:
    """Forget the cookie. The API token itself stays valid: it is the user's, not the viewer's."""
    _same_origin(request)
    response = RedirectResponse(LOGIN, status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (login CSRF); SameSite covers the cookie itself."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise UIError(403, "Refused", "the form was posted from another site")


def _safe_next(target: str) -> str:
    """Only a viewer page: never an open redirect to another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in target:
        return "/ui/"
    return target
