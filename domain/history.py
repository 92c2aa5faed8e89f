"""Medical history and medications (GCP R47): the liver disease's aetiology and other conditions,
and every medication course with its dates, so that an exclusion met by a medication (protocol
1.1: interferon or glucocorticoid within a year, exc-6) is raised as a query on the record.

Rules, each with a stable id:
- history and medications are taken on or after the standing consent, none after its withdrawal
  (`consent.*`, domain/consent.py): a history on its `taken_on`, a medication on the day it is
  recorded (a course may well have started before the trial);
- a second history supersedes the first and needs a reason (`history.reason_required`); an
  aetiology of `other` needs its text (`history.aetiology_text_required`);
- `stop` not before `start`, and `ongoing` exactly when there is no `stop` (`medication.dates`);
  a stop names a current medication of this participant (`medication.unknown`);
- a course in a category of the protocol's `medication_exclusions` overlapping the days up to the
  eligibility assessment opens a `query.opened` by the system on the medication record (field
  `start`), whether the course is recorded before or after the assessment.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .consent import check_after_consent
from .dates import plausible
from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState, Payload
from .protocol import MedicationExclusion, Protocol

HASH = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
TEXT = Annotated[str, Field(min_length=1, max_length=500)]
Aetiology = Literal["hbv", "hcv", "alcohol", "mash", "autoimmune_hepatitis", "pbc", "psc",
                    "drug_induced", "cryptogenic", "other"]
Category = Literal["interferon", "glucocorticoid", "albumin", "vitamin_k", "anticoagulant",
                   "diuretic", "antiviral", "beta_blocker", "lactulose_rifaximin", "antibiotic",
                   "other"]


class Condition(Payload):
    """One condition of the medical history; `onset` where known."""

    term: Annotated[str, Field(min_length=1, max_length=200)]
    onset: date | None = None
    ongoing: bool


class MedicalHistoryRecorded(Payload):
    """`medical_history.recorded`, schema 1 (investigator)."""

    taken_on: date
    aetiology: Aetiology
    aetiology_text: TEXT | None = None
    conditions: Annotated[list[Condition], Field(max_length=100)]


class MedicationRecorded(Payload):
    """`medication.recorded`, schema 1 (investigator): one course of one medication."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    category: Category
    indication: Annotated[str, Field(min_length=1, max_length=200)]
    dose: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    route: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    start: date
    stop: date | None = None
    ongoing: bool


class MedicationStopped(Payload):
    """`medication.stopped`, schema 1 (investigator): a recorded, ongoing course ended on `stop`."""

    medication: HASH
    stop: date


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("medical_history.recorded", 1): MedicalHistoryRecorded,
    ("medication.recorded", 1): MedicationRecorded,
    ("medication.stopped", 1): MedicationStopped,
}
INVESTIGATOR = frozenset({"investigator"})


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    if fact.redacted or (fact.type, fact.schema) not in SCHEMAS:
        return state
    p = fact.payload
    entered = {"record_hash": fact.record_hash, "by": fact.author, "at": fact.recorded_text}
    if fact.type == "medical_history.recorded":
        earlier = state.medical_history
        superseded = [] if earlier is None else [*earlier["superseded"], earlier["record_hash"]]
        return state.model_copy(update={"medical_history": {
            **dict(p), **entered, "reason": fact.reason, "superseded": superseded}})
    if fact.type == "medication.recorded":
        return state.model_copy(update={"medications": {
            **state.medications, fact.record_hash or "": {**dict(p), **entered}}})
    course = state.medications.get(p["medication"])
    if course is None:  # a stop of a redacted course: nothing left to stop
        return state
    return state.model_copy(update={"medications": {**state.medications, p["medication"]: {
        **course, "stop": p["stop"], "ongoing": False, "stopped": {"on": p["stop"], **entered}}}})


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    p = fact.payload
    if fact.type == "medical_history.recorded":
        _decide_history(state, fact, now)
        return []
    check_after_consent(state, now.date(), "entry.recorded_at")
    if fact.type == "medication.stopped":
        course = state.medications.get(p["medication"])
        if course is None or not course["ongoing"]:
            raise Rejection("medication.unknown", "medication names no ongoing medication of this "
                            "participant", field="payload.medication")
        stopped = date.fromisoformat(p["stop"])
        plausible(stopped, now, "payload.stop")
        if stopped < date.fromisoformat(course["start"]):
            raise Rejection("medication.dates", f"stop {stopped} is before the start on "
                            f"{course['start']}", field="payload.stop")
        return []
    start = date.fromisoformat(p["start"])
    stop = None if p.get("stop") is None else date.fromisoformat(p["stop"])
    plausible(start, now, "payload.start")
    if stop is not None:
        plausible(stop, now, "payload.stop")
        if stop < start:
            raise Rejection("medication.dates", f"stop {stop} is before start {start}",
                            field="payload.stop")
    if p["ongoing"] == (stop is not None):
        raise Rejection("medication.dates", "a course is ongoing exactly when it has no stop date",
                        field="payload.ongoing")
    if protocol is None:
        return []
    # Before any eligibility assessment, the window ends on the day the course is recorded.
    assessed = state.assessed_on or now.date()
    return [_query(fact.stream, fact.record_hash or "", dict(p), rule, assessed, protocol)
            for rule in _exclusions_met(dict(p), assessed, protocol)]


