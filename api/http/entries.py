"""Entries: append one (`POST /v1/entries`), a batch (`POST /v1/entries/batch`), and read a
stream's head (`GET /v1/streams/{stream}`), which a client signs its next entry on. The checks
and the recording of refusals are the append service's (api/services/append.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from api.http import contract
from api.http.bodies import EntryIn
from api.http.deps import ServicesDep, UserDep
from api.http.entry_types import openapi_examples
from api.services import append
from ledger.entry import Submission


class FollowUpOut(BaseModel):
    record_hash: str
    stream: str
    version: int
    type: str
    position: int
    recorded_at: str
    leaf_index: int


class ReceiptOut(FollowUpOut):
    checkpoint: str | None = Field(description=(
        "the signed checkpoint (C2SP note) covering the record; null when this commit signed "
        "none (a server run with --checkpoint-interval-ms signs at most one every N ms): "
        "GET /v1/records/{record_hash} answers its inclusion proof once one covers it"))
    follow_ups: list[FollowUpOut] = Field(
        description="records the rules added in the same transaction (e.g. the randomiser's "
        "answer); those a blinded role may not see are left out")


class HeadOut(BaseModel):
    stream: str
    version: int
    record_hash: str


StreamName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}(/[A-Za-z0-9_.-]{1,64})?$")]

router = APIRouter(prefix="/v1")


@router.post("/entries", status_code=201, response_model=ReceiptOut, tags=["entries"],
             responses=contract.problems(403, 409, **{
                 "422": "malformed entry, refused signature or rule (`rule`, `field`)"}))
async def post_entry(body: Annotated[EntryIn, Body(openapi_examples=openapi_examples())],
                     user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Appended in a group with the entries arriving meanwhile (group commit): one transaction
    and one signed checkpoint per group, each entry still decided on its own."""
    submission = Submission(body.entry, body.signature, body.payload, body.salt)
    return await append.append_async(services, user, submission)


class BatchOut(BaseModel):
    receipts: list[ReceiptOut]


class BatchIn(BaseModel):
    """Signed entries appended in one transaction: all of them, or none."""

    model_config = ConfigDict(extra="forbid")

    entries: Annotated[list[EntryIn], Field(min_length=1, max_length=1000)]


@router.post("/entries/batch", status_code=201, tags=["entries"], response_model=None,
             responses={201: {"model": BatchOut}, **contract.problems(**{
                 "403": "an entry is not the caller's (`detail` names its index)",
                 "409": "a stale version; nothing was written",
                 "422": "an entry was refused (`index` names it); nothing was written"})})
def post_batch(body: BatchIn, user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Import many signed entries at once (e.g. a lab's export): one transaction, all or nothing.
    At most one entry per stream: an entry names the hash of the record before it, and a record's
    hash exists only once it is sealed."""
    submissions = [Submission(e.entry, e.signature, e.payload, e.salt) for e in body.entries]
    return {"receipts": append.append_batch(services, user, submissions)}


@router.get("/streams/{stream:path}", response_model=HeadOut, tags=["entries"],
            responses=contract.problems(403))
def stream_head(stream: StreamName, user: UserDep, services: ServicesDep) -> dict[str, Any]:
    return append.head(services, user, stream)
