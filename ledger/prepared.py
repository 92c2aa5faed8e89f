"""A submission made ready for the write lock: everything about it that needs no lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .canonical import b64decode, parse_canonical
from .contract import BatchError
from .entry import Entry, Submission, payload_digest
from .errors import Conflict, LedgerError, MalformedEntry
from .registry import SignatureCheck


@dataclass(frozen=True)
class Prepared:
    entry: Entry
    signature: bytes
    payload_text: str
    payload: dict[str, Any]
    salt: bytes
    checked: SignatureCheck | None = None  # the Ed25519 check, when it was started early

    def with_check(self, checked: SignatureCheck) -> Prepared:
        """`dataclasses.replace(self, checked=checked)` without its cost per entry of a batch
        (it reads the fields' descriptions and calls `__init__`, which checks nothing here)."""
        new = object.__new__(Prepared)
        new.__dict__.update(self.__dict__, checked=checked)
        return new


def prepare(submission: Submission) -> Prepared:
    """Parse, canonical form, payload digest."""
    for name in ("entry", "signature", "payload", "salt"):
        if not isinstance(getattr(submission, name), str):
            raise MalformedEntry(f"{name} must be a string", field=name)
    entry = Entry.parse(submission.entry)
    signature = b64decode(submission.signature, "signature", length=64)
    salt = b64decode(submission.salt, "salt", length=32)
    payload = parse_canonical(submission.payload, "payload")
    if not isinstance(payload, dict):
        raise MalformedEntry("payload must be a JSON object", field="payload")
    digest = payload_digest(salt, submission.payload.encode("utf-8"))
    if digest != entry.fields["payload_digest"]:
        raise MalformedEntry("payload_digest does not match SHA-256(salt ‖ payload)",
                             rule="entry.payload_digest", field="entry.payload_digest")
    return Prepared(entry, signature, submission.payload, payload, salt)


def numbered(index: int, total: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one entry's step; in a batch of several, say which entry failed."""
    if total == 1:
        return fn(*args)
    try:
        return fn(*args)
    except Conflict:
        raise
    except LedgerError as exc:
        raise BatchError(index, exc) from exc
