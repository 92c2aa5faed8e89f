"""Review of a participant's data: SDV (R31), locks (R32) and the investigator's sign-off, a
Part 11 e-signature (R13–R16).

- `sdv.recorded` (monitor): source data verified for a visit and form, at a level.
- `lock.applied` (data manager): a visit or the whole casebook; data entries for it are refused
  until `lock.released` (data manager, reason required). Changes made after a release are marked
  as post-lock changes in the participant's state.
- `signoff.signed` (investigator, meaning from the controlled list): printed name and meaning in
  the payload, the time is the record's; the entry's `prev` binds it to the hash of the exact
  last record it signs (R14). Any later data record marks it superseded (R15); the record stays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .facts import Fact, Rejection
from .participant import ParticipantState, Payload

SIGNATURE_MEANINGS = ("approval", "responsibility", "review")
REVIEW_TYPES = frozenset({"sdv.recorded", "lock.applied", "lock.released", "signoff.signed",
                          "query.opened", "query.answered", "query.closed", "deviation.recorded",
                          "eligibility.determined", "unblinding.requested", "participant.unblinded",
                          "edit_check.failed", "safety_report.submitted"})
# Entries that change a visit's data, and the payload field naming the visit.
VISIT_DATA = {"lab.resulted": "visit", "visit.completed": "visit", "assessment.recorded": "visit"}
CASEBOOK = "casebook"
#: Never redacted: their payloads hold no personal data, and locks and releases decide which
#: later entries are accepted (a redaction would change what the trial's rules allowed).
NEVER_REDACTED = frozenset({"sdv.recorded", "lock.applied", "lock.released"})


class SdvRecorded(Payload):
    visit: Annotated[str, Field(min_length=1, max_length=32)]
    form: Annotated[str, Field(min_length=1, max_length=64)]
    level: Literal["none", "partial", "full"]


class Lock(Payload):
    scope: Annotated[str, Field(min_length=1, max_length=32, description="a visit id or 'casebook'")]


class SignoffSigned(Payload):
    printed_name: Annotated[str, Field(min_length=1, max_length=200)]
    statement: Annotated[str, Field(min_length=1, max_length=500)]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("sdv.recorded", 1): SdvRecorded, ("lock.applied", 1): Lock, ("lock.released", 1): Lock,
    ("signoff.signed", 1): SignoffSigned,
}


def leaves_data_changes_unmarked(state: ParticipantState) -> bool:
    """True when a data change would leave the review state as it is: no scope was ever
    unlocked and no sign-off stands (a data change then marks nothing)."""
    return not state.unlocked and not any(s["status"] == "valid" for s in state.signoffs)


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    p = fact.payload
    if fact.redacted and fact.type in NEVER_REDACTED:
        return state  # (a log written before they were protected) its scope is gone
    if fact.type == "signoff.signed" and fact.redacted:
        p = {"printed_name": None, "statement": None}  # the signature stands; its text is gone
    if fact.type == "sdv.recorded":
        return state.model_copy(update={"sdv": {**state.sdv, f"{p['visit']}/{p['form']}": {
            "level": p["level"], "by": fact.author, "at": fact.recorded_text}}})
    if fact.type == "lock.applied":
        return state.model_copy(update={"locks": (*state.locks, p["scope"])})
    if fact.type == "lock.released":
        return state.model_copy(update={"locks": tuple(s for s in state.locks if s != p["scope"]),
                                        "unlocked": (*state.unlocked, p["scope"])})
    if fact.type == "signoff.signed":
        return state.model_copy(update={"signoffs": (*state.signoffs, {
            "printed_name": p["printed_name"], "statement": p["statement"], "by": fact.author,
            "at": fact.recorded_text, "meaning": fact.meaning,
            "signed_record": fact.prev, "record_hash": fact.record_hash, "status": "valid"})})
    if fact.type in REVIEW_TYPES or fact.redacted:
        return state
    # A data change: any standing sign-off is superseded (kept in history); after an unlock the
    # change is marked as a post-lock change.
    if leaves_data_changes_unmarked(state):
        return state  # nothing to mark: no copy
    signoffs = tuple({**s, "status": "superseded"} if s["status"] == "valid" else s
                     for s in state.signoffs)
    field = VISIT_DATA.get(fact.type)
    scope = fact.payload.get(field, CASEBOOK) if field else CASEBOOK
    post_lock = state.post_lock
    if scope in state.unlocked or CASEBOOK in state.unlocked:
        post_lock = (*post_lock, fact.record_hash or "")
    return state.model_copy(update={"signoffs": signoffs, "post_lock": post_lock})


def check_lock(state: ParticipantState, fact: Fact) -> None:
    """A data entry for a locked visit, or any data entry in a locked casebook, is refused."""
    if fact.type in REVIEW_TYPES:
        return
    field = VISIT_DATA.get(fact.type)
    visit = fact.payload.get(field) if field else None
    if CASEBOOK in state.locks or (visit is not None and visit in state.locks):
        raise Rejection("lock.locked", f"{'the casebook' if CASEBOOK in state.locks else visit} is "
                        "locked: unlock it (with a reason) first", field="entry.type")


def decide(state: ParticipantState, fact: Fact, now: datetime) -> None:
    p = fact.payload
    if fact.type == "lock.applied" and p["scope"] in state.locks:
        raise Rejection("lock.locked_already", f"{p['scope']} is locked already", field="payload.scope")
    if fact.type == "lock.released":
        if p["scope"] not in state.locks:
            raise Rejection("lock.not_locked", f"{p['scope']} is not locked", field="payload.scope")
        if fact.reason is None:
            raise Rejection("lock.reason_required", "an unlock needs a reason", field="entry.reason")
    if fact.type == "signoff.signed" and fact.meaning not in SIGNATURE_MEANINGS:
        raise Rejection("signoff.meaning", f"a sign-off means one of {', '.join(SIGNATURE_MEANINGS)}",
                        field="entry.meaning")