def _decide_history(state: ParticipantState, fact: Fact, now: datetime) -> None:
    p = fact.payload
    taken_on = date.fromisoformat(p["taken_on"])
    plausible(taken_on, now, "payload.taken_on")
    check_after_consent(state, taken_on, "payload.taken_on")
    for i, condition in enumerate(p["conditions"]):
        if condition.get("onset") is not None:
            plausible(date.fromisoformat(condition["onset"]), now, f"payload.conditions.{i}.onset")
    if p["aetiology"] == "other" and p.get("aetiology_text") is None:
        raise Rejection("history.aetiology_text_required", "an aetiology of other needs its "
                        "text", field="payload.aetiology_text")
    if state.medical_history is not None and fact.reason is None:
        raise Rejection("history.reason_required", "a second medical history supersedes the "
                        "first and needs a reason", field="entry.reason")


def check(state: ParticipantState, fact: Fact, now: datetime,
          protocol: Protocol | None) -> list[Consequence]:
    """An accepted eligibility assessment raises every recorded course that meets one of the
    protocol's medication exclusions, unless a query on it for that criterion is still open."""
    if fact.type != "eligibility.assessed" or fact.redacted or protocol is None:
        return []
    assessed = date.fromisoformat(fact.payload["assessed_on"])
    follow = []
    for record, course in state.medications.items():
        for rule in _exclusions_met(course, assessed, protocol):
            if not _queried(state, record, rule.criterion):
                follow.append(_query(fact.stream, record, course, rule, assessed, protocol))
    return follow


def _exclusions_met(course: dict[str, Any], assessed: date,
                    protocol: Protocol) -> list[MedicationExclusion]:
    """The protocol's medication exclusions a course meets: its category is one of theirs and it
    ran (or runs) on some day of the `days_before_eligibility` days up to `assessed`."""
    start = date.fromisoformat(str(course["start"]))
    stop = None if course.get("stop") is None else date.fromisoformat(str(course["stop"]))
    return [rule for rule in protocol.medication_exclusions
            if course["category"] in rule.categories and start <= assessed
            and (stop is None or stop >= assessed - timedelta(days=rule.days_before_eligibility))]


def _queried(state: ParticipantState, record: str, criterion: str) -> bool:
    return any(q["record"] == record and q["field"] == "start" and q["status"] != "closed"
               and str(q["text"]).startswith(f"{criterion} ") for q in state.queries.values())


def _query(stream: str, record: str, course: dict[str, Any], rule: MedicationExclusion,
           assessed: date, protocol: Protocol) -> Consequence:
    criterion = next(c.text for c in protocol.eligibility.exclusion if c.id == rule.criterion)
    since = assessed - timedelta(days=rule.days_before_eligibility)
    text = (f"{rule.criterion} ({criterion}): {course['name']} ({course['category']}) from "
            f"{course['start']} to {course.get('stop') or 'ongoing'} falls within the "
            f"{rule.days_before_eligibility} days before eligibility on {assessed} ({since} to "
            f"{assessed}): please confirm the participant's eligibility")
    return Consequence(stream, "query.opened", {"record": record, "field": "start",
                                                "text": text[:2000]}, actor="system")


PART = Part(
    schemas=SCHEMAS,
    roles={t: INVESTIGATOR for t, _ in SCHEMAS},
    evolve=evolve,
    decide=decide,
    check=check,
)
