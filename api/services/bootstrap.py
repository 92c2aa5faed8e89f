"""The composition root: one place that wires store, ledger, rules, views, tokens and clock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from api.services.keys import register_user as register_user  # where callers have found them
from api.services.keys import revoke_key as revoke_key
from api.services.keys import rotate_key as rotate_key
from api.services.rules import TrialRules
from api.services.tokens import TokenStore
from api.services.vault import AllocationVault
from domain import clock, review
from ledger.errors import NotInitialised
from ledger.group_commit import GroupCommit
from ledger.keys import generate, key_id, load_private_key, public_b64, save_private_key
from ledger.ledger import Clock, FollowUp, Ledger, system_clock
from ledger.note import NoteSigner
from ledger.registry import (
    GENESIS,
    KEYS_STREAM,
    LEDGER_AUTHOR,
    ROOT_AUTHOR,
    ROOT_ROLE,
    SPONSOR_SITE,
)
from ledger.signer import Signer
from ledger.store import DEFAULT_URL, Store, open_store
from projections.views import Follower, Views


class ViewFollower(Follower, Protocol):
    """A view runner as the appends see it: woken after each group commit."""

    def wake(self) -> None: ...


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
    #: Appends from concurrent requests, one transaction and checkpoint per group. Without a
    #: view runner the views are brought up to date once per group, before any of its requests
    #: is answered; with one (`follow_views`), the runner does it right after the commit.
    appender: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.appender = GroupCommit(self.ledger, after=self.views.catch_up)

    def follow_views(self, runner: ViewFollower | None) -> None:
        """Hand the views to a runner (api/services/runner.py): groups are answered once
        committed and wake it, readers wait for it. None takes them back: each group catches
        the views up before answering, and readers apply what is missing themselves."""
        self.views.follower = runner
        if runner is None:
            self.appender.after, self.appender.committed = self.views.catch_up, None
        else:
            self.appender.after, self.appender.committed = None, runner.wake

    def close(self) -> None:
        self.tokens.close()
        self.store.close()


def bootstrap(url: str | None = None, *, clock: Clock = system_clock,
              sealer: NoteSigner | None = None) -> Services:
    store = open_store(database_url(url))
    rules = TrialRules()
    ledger = Ledger(store, rules=rules, clock=clock, sealer=sealer,
                    unredactable=review.NEVER_REDACTED, clock_step=_clock_step)
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
