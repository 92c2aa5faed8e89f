"""Request bodies shared by several routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

ENTRY_EXAMPLE: dict[str, Any] = {
    "entry": '{"author":"inv-001","client":"site-app/1.0","format":"trial-ledger/entry/v1",…}',
    "signature": "base64 Ed25519 signature over the UTF-8 bytes of `entry`",
    "payload": '{"date_of_birth":"1961-04-02","participant_id":"P-001",…}',
    "salt": "base64 of 32 random bytes",
}


class EntryIn(BaseModel):
    """One signed entry: entry and payload as RFC 8785 canonical JSON text, salt beside."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ENTRY_EXAMPLE]})

    entry: Annotated[str, Field(max_length=16_384, description="canonical JSON of the entry")]
    signature: Annotated[str, Field(max_length=100, description="base64 Ed25519 signature")]
    payload: Annotated[str, Field(max_length=262_144, description="canonical JSON of the payload")]
    salt: Annotated[str, Field(max_length=60, description="base64, 32 bytes")]
