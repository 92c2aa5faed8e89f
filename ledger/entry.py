"""The signed formats: entry (what an author signs), submission, record (what is sealed).

Formats are promises to outsiders: each carries a version string, and every check is made
over the exact bytes received or stored, never over a re-serialisation.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson

from .canonical import b64decode, b64encode, canonical, parse_canonical, sha256_hex
from .entropy import random_bytes
from .errors import MalformedEntry

ENTRY_FORMAT = "trial-ledger/entry/v1"
RECORD_FORMAT = "trial-ledger/record/v1"
STORED_FORMAT = "trial-ledger/stored/v1"
ZERO_HASH = "0" * 64
SALT_BYTES = 32

#: Part 11 signature meanings (11.50(a)(3)); the controlled list an entry may name.
MEANINGS = frozenset({"authorship", "review", "approval", "responsibility", "verification"})

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_STREAM = re.compile(r"[a-z][a-z0-9_-]{0,31}(/[A-Za-z0-9_.-]{1,64})?")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")

# field -> (type, pattern or None); every field is required, `reason` may be null.
_ENTRY_FIELDS: dict[str, tuple[type, re.Pattern[str] | None]] = {
    "format": (str, None),
    "ledger": (str, _ID),
    "stream": (str, _STREAM),
    "version": (int, None),
    "prev": (str, _HEX64),
    "type": (str, _NAME),
    "schema": (int, None),
    "payload_digest": (str, _HEX64),
    "occurred_at": (str, _TIME),
    "author": (str, _ID),
    "role": (str, _NAME),
    "site": (str, _ID),
    "key": (str, _HEX64),
    "meaning": (str, None),
    "reason": (str, None),
    "client": (str, None),
}


def format_time(moment: datetime) -> str:
    """ISO 8601 UTC, fixed width, so that text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must carry their UTC offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def payload_digest(salt: bytes, payload_bytes: bytes) -> str:
    return hashlib.sha256(salt + payload_bytes).hexdigest()


def new_salt() -> bytes:
    return random_bytes(SALT_BYTES)


@dataclass(frozen=True, eq=False)
class Entry:
    """A parsed entry, holding the exact bytes it was parsed from (the signed bytes)."""

    raw: bytes
    fields: dict[str, Any]

    def __eq__(self, other: object) -> bool:
        # Any Entry, whichever reader made it (`ledger.trusted` keeps its text until asked).
        if not isinstance(other, Entry):
            return NotImplemented
        return self.raw == other.raw and self.fields == other.fields

    @classmethod
    def parse(cls, text: str | bytes, *, check: bool = True) -> Entry:
        value = parse_canonical(text, "entry", check=check)
        if not isinstance(value, dict):
            raise MalformedEntry("entry must be a JSON object", field="entry")
        if not check and value.keys() == _ENTRY_FIELDS.keys():
            # Read back from our own store: every field was checked when the entry was appended.
            return cls(raw=text.encode("utf-8") if isinstance(text, str) else text, fields=value)
        missing = sorted(set(_ENTRY_FIELDS) - set(value))
        extra = sorted(set(value) - set(_ENTRY_FIELDS))
        if missing:
            raise MalformedEntry(f"entry lacks {', '.join(missing)}", field=f"entry.{missing[0]}")
        if extra:
            raise MalformedEntry(f"entry has unknown {', '.join(extra)}", field=f"entry.{extra[0]}")
        for name, (kind, pattern) in _ENTRY_FIELDS.items():
            item = value[name]
            if name == "reason" and item is None:
                continue
            if not isinstance(item, kind) or isinstance(item, bool):
                raise MalformedEntry(f"entry.{name} must be {kind.__name__}", field=f"entry.{name}")
            if pattern is not None and not pattern.fullmatch(str(item)):
                raise MalformedEntry(f"entry.{name} has an invalid form", field=f"entry.{name}")
        if value["format"] != ENTRY_FORMAT:
            raise MalformedEntry(f"entry.format must be {ENTRY_FORMAT}", field="entry.format")
        if value["version"] < 1 or value["schema"] < 1:
            raise MalformedEntry("entry.version and entry.schema start at 1", field="entry.version")
        if value["meaning"] not in MEANINGS:
            raise MalformedEntry(
                f"entry.meaning must be one of {', '.join(sorted(MEANINGS))}", field="entry.meaning"
            )
        if value["reason"] is not None and not value["reason"].strip():
            raise MalformedEntry("entry.reason, when given, must not be blank", field="entry.reason")
        if not 0 < len(value["client"]) <= 200:
            raise MalformedEntry("entry.client names the originating client", field="entry.client")
        raw = text.encode("utf-8") if isinstance(text, str) else text  # valid: it parsed
        return cls(raw=raw, fields=value)

    def __getattr__(self, name: str) -> Any:
        """An entry's fields read as attributes (`entry.stream`)."""
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


def build_entry(**fields: Any) -> bytes:
    """Canonical bytes of a new entry (used by signers; the ledger parses, never builds)."""
    body = {"format": ENTRY_FORMAT, "reason": None, **fields}
    return canonical(body)


@dataclass(frozen=True)
class Submission:
    """A signed entry as it travels: entry and payload as canonical JSON text, beside salt."""

    entry: str
    signature: str
    payload: str
    salt: str

    @classmethod
    def sign(cls, entry: bytes, payload_bytes: bytes, salt: bytes, signature: bytes) -> Submission:
        return cls(
            entry=entry.decode("utf-8"),
            signature=b64encode(signature),
            payload=payload_bytes.decode("utf-8"),
            salt=b64encode(salt),
        )


