"""Access to the ledger as records (R8, R17): logins, logouts, failed logins, lock-out.

One stream per person, `access/{author}`:
- `session.opened` is signed by the person logging in (their key proves who they are);
- `login.failed` and `session.closed` are written by the system;
- `login.failed` is an attempt signed with the person's own valid key and refused (a bad payload,
  a locked account, the wrong stream): only those count toward lock-out;
- `login.rejected` (system) sums up attempts that were not signed by the person's valid key: a
  stranger naming the account can neither lock it nor add more than one record a window;
- after `LOCK_AFTER` failed logins in a row the system adds `account.locked` in the same
  transaction, and nobody logs in again until an admin records `account.unlocked` with a reason.

Rules (stable ids): `access.not_yours` (a session is opened only on one's own stream),
`session.stale` (a login's own time is more than `LOGIN_WINDOW` from the record time, so an old
or a post-dated signed login cannot be replayed), `account.locked`, `account.not_locked`,
`account.reason_required`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .facts import Consequence, Fact, Rejection
from .participant import Payload

STREAM_PREFIX = "access/"
LOCK_AFTER = 5  # failed logins in a row (11.300(d): attempts at unauthorised use are limited)
LOGIN_WINDOW = timedelta(minutes=5)  # a login's signed time against the server's, either way
HEX64 = r"^[0-9a-f]{64}$"


class SessionOpened(Payload):
    """`session.opened`, schema 1, signed by the person: a fresh nonce makes each login unique."""

    nonce: Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SessionClosed(Payload):
    """`session.closed`, schema 1 (system): the session a logout ended (null: a standing token)."""

    session: Annotated[str, Field(pattern=HEX64)] | None
    why: Literal["logout"]


class LoginFailed(Payload):
    """`login.failed`, schema 1 (system): which check refused the attempt."""

    check: Annotated[str, Field(min_length=1, max_length=64)]
    detail: Annotated[str, Field(max_length=500)]


class LoginRejected(Payload):
    """`login.rejected`, schema 1 (system): attempts naming the account that its owner's valid key
    did not sign, summed up since the previous such record (counts nothing toward lock-out)."""

    count: Annotated[int, Field(ge=1)]
    first_at: Annotated[str, Field(max_length=40)]
    last_at: Annotated[str, Field(max_length=40)]
    sources: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=16)]
    checks: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=8)]


class AccountLocked(Payload):
    """`account.locked`, schema 1 (system): how many failed logins in a row locked it."""

    failures: Annotated[int, Field(ge=1)]


class AccountUnlocked(Payload):
    """`account.unlocked`, schema 1 (admin, with a reason)."""


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("session.opened", 1): SessionOpened, ("session.closed", 1): SessionClosed,
    ("login.failed", 1): LoginFailed, ("login.rejected", 1): LoginRejected,
    ("account.locked", 1): AccountLocked,
    ("account.unlocked", 1): AccountUnlocked,
}
PEOPLE = frozenset({"admin", "investigator", "data_manager", "monitor", "inspector",
                    "unblinded_statistician", "lab_interface", "witness", "safety"})
ROLES = {"session.opened": PEOPLE, "session.closed": frozenset({"system"}),
         "login.failed": frozenset({"system"}), "login.rejected": frozenset({"system"}),
         "account.locked": frozenset({"system"}),
         "account.unlocked": frozenset({"admin"})}


@dataclass(frozen=True)
class AccessState:
    failures: int = 0  # failed logins since the last login or unlock
    locked: bool = False
    sessions: tuple[str, ...] = ()  # record hashes of sessions not closed


def initial() -> AccessState:
    return AccessState()


def author_of(stream: str) -> str:
    return stream.removeprefix(STREAM_PREFIX)


def evolve(state: AccessState, fact: Fact) -> AccessState:
    p = fact.payload
    if fact.type == "session.opened":
        return replace(state, failures=0, sessions=(*state.sessions, fact.record_hash or ""))
    if fact.type == "session.closed":
        return replace(state, sessions=tuple(s for s in state.sessions if s != p.get("session")))
    if fact.type == "login.failed":
        return replace(state, failures=state.failures + 1)
    if fact.type == "account.locked":
        return replace(state, locked=True)
    if fact.type == "account.unlocked":
        return replace(state, locked=False, failures=0)
    return state


def decide(state: AccessState, fact: Fact, now: datetime, protocol: object) -> list[Consequence]:
    if fact.type == "session.opened":
        if fact.author != author_of(fact.stream):
            raise Rejection("access.not_yours", "a session is opened on one's own access stream",
                            field="entry.stream")
        if state.locked:
            raise Rejection("account.locked", f"account {fact.author} is locked after failed "
                            "logins; an admin unlocks it", field="entry.author")
        if abs(fact.occurred_at - now) > LOGIN_WINDOW:
            raise Rejection("session.stale", "a login's time must be within "
                            f"{LOGIN_WINDOW.seconds // 60} minutes of the server's clock",
                            field="entry.occurred_at")
    if fact.type == "login.failed" and not state.locked and state.failures + 1 >= LOCK_AFTER:
        return [Consequence(fact.stream, "account.locked", {"failures": state.failures + 1},
                            actor="system")]
    if fact.type == "account.unlocked":
        if not state.locked:
            raise Rejection("account.not_locked", "the account is not locked", field="entry.type")
        if fact.reason is None:
            raise Rejection("account.reason_required", "an unlock needs a reason",
                            field="entry.reason")
    return []
