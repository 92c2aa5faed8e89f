"""C2SP signed notes (https://c2sp.org/signed-note) and tlog checkpoints (https://c2sp.org/tlog-checkpoint).

Ed25519 only. ``open_note`` verifies the exact bytes it was given and hands back the signed text as
those same bytes; a checkpoint is parsed from that text, never rebuilt before verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "  # EM DASH, space
_SIG_PREFIX = SIGNATURE_PREFIX.encode()
_HEX = frozenset("0123456789abcdefABCDEF")


class NoteError(Exception):
    """A note, key or checkpoint is malformed, or a note's signatures do not verify."""


class CheckpointError(NoteError):
    """A checkpoint body is malformed."""


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: padded, no stray characters, and the one canonical encoding."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise NoteError(f"{what} is not valid base64: {err}") from err
    # Unused low bits could otherwise vary, giving one value several encodings.
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _check_name(name: str) -> None:
    """Key names: non-empty, no '+', no spaces or control characters (they delimit key strings)."""
    if not name or "+" in name or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise NoteError(f"invalid key name {name!r}: want non-empty, without '+', spaces or controls")
    try:
        name.encode()
    except UnicodeError as err:
        raise NoteError(f"invalid key name {name!r}: not encodable as UTF-8") from err


def _check_text(data: bytes, what: str) -> str:
    """Decode UTF-8 and refuse ASCII control characters other than newline."""
    try:
        text = data.decode()
    except UnicodeDecodeError as err:
        raise NoteError(f"{what} is not valid UTF-8 (byte {err.start})") from err
    bad = next((i for i, c in enumerate(text) if c < " " and c != "\n"), None)
    if bad is not None:
        raise NoteError(f"{what} contains control character {text[bad]!r} at character {bad}")
    return text


def _key_id(name: str, raw_public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), per C2SP signed-note."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + raw_public_key).digest()[:4]


def _parse_key_id(text: str, what: str) -> bytes:
    if len(text) != 8 or not set(text) <= _HEX:
        raise NoteError(f"{what} key id {text!r} is not 8 hex digits")
    return bytes.fromhex(text)


def _parse_key(text: str, what: str) -> bytes:
    key = _b64decode(text, f"{what} key")
    if len(key) != 33:
        raise NoteError(f"{what} key is {len(key)} bytes, want 33: 0x01 and a 32-byte Ed25519 key")
    if key[0] != ALG_ED25519:
        raise NoteError(f"{what} key algorithm is 0x{key[0]:02x}, want 0x01 (Ed25519)")
    return key[1:]


