"""The per-record work of verification that needs no order, shared by both ways of verifying.

Parsing the stored bytes with every canonical-form check, the payload digest (7), the record
hash and the RFC 9162 leaf hash of the exact sealed bytes depend on that record alone, and so
does an Ed25519 check against a key id's public key (the id is the key's hash: the key cannot
differ later). `Checked` carries what they found to the replay in log order (ledger/verify.py),
which alone decides: chains, time order, the key registry, the tree and checkpoints.

Worker processes (ledger/verify_parallel.py) hand rows back as plain tuples, `Wire` (marshal
writes and reads them several times faster than pickle): compact where the replay needs no more
than these answers, the stored bytes themselves where it does (the `keys` and `redactions`
streams, a signature not checked ahead, anything unexpected); the parent parses those in their
turn exactly as the in-process path does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import merkle
from .entry import Entry, Record, payload_digest
from .errors import LedgerError
from .keys import key_id, public_from_b64, signature_valid
from .redaction import REDACTIONS_STREAM
from .registry import KEY_FIELDS, KEYS_STREAM, SignatureCheck
from .store import Row


class Checked(NamedTuple):
    """One row and what the order-free checks found; `record` is kept where the replay needs it."""

    position: int
    stream: str  # the row's stream, version and type: what the store says (check (2))
    version: int
    topic: str
    leaf: bytes  # the leaf hash of the sealed bytes (of the stored bytes, when they do not parse)
    error: str | None  # (1) why the stored bytes do not parse; then the fields below are empty
    entry: Entry
    signature: bytes
    recorded_at: str
    hash: str
    redacted_by: str | None
    digest: str | None  # (7) how the payload digest fails; None if it holds or was redacted
    early: SignatureCheck | None  # the Ed25519 check made ahead, if any
    record: Record | None  # the whole record: the key registry and redactions need it


def digest_failure(record: Record) -> str | None:
    """(7) for a record that still has its payload; a redacted one is checked at the end."""
    if record.redacted_by is not None:
        return None
    if record.payload_text is None or record.salt is None:
        return "payload or salt missing"
    signed = record.entry.fields["payload_digest"]
    if payload_digest(record.salt, record.payload_text.encode("utf-8")) != signed:
        return "SHA-256(salt ‖ payload) differs from the signed payload_digest"
    return None


def checked(row: Row, record: Record, signature: SignatureCheck | None) -> Checked:
    return Checked(row.position, row.stream, row.version, row.topic, merkle.leaf_hash(record.sealed),
                   None, record.entry, record.signature, record.recorded_at, record.hash,
                   record.redacted_by, digest_failure(record), signature, record)


_NO_ENTRY = Entry(b"", {})


def unparsed(row: Row, error: LedgerError) -> Checked:
    return Checked(row.position, row.stream, row.version, row.topic, merkle.leaf_hash(row.state),
                   error.message, _NO_ENTRY, b"", "", "", None, None, None, None)


def public_keys(payload: Mapping[str, Any] | None) -> list[Ed25519PublicKey]:
    """The public keys a key-registry payload names, unjudged: they only say which key a key id
    stands for, so that signatures can be checked ahead; the registry decides what counts."""
    found = []
    for name in KEY_FIELDS:
        value = (payload or {}).get(name)
        if isinstance(value, str):
            try:
                found.append(public_from_b64(value))
            except (LedgerError, ValueError):
                continue
    return found


# -- in a worker: rows to wire tuples ---------------------------------------------------------

#: (position, stream, version, topic, leaf, error)                              did not parse
#: (position, stream, version, topic, state)                                   the parent parses it
#: (position, stream, version, topic, leaf, entry bytes, signature, recorded_at, hash, redacted_by,
#:  digest, valid, *the entry's REPLAY_FIELDS)                                    checked here
Wire = tuple[Any, ...]

#: The entry fields the replay reads of a row checked here (ledger/verify.py, `KeyRegistry.
#: authorise`), sent as values so that the parent does not parse the entry bytes again.
REPLAY_FIELDS = ("stream", "version", "type", "ledger", "prev", "key", "author", "role", "site")


class Worker:
    """A worker's state: the public keys it may check signatures against, by key id."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        for raw in keys:
            self._learn(Ed25519PublicKey.from_public_bytes(raw))

    def _learn(self, key: Ed25519PublicKey) -> None:
        self.keys[key_id(key)] = key  # the id computed here, never taken from a payload

    def wire(self, row: Row) -> Wire:
        head = (row.position, row.stream, row.version, row.topic)
        try:
            record = Record.from_stored(row.state, row.position)
        except LedgerError as exc:
            return (*head, merkle.leaf_hash(row.state), exc.message)
        except Exception:  # the parent meets the same failure in its turn
            return (*head, row.state)
        try:
            fields = record.entry.fields
            if fields["stream"] in (KEYS_STREAM, REDACTIONS_STREAM):
                if fields["stream"] == KEYS_STREAM:
                    for key in public_keys(record.payload()):
                        self._learn(key)
                return (*head, row.state)
            known = self.keys.get(fields["key"])
            if known is None:
                return (*head, row.state)
            valid = signature_valid(known, record.signature, record.entry.raw)
            return (*head, merkle.leaf_hash(record.sealed), record.entry.raw, record.signature,
                    record.recorded_at, record.hash, record.redacted_by, digest_failure(record), valid,
                    *[fields[name] for name in REPLAY_FIELDS])
        except Exception:  # as above: the parent parses it and meets the failure itself
            return (*head, row.state)


# -- in the parent: wire tuples back to Checked -------------------------------------------------

@lru_cache(maxsize=1024)
def _answer(kid: str, valid: bool) -> SignatureCheck:
    return SignatureCheck(kid, (lambda: True) if valid else (lambda: False))


def from_wire(item: Wire) -> Checked:
    """A checked or unparsed row as the replay takes it (stored bytes go through `reparse`)."""
    if len(item) == 6:
        position, stream, version, topic, leaf, error = item
        return Checked(position, stream, version, topic, leaf, error, _NO_ENTRY, b"", "", "", None,
                       None, None, None)
    # The worker parsed the entry bytes with every check and sent the fields the replay reads:
    # they are not parsed again here. The bytes come along, as the entry's own.
    fields = dict(zip(REPLAY_FIELDS, item[12:], strict=True))
    # Checked against the key whose hash is the entry's key id: `KeyRegistry.authorise` takes
    # this answer for that key id only, and still decides whether the key could sign.
    return Checked(item[0], item[1], item[2], item[3], item[4], None, Entry(item[5], fields),
                   item[6], item[7], item[8], item[9], item[10], _answer(fields["key"], item[11]),
                   None)


def reparse(item: Wire) -> Checked:
    """A row the worker handed back whole: parsed here, as the in-process path parses it; its
    signature is checked in its turn."""
    row = Row(*item)
    try:
        record = Record.from_stored(row.state, row.position)
    except LedgerError as exc:
        return unparsed(row, exc)
    return checked(row, record, None)
