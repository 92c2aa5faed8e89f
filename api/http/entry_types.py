"""What may be appended: every entry type of every stream, its schema versions, the roles that
may author it, and its payload as JSON Schema, straight from the trial's dispatch table, so a
client can build and check entries without reading the source. The key registry and redaction
types belong to the ledger itself and are listed with the payloads they take."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http import schemas
from api.http.contract import returns
from api.http.examples import PAYLOADS, submission
from domain.streams import KINDS

router = APIRouter(prefix="/v1", tags=["entries"])

_LEDGER_TYPES: list[dict[str, Any]] = [
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
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        stream = kind.name + "{id}" if kind.name.endswith("/") else kind.name
        for (type_, schema), model in sorted(kind.schemas.items()):
            rows.append({"stream": stream, "type": type_, "schema": schema,
                         "roles": sorted(kind.roles.get(type_, frozenset())),
                         "description": (model.__doc__ or "").strip().split("\n")[0],
                         "payload": model.model_json_schema(), "example": PAYLOADS[type_]})
    return rows + [{**row, "example": PAYLOADS[row["type"]]} for row in _LEDGER_TYPES]


def openapi_examples() -> dict[str, dict[str, Any]]:
    """One whole submission per entry type, for the OpenAPI document of `POST /v1/entries`."""
    return {row["type"]: {"summary": f"{row['type']} on {row['stream']}",
                          "value": submission(row["stream"], row["type"], row["roles"][0])}
            for row in entry_types()}


@router.get("/entry-types", response_model=None, responses=returns(schemas.EntryTypes))
def list_entry_types() -> dict[str, Any]:
    """Every entry type: stream, schema version, authoring roles, payload JSON Schema."""
    return {"entry_types": entry_types()}
