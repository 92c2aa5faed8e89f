"""People's accounts as an admin sees them: who holds a key (role, site, printed name), whether
that key is valid, whether the account is locked; unlocking one and issuing a new API token.

All of it is read from the log (the key registry and each `access/{author}` stream), so an
account's state here is the state the rules decide on."""

from __future__ import annotations

from dataclasses import dataclass

from api.services.bootstrap import Services
from api.services.roles import USER_ROLES
from api.services.tokens import User
from domain import access
from ledger.entry import format_time
from ledger.errors import LedgerError
from ledger.ledger import Receipt
from ledger.registry import ROOT_AUTHOR, RegisteredKey
from ledger.signer import Signer


@dataclass(frozen=True)
class Account:
    author: str
    role: str
    site: str
    name: str
    key: str | None  # the key id valid now, None when every key of theirs is revoked
    locked: bool


def accounts(services: Services) -> list[Account]:
    """Every person (and interface) an admin registered, in id order; the root and the
    server's own actors are not accounts."""
    now = format_time(services.clock())
    held: dict[str, list[RegisteredKey]] = {}
    for k in services.ledger.registry().keys.values():
        if k.role in USER_ROLES and k.author != ROOT_AUTHOR:
            held.setdefault(k.author, []).append(k)
    found = []
    for author, keys in sorted(held.items()):
        valid = [k for k in keys if k.valid_at(now)]
        last = max(valid or keys, key=lambda k: k.registered_at)
        found.append(Account(author, last.role, last.site, last.name,
                             last.key_id if valid else None, is_locked(services, author)))
    return found


def account(services: Services, author: str) -> Account:
    for found in accounts(services):
        if found.author == author:
            return found
    raise LedgerError(f"no user {author!r}: `trial-ledger users list` shows who there is",
                      rule="users.unknown", field="author")


def is_locked(services: Services, author: str) -> bool:
    """As domain/access.py folds it: locked by the last lock, open again after an unlock."""
    locked = False
    for record in services.ledger.stream(access.STREAM_PREFIX + author):
        if record.type == "account.locked":
            locked = True
        elif record.type == "account.unlocked":
            locked = False
    return locked


def unlock(services: Services, admin: Signer, author: str, reason: str) -> Receipt:
    """`account.unlocked` on `access/{author}`, signed by an admin with the reason: the record an
    admin's client posts to `POST /v1/entries`; the rules refuse it for an account not locked."""
    if not account(services, author).locked:  # named here; the rules refuse it all the same
        raise LedgerError(f"account {author} is not locked", rule="account.not_locked",
                          field="author")
    stream = access.STREAM_PREFIX + author
    return services.ledger.append(admin.sign(
        ledger=services.ledger.origin, head=services.ledger.head(stream), type="account.unlocked",
        payload={}, occurred_at=services.clock(), reason=reason))


def issue_token(services: Services, author: str) -> str:
    """A new standing API token for a person who holds a valid key and is not locked out (a lock
    revoked their tokens: a new one must not undo it). Stored as its hash, like every token."""
    found = account(services, author)
    if found.key is None:
        raise LedgerError(f"{author} holds no valid key: register a new one for them first "
                          "(`users add`)", rule="users.no_valid_key", field="author")
    if found.locked:
        raise LedgerError(f"account {author} is locked after failed logins: unlock it first "
                          "(`users unlock`)", rule="account.locked", field="author")
    return services.tokens.issue(User(found.author, found.role, found.site))
