"""The trusted reader: records read back from this ledger's own store for views, rules and
key lookups, decoded but not judged. `verify` never reads through it.

`Record.from_stored` checks every byte's canonical form; bytes this ledger stored itself passed
those checks when they were appended, so readers that fold the whole log (a rebuild, the views,
the append path's stream histories) take them as they are, and decode what they rarely need
only when it is asked for: the entry's bytes (signature checks and exports want them), the
signature and the salt. tests/test_rebuild_fast_paths.py holds each such record equal to the
plain one.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Any

import orjson

from .entry import Entry, Record
from .errors import MalformedEntry


class TrustedEntry(Entry):
    """An Entry that keeps its text until its bytes (`raw`) are first asked for."""

    def __getattr__(self, name: str) -> Any:
        if name == "raw" and "_text" in self.__dict__:
            raw = self.__dict__["raw"] = self.__dict__.pop("_text").encode("utf-8")
            return raw
        return super().__getattr__(name)


class TrustedRecord(Record):
    """A Record that keeps its signature and salt as their stored base64 text until one is
    first asked for: a rebuild reads every record and needs neither."""

    def __getattr__(self, name: str) -> Any:
        encoded = self.__dict__.get("_encoded")
        if encoded is None or name not in ("signature", "salt"):
            raise AttributeError(name)
        signature, salt = encoded
        try:
            decoded = {"signature": binascii.a2b_base64(signature),
                       "salt": None if salt is None else binascii.a2b_base64(salt)}
        except binascii.Error as exc:
            raise MalformedEntry(f"stored record does not decode: {exc}", field="stored") from exc
        self.__dict__.update(decoded)
        del self.__dict__["_encoded"]
        return decoded[name]


def read_trusted(state: bytes, position: int | None = None) -> Record:
    """Our own stored bytes, read back for views: decoded, not judged (verify judges). Raises
    MalformedEntry for bytes that do not decode."""
    try:
        stored = orjson.loads(state)
        sealed_text = stored["sealed"]
        sealed = orjson.loads(sealed_text)
        entry_text = sealed["entry"]
        fields = orjson.loads(entry_text)
        salt = stored.get("salt")
        # Filled in directly: a frozen dataclass's __init__ (one object.__setattr__ a field)
        # costs as much as a parse here, and a rebuild decodes every record of the log.
        entry = object.__new__(TrustedEntry)
        entry.__dict__.update(fields=fields, _text=entry_text)  # `raw` when asked for
        record = object.__new__(TrustedRecord)
        sealed_bytes = sealed_text.encode("utf-8")
        # `hash` set now: every reader of views asks for it, and the cached property's
        # first lookup costs a third of the digest itself.
        stream = fields["stream"]
        record.__dict__.update(
            hash=hashlib.sha256(sealed_bytes).hexdigest(), sealed=sealed_bytes, entry=entry,
            stream=stream if type(stream) is str else str(stream),
            recorded_at=sealed["recorded_at"], payload_text=stored.get("payload"),
            position=position, redacted_by=stored.get("redacted_by"), checked=False,
            _encoded=(sealed["signature"], salt))
        if type(sealed["signature"]) is not str or (salt is not None and type(salt) is not str):
            raise TypeError("signature and salt are base64 text")
        return record
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise MalformedEntry(f"stored record does not decode: {exc}", field="stored") from exc
