"""Checks the record page shows, done the way an inspector's own client would: from the bytes the
API serves (`GET /v1/records/{hash}`), not from the server's word. The signature is checked
against the key registry, the payload against its signed digest, and the inclusion proof against
the root of the latest checkpoint, whose signature is checked against the ledger's key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from api.http.witnessing import checkpoint_verifier
from api.ui.wording import when
from ledger import merkle
from ledger.canonical import b64decode, sha256_hex
from ledger.entry import Entry, payload_digest
from ledger.errors import LedgerError
from ledger.note import NoteError, open_checkpoint
from ledger.registry import KeyRegistry


@dataclass(frozen=True)
class Check:
    ok: bool | None  # None: nothing to check (e.g. not yet under a checkpoint)
    detail: str


@dataclass(frozen=True)
class Checked:
    """A served record and what was checked about it."""

    entry: dict[str, Any]
    signer_name: str | None
    signature: Check
    payload: Check
    inclusion: Check
    checkpoint_size: int | None
    proof: list[str]


def check_record(body: dict[str, Any], registry: KeyRegistry) -> Checked:
    """`body` is the API's answer for one record: {"record", "checkpoint", "inclusion"?}."""
    view = body["record"]
    sealed_text: str = view["sealed"]
    sealed = json.loads(sealed_text)
    entry = Entry.parse(sealed["entry"])
    known = registry.keys.get(str(entry.fields["key"]))
    inclusion = body.get("inclusion")
    return Checked(
        entry=entry.fields, signer_name=known.name if known else None,
        signature=_signature(entry, sealed, registry),
        payload=_payload(view, entry),
        inclusion=_inclusion(sealed_text, view, body["checkpoint"], inclusion, registry),
        checkpoint_size=inclusion["tree_size"] if inclusion else None,
        proof=list(inclusion["proof"]) if inclusion else [])


def _signature(entry: Entry, sealed: dict[str, Any], registry: KeyRegistry) -> Check:
    try:
        signature = b64decode(sealed["signature"], "signature", length=64)
        key = registry.authorise(entry, signature, sealed["recorded_at"], by_time=True)
    except LedgerError as exc:
        return Check(False, f"{exc.rule}: {exc.message}")
    return Check(True, f"Ed25519 signature verifies with key {key.key_id[:16]}…, registered to "
                 f"{key.author} ({key.role}, {key.site}) and valid at {when(sealed['recorded_at'])}")


def _payload(view: dict[str, Any], entry: Entry) -> Check:
    if view.get("redacted_by"):
        return Check(None, f"payload removed by redaction record {view['redacted_by'][:16]}…; the "
                     "signed digest still binds what it was")
    if view.get("withheld"):
        return Check(None, "payload withheld from your role (blinding); the signature covers its "
                     "digest")
    if view.get("payload") is None or view.get("salt") is None:
        return Check(False, "payload or salt missing")
    digest = payload_digest(b64decode(view["salt"], "salt"), view["payload"].encode("utf-8"))
    if digest != entry.fields["payload_digest"]:
        return Check(False, "SHA-256(salt ‖ payload) differs from the signed payload_digest")
    return Check(True, "SHA-256(salt ‖ payload) equals the signed payload_digest")


def _inclusion(sealed_text: str, view: dict[str, Any], note: str, inclusion: dict[str, Any] | None,
               registry: KeyRegistry) -> Check:
    sealed = sealed_text.encode("utf-8")
    if sha256_hex(sealed) != view["record_hash"]:
        return Check(False, "the sealed bytes do not hash to the record hash")
    try:
        checkpoint, signers = open_checkpoint(note.encode("utf-8"), [checkpoint_verifier(registry)])
    except (NoteError, LedgerError) as exc:
        return Check(False, f"the latest checkpoint does not verify: {exc}")
    if inclusion is None:
        return Check(None, f"not yet covered: the latest checkpoint (size {checkpoint.size}) was "
                     f"signed before leaf {view['leaf_index']}")
    if inclusion["tree_size"] != checkpoint.size:
        return Check(False, "the proof is for another tree size than the latest checkpoint")
    try:
        proof = [b64decode(h, "proof hash", length=32) for h in inclusion["proof"]]
        merkle.verify_inclusion(inclusion["leaf_index"], checkpoint.size, merkle.leaf_hash(sealed),
                                proof, checkpoint.root)
    except (merkle.MerkleError, LedgerError) as exc:
        return Check(False, f"inclusion proof fails: {exc}")
    return Check(True, f"leaf {inclusion['leaf_index']} is in the tree of size {checkpoint.size} "
                 f"whose root the checkpoint signed by {', '.join(signers)} names "
                 f"({len(proof)} proof hashes, RFC 9162)")
