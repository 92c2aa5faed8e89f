"""A person's keys: register one (signed by the root key, with an API token), revoke one (their
tokens stop working once they hold no valid key), rotate (a new key with the same printed name,
role and site, then the old ones revoked). HTTP, the CLI, trial set-up and the demo call these."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from api.services.tokens import User
from ledger.entry import format_time
from ledger.errors import LedgerError
from ledger.keys import key_id
from ledger.ledger import Receipt
from ledger.registry import KEY_REGISTERED, KEY_REVOKED, KEYS_STREAM
from ledger.signer import Signer

if TYPE_CHECKING:  # the wiring imports this module
    from api.services.bootstrap import Services


def register_user(services: Services, root: Signer, *, author: str, name: str, role: str,
                  site: str, public_key_b64: str, now: datetime | None = None,
                  token: bool = True, system: bool = False) -> tuple[Receipt, str]:
    """Register a user's public key (signed by the root) and issue their API token."""
    from api.services.roles import ROLES, USER_ROLES
    from ledger.keys import public_from_b64

    if role not in (ROLES if system else USER_ROLES):  # system roles only for the server's keys
        raise LedgerError(f"unknown role {role!r}; roles: {', '.join(sorted(USER_ROLES))}",
                          rule="users.unknown_role", field="role")

    kid = key_id(public_from_b64(public_key_b64))
    receipt = services.ledger.append(root.sign(
        ledger=services.ledger.origin, head=services.ledger.head(KEYS_STREAM), type=KEY_REGISTERED,
        meaning="approval", occurred_at=now or services.clock(),
        payload={"key": kid, "public_key": public_key_b64, "author": author, "name": name,
                 "role": role, "site": site},
    ))
    issued = services.tokens.issue(User(author, role, site)) if token else ""
    return receipt, issued


def revoke_key(services: Services, root: Signer, *, kid: str, reason: str) -> Receipt:
    """Revoke a key; once its author holds no valid key, their API tokens stop working too."""
    receipt = services.ledger.append(root.sign(
        ledger=services.ledger.origin, head=services.ledger.head(KEYS_STREAM), type=KEY_REVOKED,
        meaning="approval", occurred_at=services.clock(), payload={"key": kid}, reason=reason,
    ))
    keys = services.ledger.registry().keys
    author = keys[kid].author if kid in keys else None
    if author is not None and not any(k.author == author and k.valid_at(receipt.recorded_at)
                                      for k in keys.values()):
        services.tokens.revoke_all(author)
    return receipt


def rotate_key(services: Services, root: Signer, *, author: str, public_key_b64: str,
               reason: str) -> tuple[Receipt, list[Receipt]]:
    """Give `author` a new key (same printed name, role and site as their current one), then
    revoke the keys they held before. Their tokens keep working: they still hold a valid key."""
    now = format_time(services.clock())
    current = [k for k in services.ledger.registry().keys.values()
               if k.author == author and k.valid_at(now)]
    if not current:
        raise LedgerError(f"{author} holds no valid key to rotate", rule="keys.nothing_to_rotate",
                          field="author")
    last = max(current, key=lambda k: k.registered_at)
    registered, _ = register_user(services, root, author=author, name=last.name, role=last.role,
                                  site=last.site, public_key_b64=public_key_b64, token=False)
    revoked = [revoke_key(services, root, kid=k.key_id, reason=reason) for k in current]
    return registered, revoked
