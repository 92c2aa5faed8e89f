"""The cosignature/v1 format (https://c2sp.org/tlog-cosignature): witness keys, cosigning a checkpoint
body, and checking that enough witnesses cosigned a log's signed checkpoint. A cosignature is an Ed25519
signature, by the witness's own key, over ``"cosignature/v1\\ntime <t>\\n" || checkpoint body``; it
travels as a signed-note line ``— <witness name> base64(key id || uint64be(t) || signature)`` beside
the log's own signature.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .note import (
    SIGNATURE_PREFIX,
    Checkpoint,
    NoteError,
    NoteVerifier,
    _b64decode,
    _check_name,
    open_checkpoint,
)

ALG_COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = (1 << 63) - 1
_SIG_PREFIX = SIGNATURE_PREFIX.encode()
_LINE_BYTES = 4 + 8 + 64  # key id, timestamp, Ed25519 signature
_HEX = frozenset("0123456789abcdefABCDEF")


class WitnessError(Exception):
    """A cosignature, witness key or checkpoint is refused; the message says which and why.

    Deliberately not a NoteError: a refused checkpoint may be evidence that a log forked, and a
    caller that treats NoteError as "malformed input" must not swallow that. Note and Merkle
    failures met on the way are re-raised as WitnessError (the cause is chained).
    """


def _key_id(name: str, raw_public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x04 || public key)[:4]: the cosignature/v1 key id."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + raw_public_key).digest()[:4]


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise WitnessError(f"timestamp {timestamp!r} must be POSIX seconds in 0..2**63-1")


def _witness_name(name: str) -> None:
    try:
        _check_name(name)
    except NoteError as err:
        raise WitnessError(f"witness {err}") from err


def cosignature_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: a header line, a time line, then the whole checkpoint body."""
    _check_timestamp(timestamp)
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + checkpoint_body


