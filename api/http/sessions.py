"""Login and logout as records (R8, R17): `POST /v1/sessions` takes a `session.opened` entry
signed with the person's own key and answers with a session token that ages out; a refused
login is recorded (`login.failed`, by the system) and enough of them in a row lock the account
(`account.locked`, in the same transaction), which also revokes every token it holds.
`POST /v1/sessions/close` ends the caller's session (`session.closed`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from api.http import schemas
from api.http.bodies import EntryIn
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep, bearer
from api.http.problems import Denied
from api.services.tokens import SESSION_HOURS, User
from domain import access
from ledger.entry import Submission
from ledger.errors import Conflict, LedgerError, NotInitialised
from ledger.ledger import FollowUp

router = APIRouter(prefix="/v1", tags=["sessions"])


@router.post("/sessions", status_code=201, response_model=None, responses=returns(
    schemas.Session, ok=201, **{"401": "the login was refused (and recorded)",
                                "409": "stale version of the access stream: read its head, sign again",
                                "422": "the request is not a signed entry"}))
def login(body: EntryIn, services: ServicesDep) -> dict[str, Any]:
    """Log in: a `session.opened` entry on `access/{you}`, signed with your key."""
    submission = Submission(body.entry, body.signature, body.payload, body.salt)
    author = _author(submission)
    try:
        if _type(submission) != "session.opened":
            raise LedgerError("a login is a session.opened entry", rule="login.wrong_type",
                              field="entry.type")
        receipt = services.ledger.append(submission)
    except Conflict:
        raise  # a stale head is no failed login: the client reads the head and signs again
    except LedgerError as exc:
        _record_failure(services, author, exc)
        raise Denied(401, exc.rule, f"login refused: {exc.message}") from exc
    entry = json.loads(submission.entry)
    hours = timedelta(hours=SESSION_HOURS)
    token = services.tokens.issue(User(entry["author"], entry["role"], entry["site"],
                                       receipt.record_hash), ttl=hours)
    return {"token": token, "session": receipt.record_hash, "author": entry["author"],
            "role": entry["role"], "expires_at": (datetime.now(UTC) + hours).isoformat()}


@router.post("/sessions/close", response_model=None, responses=returns(schemas.Closed))
def logout(user: UserDep, services: ServicesDep,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> dict[str, Any]:
    """Log out: this token stops working and the logout is recorded."""
    assert credentials is not None  # UserDep has authenticated this very token
    services.tokens.revoke(credentials.credentials.strip())
    receipt = services.ledger.append_follow_up(FollowUp(
        access.STREAM_PREFIX + user.author, "session.closed",
        {"session": user.session, "why": "logout"}, "system"))
    return {"closed": user.session, "record_hash": receipt.record_hash}


def _record_failure(services: Any, author: str | None, exc: LedgerError) -> None:
    """Keep the refused login on the person's access stream; lock the account when it is due."""
    if author is None or not any(k.author == author for k in services.ledger.registry().keys.values()):
        return  # no such person: nothing to lock, and no stream to name
    try:
        receipt = services.ledger.append_follow_up(FollowUp(
            access.STREAM_PREFIX + author, "login.failed",
            {"check": exc.rule[:64], "detail": exc.message[:500]}, "system"))
    except NotInitialised:
        return  # no system key loaded (trial not set up): the refusal itself still stands
    if any(f.type == "account.locked" for f in receipt.follow_ups):
        services.tokens.revoke_all(author)


def _author(submission: Submission) -> str | None:
    try:
        author = json.loads(submission.entry).get("author")
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
        return None
    return author if isinstance(author, str) else None


def _type(submission: Submission) -> object:
    try:
        return json.loads(submission.entry).get("type")
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
        return None
