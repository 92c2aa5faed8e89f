"""Canonical bytes (RFC 8785, JCS) and the hashes taken over them."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import orjson
import rfc8785

from .errors import MalformedEntry

_SAFE_INT = 2**53 - 1  # JCS numbers are IEEE doubles: larger integers are not exact
_INF = float("inf")


class _Slow(Exception):
    """A value the fast path does not handle: the reference encoder decides."""


NotFast = _Slow  # for callers of `jcs_ready`, which then hand the value to `canonical`


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value; refuses what JCS cannot represent exactly.

    orjson writes JCS's bytes (sorted keys, ES6 number forms, the same string escapes) for
    ASCII keys, safe integers and non-integral finite doubles of magnitude >= 1e-4; integral
    doubles are written as integers, as JCS does. Anything else goes to the reference encoder
    (rfc8785), which also refuses what has no canonical form. tests/test_canonical.py checks the two agree.
    """
    try:
        return _fast(value)
    except (_Slow, orjson.JSONEncodeError):
        pass
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedEntry(f"value has no canonical JSON form: {exc}") from exc


def _fast(value: Any) -> bytes:
    """orjson's bytes of `value`, which are RFC 8785's; raises _Slow (or orjson's error) where
    only the reference encoder can say."""
    return orjson.dumps(_jcs_ready(value), option=orjson.OPT_SORT_KEYS)


def jcs_ready(value: Any) -> Any:
    """`value` as orjson (OPT_SORT_KEYS) writes RFC 8785's bytes of it; raises NotFast where
    only `canonical` can say. For callers that assemble a document around such values."""
    return _jcs_ready(value)


_PLAIN = frozenset((str, bool, type(None)))  # written by orjson exactly as JCS writes them


def _jcs_ready(value: Any) -> Any:
    """`value` with integral doubles as integers (a copy only where one changes); raises _Slow
    for what orjson would not write as JCS does. Scalars are handled inline: this is hot, and
    containers holding only strings, booleans and nulls are passed after one C-level type scan."""
    kind = type(value)
    if kind is dict:
        try:  # UTF-8 order (orjson) equals JCS's UTF-16 order for ASCII keys
            if not "".join(value).isascii():
                raise _Slow
        except TypeError:  # a key that is not a string
            raise _Slow from None
        if _PLAIN.issuperset(map(type, value.values())):
            return value
        changed = None
        for key, item in value.items():
            inner = type(item)
            if inner is str or inner is bool or item is None:
                continue
            ready = jcs_number(item) if inner is int or inner is float else _jcs_ready(item)
            if ready is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = ready
        return value if changed is None else changed
    if kind is list or kind is tuple:
        if _PLAIN.issuperset(map(type, value)):
            return value
        items = [item if type(item) is str or item is None else _jcs_ready(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind is str or kind is bool or value is None:
        return value
    if kind is int or kind is float:
        return jcs_number(value)
    raise _Slow


def jcs_number(value: float) -> float:
    """A number as orjson writes RFC 8785's bytes of it (an integral double as an integer);
    raises NotFast where only `canonical` can say. The one statement of JCS's number rules for
    the fast encoders (`canonical`, `jcs_ready`, the audit trail's rows)."""
    if type(value) is int:
        if -_SAFE_INT <= value <= _SAFE_INT:
            return value
        raise _Slow
    if value.is_integer():
        if -_SAFE_INT <= value <= _SAFE_INT:
            return int(value)
        raise _Slow
    if value != value or value in (_INF, -_INF) or -1e-4 < value < 1e-4:
        raise _Slow  # not finite, or tiny: ES6 writes 1e-6..1e-5 in fixed form, orjson does not
    return value


def parse_canonical(text: str | bytes, what: str, *, check: bool = True) -> Any:
    """Parse JSON that must already be in canonical form, so its bytes are the only bytes.

    Signatures and digests are checked over the bytes as received; refusing any other
    spelling of the same value means a record never has two byte forms. `check=False` skips
    the canonical-form check for bytes this ledger stored itself (views reading the log):
    verification always checks.
    """
    if not check:
        try:
            return orjson.loads(text)  # our own stored bytes: parsed, not judged
        except orjson.JSONDecodeError as exc:
            raise MalformedEntry(f"{what} is not valid JSON: {exc}", field=what) from exc
    try:
        raw = text.encode("utf-8") if isinstance(text, str) else text
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise MalformedEntry(f"{what} is not valid JSON: {exc}", field=what) from exc
    # orjson parses several times faster than the json module. Its value is taken only when the
    # fast encoder writes it back as exactly the bytes given, with no number it leaves to the
    # reference encoder: every number is then a safe integer or a non-integral double in fixed
    # notation, which both parsers read alike (orjson reads an integer past 64 bits as a double;
    # such a value takes the strict path, which refuses it as before). Anything else goes that
    # way, which alone says what is wrong.
    try:
        if _fast(fast := orjson.loads(raw)) == raw:
            return fast
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, _Slow, RecursionError):
        pass
    try:
        # One decoder for every call: json.loads with keyword arguments builds a new one each time.
        value = _STRICT.decode(text if isinstance(text, str) else raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise MalformedEntry(f"{what} is not valid JSON: {exc}", field=what) from exc
    if canonical(value) != raw:
        raise MalformedEntry(f"{what} is not in RFC 8785 canonical form", field=what)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT = json.JSONDecoder(parse_constant=_refuse_constant)


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
