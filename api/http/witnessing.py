"""Witnesses: a registered witness cosigns checkpoints it has checked; the ledger keeps the lines.

Server side: `POST /v1/checkpoint/cosignatures` takes a checkpoint note carrying the caller's
cosignature (C2SP cosignature/v1) by the witness key registered to them, and keeps the line.
Witness side: api/services/witnessing.py's `run_witness`, as `trial-ledger witness` runs it.
"""

from __future__ import annotations

from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Body

from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep
from ledger.errors import NotFound, SignatureRefused
from ledger.note import Checkpoint, NoteError, NoteVerifier
from ledger.registry import LEDGER_AUTHOR, KeyRegistry
from ledger.witness import CosignatureVerifier, WitnessError

WITNESS_ROLE = "witness"
router = APIRouter(prefix="/v1", tags=["transparency"])


def checkpoint_verifier(registry: KeyRegistry) -> NoteVerifier:
    """The ledger's checkpoint key, as the key registry's genesis names it."""
    key = next((k for k in registry.keys.values() if k.author == LEDGER_AUTHOR), None)
    if key is None or registry.origin is None:
        raise NotFound("the ledger is not initialised", rule="ledger.not_initialised")
    return NoteVerifier(registry.origin, key.public_key)


@router.post("/checkpoint/cosignatures", status_code=201, response_model=None, responses=returns(
    schemas.Cosigned, ok=201, **{"404": "this ledger signed no checkpoint of that size",
                                 "422": "not a checkpoint note, or no valid cosignature by the caller"}))
def add_cosignature(note: Annotated[str, Body(media_type="text/plain", max_length=20_000)],
                    user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Keep the caller's cosignature of a checkpoint this ledger signed."""
    raw = note.encode("utf-8")
    split = raw.rfind(b"\n\n")
    try:
        body = Checkpoint.parse_body(raw[: split + 1])
    except NoteError as exc:
        raise SignatureRefused(f"not a checkpoint note: {exc}", rule="cosignature.malformed",
                               field="note") from exc
    stored = services.ledger.tree.checkpoint(body.size)
    if not stored.note.encode("utf-8").startswith(raw[: split + 1]):
        raise SignatureRefused("this ledger signed a different checkpoint for that size",
                               rule="cosignature.unknown_checkpoint", field="note")
    registry = services.ledger.registry()
    now = services.ledger.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    keys = [k for k in registry.keys.values()
            if k.author == user.author and k.role == WITNESS_ROLE and k.valid_at(now)]
    known = stored.note.encode("utf-8")
    fresh = [line for line in raw[split + 2:].splitlines(keepends=True) if line not in known]
    added = 0
    for line in fresh:
        if any(_cosigned_by(user.author, key.public_key, raw[: split + 1], line) for key in keys):
            added += services.ledger.tree.add_cosignature(body.size, line.decode("utf-8"))
    if fresh and not added:
        raise SignatureRefused(f"no valid cosignature by {user.author}'s registered witness key",
                               rule="cosignature.invalid", field="note")
    return {"size": body.size, "added": added}


def _cosigned_by(name: str, key: Ed25519PublicKey, body: bytes, line: bytes) -> bool:
    try:
        CosignatureVerifier(name, key).verify(body, line)
    except WitnessError:
        return False
    return True

