"""Entries: append one (`POST /v1/entries`), a batch (`POST /v1/entries/batch`), and read a
stream's head (`GET /v1/streams/{stream}`), which a client signs its next entry on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.http import contract
from api.http.bodies import EntryIn
from api.http.deps import ServicesDep, UserDep
from api.http.entry_types import openapi_examples
from api.http.problems import Denied
from api.services import blinding
from api.services.bootstrap import Services
from api.services.sites import check_stream
from api.services.tokens import User
from ledger.entry import Submission
from ledger.errors import LedgerError, MalformedEntry, RuleViolation
from ledger.ledger import BatchError


class FollowUpOut(BaseModel):
    record_hash: str
    stream: str
    version: int
    type: str
    position: int
    recorded_at: str
    leaf_index: int


class ReceiptOut(FollowUpOut):
    checkpoint: str | None = Field(description="signed note covering the record, if sealed")
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
    _check_author(submission, user)
    if _is_signoff(submission):
        await run_in_threadpool(_check_printed_name, submission, services)
    try:
        receipt = await services.appender.append_async(submission)  # views caught up with its group
    except RuleViolation as exc:
        await run_in_threadpool(_record_refusal, services, submission, exc)
        raise
    return blinding.mask_receipt(user.role, receipt.as_dict())


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
    streams: set[object] = set()
    for index, submission in enumerate(submissions):
        try:
            _check_author(submission, user)
            _check_printed_name(submission, services)
            stream = _stream_of(submission)
            if stream is not None and stream in streams:
                raise MalformedEntry(f"a second entry on {stream}: one entry per stream per batch",
                                     rule="batch.one_per_stream", field="entry.stream")
            streams.add(stream)
        except (Denied, LedgerError) as exc:
            _at_index(exc, index)
            raise
    try:
        receipts = services.ledger.append_batch(submissions)
    except BatchError as exc:
        if isinstance(exc.error, RuleViolation):
            _record_refusal(services, submissions[exc.index], exc.error)
        raise
    services.views.catch_up()
    return {"receipts": [blinding.mask_receipt(user.role, r.as_dict()) for r in receipts]}


def _stream_of(submission: Submission) -> object:
    import json

    try:
        return json.loads(submission.entry).get("stream")
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
        return None  # the ledger reports the malformed entry precisely


def _at_index(exc: Exception, index: int) -> None:
    """Say which entry of a batch a refusal is about."""
    if isinstance(exc, Denied):
        exc.detail = f"entry {index}: {exc.detail}"
    elif isinstance(exc, LedgerError):
        exc.message = f"entry {index}: {exc.message}"


@router.get("/streams/{stream:path}", response_model=HeadOut, tags=["entries"],
            responses=contract.problems(403))
def stream_head(stream: StreamName, user: UserDep, services: ServicesDep) -> dict[str, Any]:
    if stream in blinding.RESTRICTED_STREAMS and not blinding.sees_allocation(user.role):
        raise Denied(403, "blinding.restricted_stream", f"the {stream} stream is not shown to "
                     f"role {user.role}")
    check_stream(services, user, stream)
    return services.ledger.head(stream).as_dict()


def _record_refusal(services: Services, submission: Submission, exc: RuleViolation) -> None:
    """R9: a refused edit check on critical data is itself recorded (value, check, who, when), so
    the corrected entry can name it. The refusal's record hash travels in the problem body."""
    import hashlib
    import json

    from domain.labs import RECORDED_CHECKS
    from ledger.ledger import FollowUp

    if exc.rule not in RECORDED_CHECKS:
        return
    entry, payload = json.loads(submission.entry), json.loads(submission.payload)
    facts = {"entry_type": entry["type"], "submitted_by": entry["author"], "check": exc.rule,
             "entry_digest": hashlib.sha256(submission.entry.encode("utf-8")).hexdigest(),
             "message": exc.message[:500], "analyte": payload.get("analyte"),
             "value": payload.get("value"), "unit": payload.get("unit")}
    receipt = services.ledger.append_follow_up(FollowUp(entry["stream"], "edit_check.failed", facts,
                                                        "system"))
    services.views.catch_up()
    exc.errors.append({"field": "refusal", "message": "this refusal is recorded",
                       "record_hash": receipt.record_hash})


def _is_signoff(submission: Submission) -> bool:
    return '"type":"signoff.signed"' in submission.entry if isinstance(submission.entry, str) else False


def _check_printed_name(submission: Submission, services: Services) -> None:
    """R13: a sign-off carries the signer's printed name as registered with their key."""
    import json

    try:
        entry, payload = json.loads(submission.entry), json.loads(submission.payload)
    except (ValueError, RecursionError):  # the ledger reports the malformed entry precisely
        return
    if not isinstance(entry, dict) or entry.get("type") != "signoff.signed" or not isinstance(payload, dict):
        return
    key = services.ledger.registry().keys.get(str(entry.get("key")))
    if key is not None and payload.get("printed_name") != key.name:
        raise RuleViolation(f"the printed name must be the signer's registered name, {key.name}",
                            rule="signoff.printed_name", field="payload.printed_name")


def _check_author(submission: Submission, user: User) -> None:
    """The caller may submit only their own entries (the key check then binds the signature)."""
    import json

    try:
        entry = json.loads(submission.entry)
        author, role = entry.get("author"), entry.get("role")
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
        return  # the ledger reports the malformed entry precisely
    if author != user.author or role != user.role:
        raise Denied(403, "auth.not_your_entry",
                     f"you are {user.author} ({user.role}); the entry is authored by {author} ({role})")
