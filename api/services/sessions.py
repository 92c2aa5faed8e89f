"""Logging in and out as records (R8, R17). A login is a `session.opened` entry signed with the
person's own key and answered with a session token that ages out; a refused login is recorded
(`login.failed`, by the system) and enough of them in a row lock the account (`account.locked`,
in the same transaction, by the rules in domain/access.py), which also revokes every token it
holds. A logout revokes the token and records `session.closed`.

A login is authenticated before anything else is looked at: its signature by a currently valid
key of the person it names. Only what the person could have sent (their valid signature, refused
for a stale time, a bad payload, the wrong stream…) is a `login.failed` and counts toward the
lock-out. Anything else changes no state and learns nothing about any stream: it is answered 401
(429 once its source is over its limit) and summed up as at most one `login.rejected` per account
a minute (api/services/login_guard.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.services.bootstrap import Services
from api.services.errors import Denied
from api.services.login_guard import Pending, guard_for
from api.services.tokens import SESSION_HOURS, User
from domain import access
from ledger.entry import Submission, format_time
from ledger.errors import Conflict, LedgerError, NotInitialised
from ledger.ledger import FollowUp
from ledger.prepared import Prepared

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


def open_session(services: Services, submission: Submission, source: str = "unknown") -> Session:
    """Log in with a signed `session.opened` entry on `access/{author}`. An attempt not signed
    by the named person's valid key is refused as Denied (401, or 429 when its source is over its
    limit) and only summed up; the person's own refused attempt is recorded against them and
    raised as Denied (401); a stale head is no failed login (the client reads the head and signs
    again) and is raised as it is."""
    prepared = _authenticated(services, submission, source[:64])
    author = prepared.entry.fields["author"]
    try:
        fields = prepared.entry.fields
        if fields["type"] != LOGIN:
            raise LedgerError(f"a login is a {LOGIN} entry", rule="login.wrong_type",
                              field="entry.type")
        if fields["stream"] != access.STREAM_PREFIX + author:
            raise LedgerError("a login is on one's own access stream", rule="access.not_yours",
                              field="entry.stream")
        receipt = services.ledger.append(prepared)
    except Conflict:
        raise
    except LedgerError as exc:
        record_failed_login(services, author, exc)
        raise Denied(401, exc.rule, f"login refused: {exc.message}") from exc
    entry = prepared.entry.fields  # parsed once, when its signature was checked
    hours = timedelta(hours=SESSION_HOURS)
    token = services.tokens.issue(User(entry["author"], entry["role"], entry["site"],
                                       receipt.record_hash), ttl=hours)
    return Session(token, receipt.record_hash, entry["author"], entry["role"],
                   (datetime.now(UTC) + hours).isoformat())


def _authenticated(services: Services, submission: Submission, source: str) -> Prepared:
    """The parsed entry once its signature is checked against a currently valid key of its
    author; otherwise Denied, with no stream read and nothing counted against the account."""
    guard = guard_for(services.ledger)
    now = services.clock()
    if guard.throttled(source, now):
        raise Denied(429, "login.throttled", "too many refused logins from this source; "
                     "wait a minute")
    try:
        prepared = services.ledger.prepare(submission)
        services.ledger.registry().authorise(prepared.entry, prepared.signature, format_time(now),
                                             prepared.checked)
    except LedgerError as exc:
        guard.refused(source, now)
        author = _field(submission, "author")
        if isinstance(author, str) and _known(services, author):
            pending = guard.note(author, source, exc.rule[:64], now)
            if pending is not None:
                _record_rejected(services, author, pending)
        raise Denied(401, exc.rule, f"login refused: {exc.message}") from exc
    return prepared


def _record_rejected(services: Services, author: str, pending: Pending) -> None:
    try:
        services.ledger.append_follow_up(FollowUp(
            access.STREAM_PREFIX + author, "login.rejected",
            {"count": pending.count, "first_at": format_time(pending.first_at),
             "last_at": format_time(pending.last_at), "sources": pending.sources,
             "checks": pending.checks}, "system"))
    except NotInitialised:
        return  # no system key loaded (trial not set up): the refusal itself still stands


def _known(services: Services, author: str) -> bool:
    return any(k.author == author for k in services.ledger.registry().keys.values())


def close_session(services: Services, user: User, token: str) -> str:
    """Log out: `token` stops working and `session.closed` is recorded; returns its hash."""
    services.tokens.revoke(token)
    receipt = services.ledger.append_follow_up(FollowUp(
        access.STREAM_PREFIX + user.author, "session.closed",
        {"session": user.session, "why": "logout"}, "system"))
    return receipt.record_hash


def record_failed_login(services: Services, author: str | None, exc: LedgerError) -> None:
    """Keep the person's own refused login on their access stream; when the rules lock the
    account with it, revoke every token the person holds."""
    if author is None or not _known(services, author):
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
