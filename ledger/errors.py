"""One error hierarchy for the ledger; the API maps each family to one HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class LedgerError(Exception):
    """Root of everything the ledger raises on purpose."""

    #: Stable, machine-readable name of the rule or check that fired.
    rule: str = "ledger.error"

    def __init__(self, message: str, *, rule: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if rule is not None:
            self.rule = rule
        self.field = field


class MalformedEntry(LedgerError):
    """The submission cannot be parsed or is not in canonical form (HTTP 422)."""

    rule = "entry.malformed"


class SignatureRefused(LedgerError):
    """The signature or the key behind it does not count (HTTP 422, rule names why)."""

    rule = "signature.invalid"


class RuleViolation(LedgerError):
    """The stream's decider refused the entry (HTTP 422)."""

    rule = "rule.violated"

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, rule=rule, field=field)
        self.errors = errors or []


@dataclass(frozen=True)
class Head:
    """Where a stream stands: the version and record hash the next entry must follow."""

    stream: str
    version: int
    record_hash: str
    recorded_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "version": self.version, "record_hash": self.record_hash}


class Conflict(LedgerError):
    """The entry was signed against a stale head (HTTP 409); carries the current head."""

    rule = "stream.stale_version"

    def __init__(self, message: str, *, head: Head) -> None:
        super().__init__(message, field="version")
        self.head = head


class NotInitialised(LedgerError):
    rule = "ledger.not_initialised"


class NotFound(LedgerError):
    rule = "not_found"


@dataclass
class Finding:
    """One failed check found by verification, located in the log."""

    check: str
    detail: str
    position: int | None = None
    stream: str | None = None
    version: int | None = None
    leaf_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "detail": self.detail,
            "leaf_index": self.leaf_index,
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            **self.extra,
        }
