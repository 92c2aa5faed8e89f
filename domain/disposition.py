"""Discontinuation and the study exit, coded (CDISC SDTM DS): why the infusion was not given,
why a participant left, and their vital status afterwards.

Records (docs/clinical.md):
- `treatment.discontinued` (1): the infusion was not given or not completed; the participant
  stays in follow-up (intention to treat), so visits and labs go on, an infusion does not;
- `participant.withdrawn` (2): withdrawal from the study with a coded reason; follow-up ends;
- `participant.lost_to_follow_up` (2): the last contact, the attempts since and the last one;
- `participant.completed` (1): the week-48 visit is done;
- `vital_status.recorded` (1): alive, dead or unknown, also after the exit, and after a
  withdrawal of consent where the participant agreed to it (domain/consent.py).

Rules, each with a stable id:
- the reason is a DS NCOMPLT code (`payload.invalid` otherwise); `other` needs its text
  (`disposition.reason_text_required`); a withdrawal for loss to follow-up is its own entry
  (`disposition.use_lost_to_follow_up`);
- new withdrawals and losses to follow-up of schema 1 (free-text reason) are refused
  (`disposition.reason_not_coded`); those already in a log replay as they were;
- dates are plausible, not in the future (`date.*`) and on or after consent (`consent.*`);
  the last contact is not after the last attempt (`disposition.last_attempt_before_contact`);
  a participant's last known alive day is not after the record's day (`vital_status.dates`);
- treatment is discontinued once (`disposition.discontinued_already`), after randomisation
  (`disposition.not_randomised`) and before every infusion is given
  (`disposition.treated_already`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field

from .consent import VITAL_STATUS, check_after_consent, check_consent_given
from .dates import past_day
from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState, Payload
from .protocol import Protocol

Reason = Literal["adverse_event", "death", "lack_of_efficacy", "lost_to_follow_up",
                 "physician_decision", "pregnancy", "protocol_deviation",
                 "study_terminated_by_sponsor", "withdrawal_by_subject", "other"]
#: The coded reasons (DS NCOMPLT), in the ledger's lower snake case.
REASONS: tuple[str, ...] = get_args(Reason)
#: Each code's CDISC submission value, as the ODM export writes it ("completed" is the term of
#: a completion, which has no reason of its own).
CDISC_TERMS: dict[str, str] = {
    "adverse_event": "ADVERSE EVENT", "death": "DEATH", "lack_of_efficacy": "LACK OF EFFICACY",
    "lost_to_follow_up": "LOST TO FOLLOW-UP", "physician_decision": "PHYSICIAN DECISION",
    "pregnancy": "PREGNANCY", "protocol_deviation": "PROTOCOL DEVIATION",
    "study_terminated_by_sponsor": "STUDY TERMINATED BY SPONSOR",
    "withdrawal_by_subject": "WITHDRAWAL BY SUBJECT", "other": "OTHER", "completed": "COMPLETED"}
ReasonText = Annotated[str, Field(min_length=1, max_length=500)]


class StudyExit(Payload):
    """`participant.completed` (1), and `participant.withdrawn` / `participant.lost_to_follow_up`
    of schema 1 (the reason, if any, was the entry's free text)."""

    on: date


class CodedReason(Payload):
    """`treatment.discontinued` (1) and `participant.withdrawn` (2)."""

    on: date
    reason: Reason
    reason_text: ReasonText | None = None


class LostToFollowUp(Payload):
    """`participant.lost_to_follow_up` (2): `on` is the last contact."""

    on: date
    attempts: Annotated[int, Field(ge=1, le=1000)]
    last_attempt_on: date


class VitalStatusRecorded(Payload):
    """`vital_status.recorded` (1): what was learned on `on`."""

    status: Literal["alive", "dead", "unknown"]
    known_alive_on: date | None = None
    on: date


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("treatment.discontinued", 1): CodedReason,
    ("participant.withdrawn", 1): StudyExit,
    ("participant.withdrawn", 2): CodedReason,
    ("participant.lost_to_follow_up", 1): StudyExit,
    ("participant.lost_to_follow_up", 2): LostToFollowUp,
    ("participant.completed", 1): StudyExit,
    ("vital_status.recorded", 1): VitalStatusRecorded,
}
#: The exits and the stage each leaves the participant in (domain/treatment.py's stages).
EXITS = {"participant.withdrawn": "withdrawn", "participant.lost_to_follow_up": "lost_to_follow_up",
         "participant.completed": "completed"}
