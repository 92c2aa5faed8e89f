"""Login and logout as records (R8, R17): `POST /v1/sessions` takes a `session.opened` entry
signed with the person's own key and answers with a session token that ages out. A login not
signed by a valid key of the person it names is refused (401, 429 over the source's limit) and
only summed up (`login.rejected`); the person's own refused login is recorded (`login.failed`,
by the system) and enough of them in a row lock the account (`account.locked`, in the same
transaction), which also revokes every token it holds.
`POST /v1/sessions/close` ends the caller's session (`session.closed`). The use cases are
api/services/sessions.py's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from api.http import schemas
from api.http.bodies import EntryIn
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep, bearer
from api.services import sessions
from ledger.entry import Submission

router = APIRouter(prefix="/v1", tags=["sessions"])


@router.post("/sessions", status_code=201, response_model=None, responses=returns(
    schemas.Session, ok=201, **{"401": "the login was refused (and recorded)",
                                "409": "stale version of your access stream: read its head, sign again",
                                "422": "the request is not a signed entry",
                                "429": "too many refused logins from this source: wait a minute"}))
def login(body: EntryIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Log in: a `session.opened` entry on `access/{you}`, signed with your key."""
    submission = Submission(body.entry, body.signature, body.payload, body.salt)
    source = request.client.host if request.client is not None else "unknown"
    return sessions.open_session(services, submission, source).as_dict()


@router.post("/sessions/close", response_model=None, responses=returns(schemas.Closed))
def logout(user: UserDep, services: ServicesDep,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> dict[str, Any]:
    """Log out: this token stops working and the logout is recorded."""
    assert credentials is not None  # UserDep has authenticated this very token
    closed = sessions.close_session(services, user, credentials.credentials.strip())
    return {"closed": user.session, "record_hash": closed}