class NoteVerifier:
    """Checks signatures by one named Ed25519 key; notes name it by (name, key id)."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self._raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = _key_id(name, self._raw)

    @classmethod
    def from_key_string(cls, vkey: str) -> NoteVerifier:
        """Parse ``name+keyid+base64(0x01 || public key)``; base64 may itself hold '+'."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"verifier key has {len(parts)} '+'-separated fields, want 3")
        name, key_id = parts[0], _parse_key_id(parts[1], "verifier")
        _check_name(name)
        try:
            public_key = Ed25519PublicKey.from_public_bytes(_parse_key(parts[2], "verifier"))
        except ValueError as err:
            raise NoteError(f"verifier key is not an Ed25519 public key: {err}") from err
        verifier = cls(name, public_key)
        if verifier.key_id != key_id:
            raise NoteError(f"key id {key_id.hex()} does not match its key ({verifier.key_id.hex()})")
        return verifier

    def verifier_key_string(self) -> str:
        """``name+keyid+base64(0x01 || public key)``, the form verifiers are distributed in."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self._raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise NoteError unless ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature as err:
            raise NoteError(f"signature by {self.name}+{self.key_id.hex()} does not verify") from err


class NoteSigner:
    """Signs notes with one named Ed25519 private key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.verifier = NoteVerifier(name, private_key.public_key())
        self.name = name
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key_string(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)``; base64 may itself hold '+'."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("private key must look like PRIVATE+KEY+name+keyid+base64")
        name, key_id = parts[2], _parse_key_id(parts[3], "private")
        _check_name(name)
        try:
            private_key = Ed25519PrivateKey.from_private_bytes(_parse_key(parts[4], "private"))
        except ValueError as err:
            raise NoteError(f"private key is not an Ed25519 seed: {err}") from err
        signer = cls(name, private_key)
        if signer.key_id != key_id:
            raise NoteError(f"key id {key_id.hex()} does not match its key ({signer.key_id.hex()})")
        return signer

    def private_key_string(self) -> str:
        """``PRIVATE+KEY+name+keyid+base64(0x01 || seed)``: a secret, keep it out of logs."""
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier_key_string(self) -> str:
        """The matching verifier key string."""
        return self.verifier.verifier_key_string()

    def sign(self, message: bytes) -> bytes:
        """Raw 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)


def _check_note_text(text: bytes) -> None:
    _check_text(text, "note text")
    if not text.endswith(b"\n"):
        raise NoteError("note text must end with a newline")


def sign_note(text: bytes, signers: Sequence[NoteSigner]) -> bytes:
    """``text``, a blank line, then one ``— name base64(keyid || signature)`` line per signer."""
    _check_note_text(text)
    if not 0 < len(signers) <= MAX_SIGNATURES:
        raise NoteError(f"need 1 to {MAX_SIGNATURES} signers, got {len(signers)}")
    seen: set[tuple[str, bytes]] = set()
    lines = []
    for signer in signers:
        if (signer.name, signer.key_id) in seen:
            raise NoteError(f"duplicate signer {signer.name}+{signer.key_id.hex()}")
        seen.add((signer.name, signer.key_id))
        signature = base64.b64encode(signer.key_id + signer.sign(text))
        lines.append(_SIG_PREFIX + signer.name.encode() + b" " + signature + b"\n")
    return text + b"\n" + b"".join(lines)


def open_note(note: bytes, verifiers: Iterable[NoteVerifier]) -> tuple[bytes, list[str]]:
    """Verify a signed note; return its text (the received bytes) and the names of known signers.

    Signatures by unknown keys are skipped, but at least one known key must have signed, and
    every signature by a known key must verify.
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    if not note.endswith(b"\n"):
        raise NoteError("note does not end with a newline")
    _check_text(note, "note")
    split = note.rfind(b"\n\n")
    if split < 0:
        raise NoteError("note has no blank line between text and signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block[:-1].split(b"\n") if block else []
    if not lines:
        raise NoteError("note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, at most {MAX_SIGNATURES} allowed")
    verified: list[str] = []
    unknown: list[str] = []
    for number, line in enumerate(lines, start=1):
        name, key_id, signature = _parse_signature_line(line, number)
        verifier = known.get((name, key_id))
        if verifier is None:
            unknown.append(f"{name}+{key_id.hex()}")
            continue
        if len(signature) != 64:
            raise NoteError(f"signature line {number}: Ed25519 signature is {len(signature)} bytes, want 64")
        verifier.verify(text, signature)
        if name not in verified:
            verified.append(name)
    if not verified:
        raise NoteError(f"no signature by a known key; signed by: {', '.join(unknown)}")
    return text, verified


def _parse_signature_line(line: bytes, number: int) -> tuple[str, bytes, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"signature line {number} does not start with an em dash and a space")
    name, space, encoded = line[len(_SIG_PREFIX) :].decode().partition(" ")
    if not space:
        raise NoteError(f"signature line {number} has no space between name and signature")
    _check_name(name)
    raw = _b64decode(encoded, f"signature line {number}")
    if len(raw) < 5:
        raise NoteError(f"signature line {number} holds {len(raw)} bytes, want a 4-byte key id and more")
    return name, raw[:4], raw[4:]


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, line in [("origin", self.origin)] + [("extension line", e) for e in self.extensions]:
            if not isinstance(line, str) or not line or "\n" in line:
                raise CheckpointError(f"{what} {line!r} must be a non-empty single line")
            try:
                _check_text(line.encode(), what)
            except (UnicodeError, NoteError) as err:
                raise CheckpointError(f"{what} {line!r} is not printable UTF-8") from err
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size < 1 << 64:
            raise CheckpointError(f"tree size {self.size!r} must be an integer in 0..2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise CheckpointError(f"root hash must be 32 bytes, got {self.root!r}")

    def body(self) -> bytes:
        """The signed text: ``origin\\nsize\\nbase64(root)\\n`` and one line per extension."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse_body(cls, text: bytes | str) -> Checkpoint:
        """Parse a checkpoint body (the text of a signed note), rejecting anything malformed."""
        try:
            body = _check_text(text if isinstance(text, bytes) else text.encode(), "checkpoint")
        except UnicodeError as err:
            raise CheckpointError("checkpoint is not encodable as UTF-8") from err
        except NoteError as err:
            raise CheckpointError(str(err)) from err
        if not body.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint body has {len(lines)} lines, want origin, size and root")
        origin, size, root, *extensions = lines
        # Decimal ASCII without sign or leading zeros, so each size has one spelling.
        if not size or not set(size) <= set("0123456789") or (size[0] == "0" and size != "0"):
            raise CheckpointError(f"tree size {size!r} is not a decimal number without leading zeros")
        if len(size) > 20:
            raise CheckpointError(f"tree size {size!r} is too large, want below 2**64")
        try:
            root_hash = _b64decode(root, "root hash")
        except NoteError as err:
            raise CheckpointError(str(err)) from err
        return cls(origin, int(size), root_hash, tuple(extensions))


def open_checkpoint(note: bytes, verifiers: Iterable[NoteVerifier]) -> tuple[Checkpoint, list[str]]:
    """Verify a signed checkpoint note and parse its body; returns it and the names that signed it."""
    text, verified_by = open_note(note, verifiers)
    return Checkpoint.parse_body(text), verified_by
