"""Logging in and out as records (R8, R17). A login is a `session.opened` entry signed with the
person's own key and answered with a session token that ages out; a refused login is recorded
(`login.failed`, by the system) and enough of them in a row lock the account (`account.locked`,
in the same transaction, by the rules in domain/access.py), which also revokes every token it
holds. A logout revokes the token and records `session.closed`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.services.bootstrap import Services
from api.services.errors import Denied
from api.services.tokens import SESSION_HOURS, User
from domain import access
from ledger.entry import Submission
from ledger.errors import Conflict, LedgerError, NotInitialised
from ledger.ledger import FollowUp

LOGIN = "session.opened"


@dataclass(frozen=True)
class Session:
    token: str
    session: str  # the record hash of the login
    author: str
    role: str
    expires_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"token": self.token, "session": self.session, "author": self.author,
                "role": self.role, "expires_at": self.expires_at}


def open_session(services: Services, submission: Submission) -> Session:
    """Log in with a signed `session.opened` entry on `access/{author}`. A refusal is recorded
    against the person named and raised as Denied (401); a stale head is no failed login (the
    client reads the head and signs again) and is raised as it is."""
    author = _field(submission, "author")
    try:
        if _field(submission, "type") != LOGIN:
            raise LedgerError(f"a login is a {LOGIN} entry", rule="login.wrong_type",
                              field="entry.type")
        receipt = services.ledger.append(submission)
    except Conflict:
        raise
    except LedgerError as exc:
        record_failed_login(services, author if isinstance(author, str) else None, exc)
        raise Denied(401, exc.rule, f"login refused: {exc.message}") from exc
    entry = json.loads(submission.entry)
    hours = timedelta(hours=SESSION_HOURS)
    token = services.tokens.issue(User(entry["author"], entry["role"], entry["site"],
                                       receipt.record_hash), ttl=hours)
    return Session(token, receipt.record_hash, entry["author"], entry["role"],
                   (datetime.now(UTC) + hours).isoformat())


def close_session(services: Services, user: User, token: str) -> str:
    """Log out: `token` stops working and `session.closed` is recorded; returns its hash."""
    services.tokens.revoke(token)
    receipt = services.ledger.append_follow_up(FollowUp(
        access.STREAM_PREFIX + user.author, "session.closed",
        {"session": user.session, "why": "logout"}, "system"))
    return receipt.record_hash


def record_failed_login(services: Services, author: str | None, exc: LedgerError) -> None:
    """Keep the refused login on the person's access stream; when the rules lock the account
    with it, revoke every token the person holds."""
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


def _field(submission: Submission, name: str) -> object:
    try:
        return json.loads(submission.entry).get(name)
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
        return None