INVESTIGATOR = frozenset({"investigator"})


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    """A redacted record still happened (the stage it leaves); what it said is gone."""
    p: dict[str, Any] = {} if fact.redacted else dict(fact.payload)
    if fact.type == "treatment.discontinued":
        return state.model_copy(update={"treatment_discontinued": {
            "on": p.get("on"), "reason": p.get("reason"), "reason_text": p.get("reason_text"),
            "record_hash": fact.record_hash}})
    if fact.type in EXITS:
        kind = EXITS[fact.type]
        coded = fact.schema > 1 or kind == "completed"
        reason = "lost_to_follow_up" if kind == "lost_to_follow_up" else p.get("reason")
        return state.model_copy(update={"stage": kind, "disposition": {
            "kind": kind, "on": p.get("on"), "reason": reason,
            # a schema-1 withdrawal's reason was the entry's free text, not a code
            "reason_text": p.get("reason_text") if coded else fact.reason,
            "attempts": p.get("attempts"), "last_attempt_on": p.get("last_attempt_on"),
            "record_hash": fact.record_hash}})
    if fact.type == VITAL_STATUS:
        return state.model_copy(update={"vital_status": (*state.vital_status, {
            **p, "record_hash": fact.record_hash})})
    return state


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    """Raise Rejection to refuse `fact` (registration, site and exit are checked already)."""
    p = fact.payload
    if fact.type in ("participant.withdrawn", "participant.lost_to_follow_up") and fact.schema == 1:
        raise Rejection("disposition.reason_not_coded", f"{fact.type} is recorded with a coded "
                        "reason: use schema 2", field="entry.schema")
    if fact.type == VITAL_STATUS:
        on = past_day(p["on"], now, "payload.on")
        if p.get("known_alive_on") is not None and \
                past_day(p["known_alive_on"], now, "payload.known_alive_on") > on:
            raise Rejection("vital_status.dates", f"known alive on {p['known_alive_on']} is after "
                            f"the record's day {on}", field="payload.known_alive_on")
        check_after_consent(state, on, "payload.on", kind=fact.type)
        return []
    on = past_day(p["on"], now, "payload.on")
    check_consent_given(state, on, "payload.on")
    if fact.type == "treatment.discontinued":
        _decide_discontinuation(state, protocol)
    if "reason" in p:
        _decide_reason(fact)
    if fact.type == "participant.lost_to_follow_up":
        last = past_day(p["last_attempt_on"], now, "payload.last_attempt_on")
        if last < on:
            raise Rejection("disposition.last_attempt_before_contact", f"the last attempt on "
                            f"{last} is before the last contact on {on}",
                            field="payload.last_attempt_on")
    return []


def _decide_discontinuation(state: ParticipantState, protocol: Protocol | None) -> None:
    if state.arm is None or state.stage not in ("randomised", "treated"):
        raise Rejection("disposition.not_randomised", "treatment is discontinued after "
                        "randomisation", field="entry.type")
    if state.treatment_discontinued is not None:
        raise Rejection("disposition.discontinued_already", "treatment is discontinued already",
                        field="entry.type")
    planned = protocol.infusions_per_participant if protocol is not None else 1
    if len(state.infusions) >= planned:
        raise Rejection("disposition.treated_already", f"the participant received the "
                        f"{planned} infusion(s) already", field="entry.type")


def _decide_reason(fact: Fact) -> None:
    p = fact.payload
    if p["reason"] == "other" and not (p.get("reason_text") or "").strip():
        raise Rejection("disposition.reason_text_required", "the reason other needs its text",
                        field="payload.reason_text")
    if fact.type == "participant.withdrawn" and p["reason"] == "lost_to_follow_up":
        raise Rejection("disposition.use_lost_to_follow_up", "loss to follow-up is recorded as "
                        "participant.lost_to_follow_up, with its attempts", field="payload.reason")


PART = Part(schemas=SCHEMAS, roles={t: INVESTIGATOR for t, _ in SCHEMAS}, evolve=evolve,
            decide=decide, after_exit=frozenset({VITAL_STATUS}))
