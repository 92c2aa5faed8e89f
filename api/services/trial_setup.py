"""Setting the trial up on an initialised ledger, and loading its system actors to serve it.

Set-up, once: the randomiser's and the system's keys (registered by the root), the protocol
adopted (a record signed by the root, the sponsor's admin key), the allocation list generated from
a CSPRNG seed, stored encrypted for the randomiser, and its salted commitment recorded (R23).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from api.services.bootstrap import CLIENT, Services, load_sealer, register_user, root_signer
from api.services.randomiser import RANDOMISER, Randomiser
from domain.protocol import load_protocol
from domain.randomisation import AllocationList, commitment, generate_allocation
from domain.trial import ALLOCATION_STREAM, PROTOCOL_STREAM
from ledger.entropy import random_bytes
from ledger.errors import NotInitialised
from ledger.keys import generate, load_private_key, public_b64, save_private_key
from ledger.registry import SPONSOR_SITE
from ledger.signer import Signer

SYSTEM = "system"
ACTORS = {RANDOMISER: ("Randomiser", "randomiser"), SYSTEM: ("Trial rules", "system")}


def default_protocol() -> dict[str, Any]:
    text = resources.files("domain.protocols").joinpath("nct06167473.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@dataclass(frozen=True)
class SetUp:
    protocol_version: str
    commitment: str
    slots: dict[str, int]


def set_up_trial(services: Services, *, home: Path, root_passphrase: str, system_passphrase: str,
                 document: dict[str, Any] | None = None, seed: bytes | None = None,
                 slots: int | None = None) -> SetUp:
    ledger = services.ledger
    if ledger.head(PROTOCOL_STREAM).version:
        raise NotInitialised("the trial is set up already", rule="trial.set_up_already")
    document = document or default_protocol()
    protocol = load_protocol(document)
    root = root_signer(home, root_passphrase)
    for actor, (name, role) in ACTORS.items():
        key = generate()
        save_private_key(key, home / "keys" / f"{actor}.key", system_passphrase)
        register_user(services, root, author=actor, name=name, role=role, site=SPONSOR_SITE,
                      public_key_b64=public_b64(key.public_key()), token=False, system=True)
    ledger.append(root.sign(ledger=ledger.origin, head=ledger.head(PROTOCOL_STREAM),
                            type="protocol.adopted", payload={"document": document},
                            meaning="approval", occurred_at=services.clock()))
    allocation = generate_allocation(protocol, slots=slots or protocol.target_enrolment,
                                     seed=seed or random_bytes(32))
    salt = random_bytes(32)
    committed = commitment(salt, allocation)
    randomiser_key = load_private_key(home / "keys" / f"{RANDOMISER}.key", system_passphrase)
    services.vault.put(randomiser_key, committed, {"allocation": allocation.model_dump(mode="json"),
                                                   "salt": base64.b64encode(salt).decode()})
    counts = {stratum: len(arms) for stratum, arms in allocation.strata.items()}
    randomiser = Signer(randomiser_key, RANDOMISER, "randomiser", SPONSOR_SITE, CLIENT)
    ledger.append(randomiser.sign(ledger=ledger.origin, head=ledger.head(ALLOCATION_STREAM),
                                  type="allocation.committed", occurred_at=services.clock(),
                                  payload={"protocol_version": protocol.version,
                                           "commitment": committed, "slots": counts}))
    load_system_actors(services, home, system_passphrase)
    return SetUp(protocol.version, committed, counts)


def load_system_actors(services: Services, home: Path, passphrase: str) -> None:
    """Load the ledger key (checkpoints) and, once the trial is set up, the randomiser (with its
    decrypted list) and the system actor, so that their follow-up records can be signed."""
    if services.ledger.sealer is None:
        load_sealer(services, home, passphrase)
    signers = {}
    for actor, (_, role) in ACTORS.items():
        path = home / "keys" / f"{actor}.key"
        if path.exists():
            signers[actor] = Signer(load_private_key(path, passphrase), actor, role, SPONSOR_SITE, CLIENT)
    services.ledger.system_signers.update(signers)
    committed = services.ledger.stream(ALLOCATION_STREAM)
    if committed and RANDOMISER in signers:
        value = (committed[0].payload() or {})["commitment"]
        secret = services.vault.get(signers[RANDOMISER].key, value)
        services.rules.randomiser = Randomiser(AllocationList.model_validate(secret["allocation"]),
                                               base64.b64decode(secret["salt"]), value)
