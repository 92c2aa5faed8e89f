"""Canonical bytes (RFC 8785, JCS) and the hashes taken over them."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import rfc8785

from .errors import MalformedEntry


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value; refuses what JCS cannot represent exactly."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedEntry(f"value has no canonical JSON form: {exc}") from exc


def parse_canonical(text: str | bytes, what: str, *, check: bool = True) -> Any:
    """Parse JSON that must already be in canonical form, so its bytes are the only bytes.

    Signatures and digests are checked over the bytes as received; refusing any other
    spelling of the same value means a record never has two byte forms. `check=False` skips
    the canonical-form check for bytes this ledger stored itself (views reading the log):
    verification always checks.
    """
    try:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedEntry(f"{what} is not valid JSON: {exc}", field=what) from exc
    if check and canonical(value) != raw:
        raise MalformedEntry(f"{what} is not in RFC 8785 canonical form", field=what)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str, *, length: int | None = None) -> bytes:
    """Strict standard base64 (with padding); optional exact length."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise MalformedEntry(f"{what} is not valid base64", field=what) from exc
    if length is not None and len(data) != length:
        raise MalformedEntry(f"{what} must be {length} bytes, got {len(data)}", field=what)
    return data
