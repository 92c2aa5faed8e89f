"""The composition root: one place that wires store, ledger, rules, views, tokens and clock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from api.services.rules import TrialRules
from api.services.tokens import TokenStore, User
from api.services.vault import AllocationVault
from domain import clock, review
from ledger.entry import format_time
from ledger.errors import LedgerError, NotInitialised
from ledger.group_commit import GroupCommit
from ledger.keys import generate, key_id, load_private_key, public_b64, save_private_key
from ledger.ledger import Clock, FollowUp, Ledger, Receipt, system_clock
from ledger.note import NoteSigner
from ledger.registry import (
    GENESIS,
    KEY_REGISTERED,
    KEY_REVOKED,
    KEYS_STREAM,
    LEDGER_AUTHOR,
    ROOT_AUTHOR,
    ROOT_ROLE,
    SPONSOR_SITE,
)
from ledger.signer import Signer
from ledger.store import DEFAULT_URL, Store, open_store
from projections.views import Views

DEFAULT_ORIGIN = "NCT06167473"
CLIENT = "trial-ledger-cli/0.1"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("TRIAL_LEDGER_DB") or DEFAULT_URL


def home_dir(explicit: Path | None = None) -> Path:
    return explicit or Path(os.environ.get("TRIAL_LEDGER_HOME", "trial-ledger-home"))


@dataclass
class Services:
    store: Store
    ledger: Ledger
    views: Views
    tokens: TokenStore
    clock: Clock
    rules: TrialRules
    vault: AllocationVault
    #: Appends from concurrent requests, one transaction and checkpoint per group; the views
    #: are brought up to date once per group, before any of its requests is answered.
    appender: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.appender = GroupCommit(self.ledger, after=self.views.catch_up)

    def close(self) -> None:
        self.store.close()


def bootstrap(url: str | None = None, *, clock: Clock = system_clock,
              sealer: NoteSigner | None = None) -> Services:
    store = open_store(database_url(url))
    rules = TrialRules()
    ledger = Ledger(store, rules=rules, clock=clock, sealer=sealer,
                    unredactable=review.NEVER_REDACTED)
    ledger.clock_step = _clock_step
    return Services(
        store=store,
        ledger=ledger,
        views=Views(store),
        tokens=TokenStore(store),
        clock=clock,
        rules=rules,
        vault=AllocationVault(store),
    )


def _clock_step(clock_read: str, kept: str) -> FollowUp:
    """R10: the record of a clock that stepped back (domain/clock.py)."""
    return FollowUp(clock.STREAM, "clock.stepped_back", clock.stepped_back(clock_read, kept), "system")


@dataclass(frozen=True)
class Initialised:
    origin: str
    root_fingerprint: str
    ledger_key_id: str
    root_key_file: Path
    ledger_key_file: Path
    checkpoint_key: str  # C2SP verifier key of the checkpoints, for witnesses


def create_tables(services: Services) -> None:
    """The migration step, run once (by `init`), never concurrently by every worker."""
    services.ledger.create_tables()
    services.views.create_table()
    services.tokens.create_table()
    services.vault.create_table()


def initialise(services: Services, *, home: Path, root_passphrase: str, ledger_passphrase: str,
               origin: str = DEFAULT_ORIGIN, root_name: str = "Trial root") -> Initialised:
    """Create tables, the root and ledger keys, and the genesis record of the key registry."""
    if services.store.is_initialised():
        raise NotInitialised("this database holds a ledger already; refusing to initialise it again",
                             rule="ledger.initialised_already")
    create_tables(services)
    keys = home / "keys"
    root, own = generate(), generate()
    root_file, ledger_file = keys / "root.key", keys / "ledger.key"
    save_private_key(root, root_file, root_passphrase)
    save_private_key(own, ledger_file, ledger_passphrase)
    services.ledger.sealer = NoteSigner(origin, own)
    signer = Signer(root, ROOT_AUTHOR, ROOT_ROLE, SPONSOR_SITE, CLIENT)
    services.ledger.append(signer.sign(
        ledger=origin, head=services.ledger.head(KEYS_STREAM), type=GENESIS, meaning="approval",
        payload={"origin": origin, "root_key": public_b64(root.public_key()),
                 "ledger_key": public_b64(own.public_key()), "root_name": root_name},
        occurred_at=services.clock(),
    ))
    return Initialised(origin, key_id(root.public_key()), key_id(own.public_key()), root_file,
                       ledger_file, services.ledger.sealer.verifier_key_string())


def load_sealer(services: Services, home: Path, passphrase: str) -> NoteSigner:
    """Load the ledger key so that appends get signed checkpoints; checks it is the registered one."""
    key = load_private_key(home / "keys" / "ledger.key", passphrase)
    registered = services.ledger.registry().keys.get(key_id(key.public_key()))
    if registered is None or registered.author != LEDGER_AUTHOR:
        raise NotInitialised(f"{home / 'keys' / 'ledger.key'} is not this ledger's key",
                             rule="ledger.wrong_key")
    services.ledger.sealer = NoteSigner(services.ledger.origin, key)
    return services.ledger.sealer


def root_signer(home: Path, passphrase: str) -> Signer:
    return Signer(load_private_key(home / "keys" / "root.key", passphrase), ROOT_AUTHOR, ROOT_ROLE,
                  SPONSOR_SITE, CLIENT)


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
