"""Appending a person's signed entries, one or a batch, as every entry point does it: the entry
must be the caller's own (author and role) and on a stream the caller may read (else one refusal
whatever the stream's state: a stale version's answer would tell its head), a sign-off must
carry the signer's registered printed name (R13), a refused edit check on critical data is
itself recorded (R9), and the receipts are masked as the caller's role requires."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio.to_thread

from api.services import blinding
from api.services.bootstrap import Services
from api.services.errors import Denied
from api.services.sites import check_stream, check_writable, check_writable_now
from api.services.tokens import User
from domain.labs import RECORDED_CHECKS
from ledger.entry import Submission
from ledger.errors import LedgerError, MalformedEntry, RuleViolation
from ledger.ledger import BatchError, FollowUp

SIGNOFF = "signoff.signed"


def append(services: Services, user: User, submission: Submission) -> dict[str, Any]:
    """Append one entry of `user`'s; answers with its receipt as the caller may see it."""
    admit(services, user, submission, entry_fields(submission))
    try:
        receipt = services.appender.append(submission)  # views: see Services.follow_views
    except RuleViolation as exc:
        record_refusal(services, submission, exc)
        raise
    return blinding.mask_receipt(user.role, receipt.as_dict())


async def append_async(services: Services, user: User, submission: Submission) -> dict[str, Any]:
    """`append` from an event loop: appended in a group with the entries arriving meanwhile
    (group commit); the reads the checks need run on a worker thread."""
    fields = entry_fields(submission)
    check_author(fields, user)
    stream = fields.get("stream") if fields is not None else None
    # A site's participants are judged from the log, here; only where that needs the views
    # (a registration whose payload was redacted) is the check made on a thread that may wait.
    if not check_writable_now(services, user, stream):
        await anyio.to_thread.run_sync(check_writable, services, user, stream)
    if is_signoff(fields):
        await anyio.to_thread.run_sync(check_printed_name, services, fields, submission)
    try:
        receipt = await services.appender.append_async(submission)  # views: see Services.follow_views
    except RuleViolation as exc:
        await anyio.to_thread.run_sync(record_refusal, services, submission, exc)
        raise
    return blinding.mask_receipt(user.role, receipt.as_dict())


def admit(services: Services, user: User, submission: Submission,
          fields: dict[str, Any] | None) -> None:
    """What is checked before the ledger sees the entry: whose it is, that its stream is one the
    caller may read, and a sign-off's name."""
    check_author(fields, user)
    check_writable(services, user, fields.get("stream") if fields is not None else None)
    if is_signoff(fields):
        check_printed_name(services, fields, submission)


def append_batch(services: Services, user: User, submissions: list[Submission]) -> list[dict[str, Any]]:
    """Append many entries of `user`'s in one transaction, all or none, at most one per stream (an
    entry names the hash of the record before it, which exists only once that one is sealed).
    A refusal names the entry's index."""
    streams: set[object] = set()
    for index, submission in enumerate(submissions):
        try:
            fields = entry_fields(submission)
            admit(services, user, submission, fields)
            stream = fields.get("stream") if fields is not None else None
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
            record_refusal(services, submissions[exc.index], exc.error)
        raise
    except RuleViolation as exc:  # a batch of one is refused as a lone entry is
        record_refusal(services, submissions[0], exc)
        raise
    services.views.catch_up()
    return [blinding.mask_receipt(user.role, r.as_dict()) for r in receipts]


def head(services: Services, user: User, stream: str) -> dict[str, Any]:
    """A stream's head, which the next entry on it is signed on; restricted streams and other
    sites' streams are refused as the caller's role requires."""
    if stream in blinding.RESTRICTED_STREAMS and not blinding.sees_allocation(user.role):
        raise Denied(403, "blinding.restricted_stream", f"the {stream} stream is not shown to "
                     f"role {user.role}")
    check_stream(services, user, stream)
    return services.ledger.head(stream).as_dict()


def entry_fields(submission: Submission) -> dict[str, Any] | None:
    """The entry's fields, parsed once for the checks made before the ledger (which reads the
    exact bytes again as it verifies them); None when the text is no JSON object, which the
    ledger then reports precisely."""
    try:
        fields = json.loads(submission.entry)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested too deep
        return None
    return fields if isinstance(fields, dict) else None


def check_author(fields: dict[str, Any] | None, user: User) -> None:
    """The caller may submit only their own entries (the key check then binds the signature)."""
    if fields is None:
        return  # the ledger reports the malformed entry precisely
    author, role = fields.get("author"), fields.get("role")
    if author != user.author or role != user.role:
        raise Denied(403, "auth.not_your_entry",
                     f"you are {user.author} ({user.role}); the entry is authored by {author} ({role})")


def is_signoff(fields: dict[str, Any] | None) -> bool:
    """Only sign-offs need the registry read of the printed-name check."""
    return fields is not None and fields.get("type") == SIGNOFF


def check_printed_name(services: Services, fields: dict[str, Any] | None, submission: Submission) -> None:
    """R13: a sign-off carries the signer's printed name as registered with their key."""
    if fields is None or not is_signoff(fields):
        return
    try:
        payload = json.loads(submission.payload)
    except (ValueError, TypeError, RecursionError):  # the ledger reports the malformed payload
        return
    if not isinstance(payload, dict):
        return
    key = services.ledger.registry().keys.get(str(fields.get("key")))
    if key is not None and payload.get("printed_name") != key.name:
        raise RuleViolation(f"the printed name must be the signer's registered name, {key.name}",
                            rule="signoff.printed_name", field="payload.printed_name")


def record_refusal(services: Services, submission: Submission, exc: RuleViolation) -> None:
    """R9: a refused edit check on critical data is itself recorded (value, check, who, when), so
    the corrected entry can name it. The refusal's record hash travels with the error."""
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


def _at_index(exc: Exception, index: int) -> None:
    """Say which entry of a batch a refusal is about."""
    if isinstance(exc, Denied):
        exc.detail = f"entry {index}: {exc.detail}"
    elif isinstance(exc, LedgerError):
        exc.message = f"entry {index}: {exc.message}"