@dataclass(frozen=True, eq=False)
class Record:
    """A record as stored: the sealed bytes (entry, signature, recorded_at) plus payload.
    `ledger.trusted.read_trusted` makes one from this ledger's own stored bytes for views,
    decoding some of its fields when first asked for; it equals the record `from_stored`
    makes (but for `checked`)."""

    sealed: bytes
    entry: Entry
    signature: bytes
    recorded_at: str
    payload_text: str | None
    salt: bytes | None
    position: int | None = None
    redacted_by: str | None = None  # hash of the redaction record that removed payload and salt
    checked: bool = True  # parsed with canonical-form checks (False: read from our own store)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return _fields(self) == _fields(other)

    @cached_property
    def hash(self) -> str:  # cached: views and rules ask for it several times per record
        return sha256_hex(self.sealed)

    @cached_property
    def stream(self) -> str:  # cached: a fold asks for it several times per record
        return str(self.entry.fields["stream"])

    @property
    def version(self) -> int:
        return int(self.entry.fields["version"])

    @property
    def type(self) -> str:
        return str(self.entry.fields["type"])

    def payload(self) -> dict[str, Any] | None:
        text = self.payload_text
        if text is None:
            return None
        if self.checked:
            value = parse_canonical(text, "payload")
        else:  # our own stored text, read for views: parsed, not judged (a rebuild's every record)
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise MalformedEntry(f"payload is not valid JSON: {exc}", field="payload") from exc
        return value if isinstance(value, dict) else None

    @classmethod
    def seal(
        cls, entry: Entry, signature: bytes, recorded_at: str, payload_text: str, salt: bytes,
        *, payload_checked: bool = False,
    ) -> Record:
        """`payload_checked`: the payload text was parsed in canonical form already (the append
        path checks it before the lock), so reading it back need not judge it again."""
        sealed = canonical(
            {
                "format": RECORD_FORMAT,
                "entry": entry.raw.decode("utf-8"),
                "signature": b64encode(signature),
                "recorded_at": recorded_at,
            }
        )
        return cls(sealed, entry, signature, recorded_at, payload_text, salt,
                   checked=not payload_checked)

    def stored_bytes(self) -> bytes:
        """What the store keeps: the sealed bytes verbatim, payload and salt beside them."""
        stored: dict[str, Any] = {
            "format": STORED_FORMAT,
            "sealed": self.sealed.decode("utf-8"),
            "payload": self.payload_text,
            "salt": None if self.salt is None else b64encode(self.salt),
        }
        if self.redacted_by is not None:
            stored["redacted_by"] = self.redacted_by
        return canonical(stored)

    def redacted(self, redaction_hash: str) -> Record:
        """This record with payload and salt removed; the sealed bytes stay exactly as they were."""
        return Record(self.sealed, self.entry, self.signature, self.recorded_at, None, None,
                      self.position, redaction_hash, self.checked)

    @classmethod
    def from_stored(cls, state: bytes, position: int | None = None, *, check: bool = True) -> Record:
        """Parse stored bytes; raises MalformedEntry naming what does not parse. `check=False`
        trusts the ledger's own stored bytes to be canonical (reading, not verifying): see
        `ledger.trusted.read_trusted`, which readers of the log call directly."""
        if not check:
            from .trusted import read_trusted  # (it builds on this module)

            return read_trusted(state, position)
        stored = parse_canonical(state, "stored record", check=check)
        if not isinstance(stored, dict) or stored.get("format") != STORED_FORMAT:
            raise MalformedEntry("stored record has an unknown format", field="stored")
        sealed_text = stored.get("sealed")
        if not isinstance(sealed_text, str):
            raise MalformedEntry("stored record has no sealed bytes", field="sealed")
        sealed = parse_canonical(sealed_text, "sealed record", check=check)
        if not isinstance(sealed, dict) or sealed.get("format") != RECORD_FORMAT:
            raise MalformedEntry("sealed record has an unknown format", field="sealed")
        if set(sealed) != {"format", "entry", "signature", "recorded_at"}:
            raise MalformedEntry("sealed record has unexpected fields", field="sealed")
        recorded_at = sealed["recorded_at"]
        if not isinstance(recorded_at, str) or not _TIME.fullmatch(recorded_at):
            raise MalformedEntry("recorded_at has an invalid form", field="recorded_at")
        if not isinstance(sealed["signature"], str) or not isinstance(sealed["entry"], str):
            raise MalformedEntry("sealed record fields have wrong types", field="sealed")
        signature = b64decode(sealed["signature"], "signature", length=64)
        entry = Entry.parse(sealed["entry"], check=check)
        if not set(stored) <= {"format", "sealed", "payload", "salt", "redacted_by"}:
            raise MalformedEntry("stored record has unexpected fields", field="stored")
        payload, salt = stored.get("payload"), stored.get("salt")
        if payload is not None and not isinstance(payload, str):
            raise MalformedEntry("stored payload must be text", field="payload")
        redacted_by = stored.get("redacted_by")
        if redacted_by is not None and (not isinstance(redacted_by, str) or payload is not None
                                        or salt is not None or not _HEX64.fullmatch(redacted_by)):
            raise MalformedEntry("a redacted record keeps neither payload nor salt", field="redacted_by")
        salt_bytes = None if salt is None else b64decode(salt, "salt", length=SALT_BYTES)
        return cls(sealed_text.encode("utf-8"), entry, signature, recorded_at, payload, salt_bytes,
                   position, redacted_by, check)


def _fields(record: Record) -> tuple[Any, ...]:
    return (record.sealed, record.entry, record.signature, record.recorded_at, record.payload_text,
            record.salt, record.position, record.redacted_by, record.checked)
