"""What may be appended: every entry type of every stream (from the trial's dispatch table), its
schema versions, the roles that may author it and its payload as JSON Schema; the key registry's
and redaction types belong to the ledger itself and are listed with the payloads they take."""

from __future__ import annotations

from typing import Any

from domain.streams import KINDS

LEDGER_TYPES: list[dict[str, Any]] = [
    {"stream": "keys", "type": "key.registered", "schema": 1, "roles": ["admin"],
     "payload": {"type": "object", "required": ["key", "public_key", "author", "name", "role", "site"],
                 "additionalProperties": False,
                 "properties": {k: {"type": "string"} for k in
                                ("key", "public_key", "author", "name", "role", "site")}}},
    {"stream": "keys", "type": "key.revoked", "schema": 1, "roles": ["admin"], "reason": "required",
     "payload": {"type": "object", "required": ["key"], "additionalProperties": False,
                 "properties": {"key": {"type": "string"}}}},
    {"stream": "redactions", "type": "record.redacted", "schema": 1,
     "roles": ["admin", "data_manager"], "reason": "required",
     "payload": {"type": "object", "required": ["record"], "additionalProperties": False,
                 "properties": {"record": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}},
]


def entry_types() -> list[dict[str, Any]]:
    """One row per stream, type and schema version: the trial's, then the ledger's."""
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        stream = kind.name + "{id}" if kind.name.endswith("/") else kind.name
        for (type_, schema), model in sorted(kind.schemas.items()):
            rows.append({"stream": stream, "type": type_, "schema": schema,
                         "roles": sorted(kind.roles.get(type_, frozenset())),
                         "description": (model.__doc__ or "").strip().split("\n")[0],
                         "payload": model.model_json_schema()})
    return rows + [dict(row) for row in LEDGER_TYPES]
