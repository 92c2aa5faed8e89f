"""What may be appended (`GET /v1/entry-types`): every entry type of every stream, its schema
versions, the roles that may author it, and its payload as JSON Schema (api/services/entry_types.py),
each with an example, so a client can build and check entries without reading the source."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http import schemas
from api.http.contract import returns
from api.http.examples import example, submission
from api.services import entry_types as catalogue

router = APIRouter(prefix="/v1", tags=["entries"])


def entry_types() -> list[dict[str, Any]]:
    """The catalogue with an example payload for each type and schema version."""
    return [{**row, "example": example(row["type"], row["schema"])}
            for row in catalogue.entry_types()]


def openapi_examples() -> dict[str, dict[str, Any]]:
    """One whole submission per entry type, of its newest schema version (the rows are in
    schema order), for the OpenAPI document of `POST /v1/entries`."""
    return {row["type"]: {"summary": f"{row['type']} on {row['stream']}",
                          "value": submission(row["stream"], row["type"], row["roles"][0],
                                              row["schema"])}
            for row in entry_types()}


@router.get("/entry-types", response_model=None, responses=returns(schemas.EntryTypes))
def list_entry_types() -> dict[str, Any]:
    """Every entry type: stream, schema version, authoring roles, payload JSON Schema."""
    return {"entry_types": entry_types()}
