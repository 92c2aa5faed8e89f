"""Shared pieces: findings, encodings and the value forms of docs/formats.md."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_V1 = "trial-ledger/bundle/v1"
MAX_LINE = 16 * 1024 * 1024
ZERO = "0" * 64
HEX64 = re.compile(r"[0-9a-f]{64}")
SERVER_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
OBS_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
STREAM = re.compile(r"[a-z][a-z0-9_-]{0,31}(/[A-Za-z0-9_.-]{1,64})?")
TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
KEY_ROLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
SIZE = re.compile(r"0|[1-9][0-9]*")
LEAF_GUESS = re.compile(rb'"leaf_index":\s*([0-9]{1,18})')
MEANINGS = {"authorship", "review", "approval", "responsibility", "verification"}
ENTRY_MEMBERS = {"format", "ledger", "stream", "version", "prev", "type", "schema", "payload_digest",
                 "occurred_at", "author", "role", "site", "key", "meaning", "reason", "client"}


class Bad(Exception):
    """A value that does not have the form formats.md gives it; the message says why."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64(text: Any, size: int | None = None) -> bytes:
    """Standard base64 with padding, nothing else (RFC 4648 §4), of `size` bytes if given."""
    if not isinstance(text, str):
        raise Bad("base64 value is not a string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Bad(f"not base64: {exc}") from None
    if base64.b64encode(raw).decode() != text:
        raise Bad("base64 not in its standard padded spelling")
    if size is not None and len(raw) != size:
        raise Bad(f"base64 value holds {len(raw)} bytes, not {size}")
    return raw


def server_time(value: Any) -> bool:
    if not isinstance(value, str) or not SERVER_TIME.fullmatch(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def canonical(text: str, what: str) -> tuple[Any, str | None]:
    """Parse a canonical text: (value, None), or (value, why it is not RFC 8785); Bad if not JSON."""
    try:
        raw = text.encode("utf-8")
        value = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(Bad(c)))
    except (ValueError, RecursionError, Bad) as exc:
        raise Bad(f"{what} is not JSON: {exc}") from None
    try:
        ok = rfc8785.dumps(value) == raw
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError) as exc:
        return value, f"{what} holds a value RFC 8785 cannot represent: {exc}"
    return value, None if ok else f"{what} is not in RFC 8785 canonical form"


def verify_ed25519(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class Line:
    """One readable record line."""
    no: int
    leaf: int
    position: int
    stored: str
    stream: str
    type: str
    version: int




class Report:
    """Findings in the order they are found."""

    def __init__(self) -> None:
        self.findings: list[dict[str, Any]] = []

    def add(self, check: str, detail: str, leaf: int | None = None, line: int | None = None,
            stream: str | None = None, version: int | None = None) -> None:
        self.findings.append({"check": check, "leaf_index": leaf, "line": line, "stream": stream,
                              "version": version, "detail": detail})