class CosignatureVerifier:
    """Checks cosignature/v1 lines by one named witness key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _witness_name(name)
        self.name = name
        self.public_key = public_key
        self.raw_public_key = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = _key_id(name, self.raw_public_key)

    @classmethod
    def from_key_string(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``name+keyid+base64(0x04 || public key)``; base64 may itself hold '+'."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise WitnessError(f"witness key has {len(parts)} '+'-separated fields, want 3")
        name, hex_id, encoded = parts
        _witness_name(name)
        if len(hex_id) != 8 or not set(hex_id) <= _HEX:
            raise WitnessError(f"witness key id {hex_id!r} is not 8 hex digits")
        try:
            key = _b64decode(encoded, "witness key")
        except NoteError as err:
            raise WitnessError(str(err)) from err
        if len(key) != 33:
            raise WitnessError(f"witness key is {len(key)} bytes, want 33: 0x04 and a 32-byte Ed25519 key")
        if key[0] != ALG_COSIGNATURE_V1:
            raise WitnessError(f"witness key type is 0x{key[0]:02x}, want 0x04 (Ed25519 cosignature/v1)")
        try:
            public_key = Ed25519PublicKey.from_public_bytes(key[1:])
        except ValueError as err:
            raise WitnessError(f"witness key is not an Ed25519 public key: {err}") from err
        verifier = cls(name, public_key)
        if verifier.key_id.hex() != hex_id.lower():
            raise WitnessError(f"witness key id {hex_id} does not match its key ({verifier.key_id.hex()})")
        return verifier

    def verifier_key_string(self) -> str:
        """``name+keyid+base64(0x04 || public key)``, the form witness keys are distributed in."""
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.raw_public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, checkpoint_body: bytes, line: bytes) -> int:
        """Check one cosignature line (its final newline optional) over ``checkpoint_body``.

        Returns the cosignature's timestamp; raises WitnessError unless this key signed this body.
        """
        name, payload = _split_line(line.removesuffix(b"\n"))
        if name != self.name:
            raise WitnessError(f"cosignature is by {name!r}, not by witness {self.name!r}")
        if len(payload) != _LINE_BYTES:
            raise WitnessError(
                f"cosignature by {name} holds {len(payload)} bytes, want {_LINE_BYTES}: "
                "a 4-byte key id, an 8-byte timestamp and a 64-byte Ed25519 signature"
            )
        if payload[:4] != self.key_id:
            raise WitnessError(
                f"cosignature by {name} has key id {payload[:4].hex()}, want {self.key_id.hex()}"
            )
        timestamp = int.from_bytes(payload[4:12], "big")
        if timestamp > MAX_TIMESTAMP:
            raise WitnessError(f"cosignature by {name} has timestamp {timestamp}, above 2**63-1")
        try:
            self.public_key.verify(payload[12:], cosignature_message(checkpoint_body, timestamp))
        except InvalidSignature as err:
            raise WitnessError(
                f"cosignature by {name}+{self.key_id.hex()} (time {timestamp}) does not verify"
            ) from err
        return timestamp


class CosignatureSigner:
    """Cosigns checkpoints with one named Ed25519 witness key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.verifier = CosignatureVerifier(name, private_key.public_key())
        self.name = name
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        """A witness with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    def verifier_key_string(self) -> str:
        """The matching witness verifier key string."""
        return self.verifier.verifier_key_string()

    def cosign(self, checkpoint_body: bytes, timestamp: int) -> bytes:
        """The signature line ``— name base64(keyid || uint64be(timestamp) || signature)\\n``.

        Only a well-formed checkpoint body is signed: the witness's word is about checkpoints.
        """
        try:
            Checkpoint.parse_body(checkpoint_body)
        except NoteError as err:
            raise WitnessError(f"refusing to cosign a malformed checkpoint: {err}") from err
        signature = self.private_key.sign(cosignature_message(checkpoint_body, timestamp))
        payload = self.key_id + timestamp.to_bytes(8, "big") + signature
        return _SIG_PREFIX + self.name.encode() + b" " + base64.b64encode(payload) + b"\n"


def _split_line(line: bytes) -> tuple[str, bytes]:
    """Name and decoded payload of one signature line (without its newline)."""
    if not line.startswith(_SIG_PREFIX):
        raise WitnessError("signature line does not start with an em dash and a space")
    try:
        name, space, encoded = line[len(_SIG_PREFIX) :].decode().partition(" ")
    except UnicodeDecodeError as err:
        raise WitnessError(f"signature line is not valid UTF-8 (byte {err.start})") from err
    if not space:
        raise WitnessError("signature line has no space between name and signature")
    _witness_name(name)
    try:
        return name, _b64decode(encoded, f"signature line of {name}")
    except NoteError as err:
        raise WitnessError(str(err)) from err


def _split_note(note: bytes) -> tuple[bytes, list[bytes]]:
    """Text and signature lines of a note ``open_note`` accepted, or that was stored after it did."""
    split = note.rfind(b"\n\n")
    return note[: split + 1], note[split + 2 : -1].split(b"\n")


def _open_log_checkpoint(note: bytes, log: NoteVerifier) -> tuple[Checkpoint, bytes, list[bytes]]:
    """Verify the log's signature; return the checkpoint, its body and the note's signature lines."""
    try:
        checkpoint, _ = open_checkpoint(note, [log])
    except NoteError as err:
        raise WitnessError(
            f"checkpoint is not signed by log key {log.name}+{log.key_id.hex()}: {err}"
        ) from err
    text, lines = _split_note(note)
    return checkpoint, text, lines


def verify_cosigned(
    note: bytes, log: NoteVerifier, witnesses: Sequence[CosignatureVerifier], *, required: int
) -> Checkpoint:
    """Check the log's signature and that at least ``required`` of ``witnesses`` cosigned the body.

    Lines by other keys are ignored, as signed-note asks; a line that names a listed witness must
    verify or the whole note is refused. A key listed under several names counts once: the
    cosigned message does not include the name, so one key holder could otherwise pose as many.
    """
    if isinstance(required, bool) or not isinstance(required, int) or required < 1:
        raise WitnessError(f"required must be a positive number of witnesses, got {required!r}")
    distinct_keys = {w.raw_public_key for w in witnesses}
    if len(distinct_keys) < required:
        raise WitnessError(
            f"policy needs {required} cosignatures but names {len(distinct_keys)} witness keys"
        )
    checkpoint, body, lines = _open_log_checkpoint(note, log)
    known = {(w.name, w.key_id): w for w in witnesses}
    cosigned: set[bytes] = set()
    for line in lines:
        name, payload = _split_line(line)
        witness = known.get((name, payload[:4]))
        if witness is not None:
            witness.verify(body, line)
            cosigned.add(witness.raw_public_key)
    if len(cosigned) < required:
        raise WitnessError(
            f"checkpoint {checkpoint.origin} at size {checkpoint.size} has {len(cosigned)} of the "
            f"{required} required witness cosignatures"
        )
    return checkpoint
