"""Justified redaction (GCP R7): a signed record that removes one record's payload and salt.

The redaction is itself a record on the `redactions` stream: who, when, why (entry `reason`) and
which record (payload `record`, its hash). The target's sealed bytes never change, so every
signature, chain link and Merkle proof still verifies; `verify` reports each redaction.
The database allows exactly this change and nothing else: an UPDATE of a records row is refused
unless a redaction names the row and the new state keeps the sealed bytes and drops the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .entry import Entry, Record
from .errors import RuleViolation
from .registry import KEYS_STREAM

REDACTIONS_STREAM = "redactions"
REDACTED = "record.redacted"
#: Roles that may redact, unless the ledger is given others.
REDACTOR_ROLES = frozenset({"admin", "data_manager"})
TABLE = "redactions"


def check(entry: Entry, payload: Mapping[str, Any], target: Record | None,
          redactors: frozenset[str], kept: frozenset[str] = frozenset()) -> None:
    """Refuse a redaction that is malformed, unauthorised, or aimed at the wrong record; `kept`
    names entry types that are never redacted (the trial's rules say which)."""
    if entry.fields["type"] != REDACTED:
        raise RuleViolation(f"the redactions stream holds only {REDACTED}", rule="redaction.type",
                            field="entry.type")
    if entry.fields["role"] not in redactors:
        raise RuleViolation(f"role {entry.fields['role']} may not redact; "
                            f"{', '.join(sorted(redactors))} may", rule="redaction.role",
                            field="entry.role")
    if entry.fields["reason"] is None:
        raise RuleViolation("a redaction needs a reason", rule="redaction.reason_required",
                            field="entry.reason")
    if set(payload) != {"record"} or not isinstance(payload["record"], str):
        raise RuleViolation("payload is {\"record\": RECORD_HASH}", rule="redaction.payload",
                            field="payload.record")
    if target is None:
        raise RuleViolation(f"no record has hash {payload['record']}", rule="redaction.unknown_record",
                            field="payload.record")
    if target.stream in (KEYS_STREAM, REDACTIONS_STREAM):
        raise RuleViolation(f"records of stream {target.stream} are never redacted",
                            rule="redaction.protected_stream", field="payload.record")
    if target.type in kept:
        raise RuleViolation(f"records of type {target.type} are never redacted: their payloads "
                            "hold no personal data and later decisions depend on them",
                            rule="redaction.protected_type", field="payload.record")
    if target.redacted_by is not None:
        raise RuleViolation("this record is redacted already", rule="redaction.already",
                            field="payload.record")
