"""Adverse events (ICH E2A, CTCAE v5.0, SDTM AE): every untoward medical occurrence from consent
to the end of follow-up, as the investigator reports it, corrects it and sees it resolve.

- `adverse_event.reported` (investigator): the verbatim term, an optional coded term, onset and
  end dates, the CTCAE grade, seriousness with its criteria, the relationship to the cells and to
  the infusion procedure (WHO-UMC), expectedness, the action taken, the outcome, an event of
  special interest of end-stage liver disease, and when the site became aware of it.
- `adverse_event.updated` (investigator, reason required): a full replacement of the report's
  fields; the earlier version stays in the event's history.
- `adverse_event.resolved` (investigator): the end date and the outcome.

Rules, each with a stable id:
- the onset is on or after the consent that stands (`consent.procedure_before_consent`); after a
  withdrawal of consent only where the participant agreed to safety follow-up (`consent.*`,
  domain/consent.py); dates are plausible (`date.implausible`) and not in the future
  (`date.in_future`);
- the end is not before the onset, nor the site's awareness before the onset day
  (`adverse_event.dates`);
- criteria are given exactly when the event is serious, each once (`adverse_event.seriousness`);
- grade 5 (death related to the event) exactly when the outcome is fatal
  (`adverse_event.grade_outcome`);
- a serious event says when the site became aware of it (`adverse_event.awareness_required`),
  not after the record is made (`date.in_future`);
- an update or resolution names an adverse event of this participant (`adverse_event.unknown`);
  an update gives its reason (`adverse_event.reason_required`); an event that has ended is not
  resolved again (`adverse_event.resolved_already`).
Adverse events are still recorded once the participant has left the trial (safety follow-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from .consent import check_after_consent
from .dates import past_day, plausible
from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState, Payload
from .protocol import Protocol

HASH = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Criterion = Literal["death", "life_threatening", "hospitalisation", "disability",
                    "congenital_anomaly", "important_medical_event"]
Relationship = Literal["certain", "probable", "possible", "unlikely", "conditional", "unassessable"]
Action = Literal["not_applicable", "drug_interrupted", "drug_withdrawn", "dose_not_changed",
                 "unknown"]
Outcome = Literal["recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal",
                  "unknown"]
SpecialInterest = Literal["variceal_bleeding", "spontaneous_bacterial_peritonitis",
                          "hepatorenal_syndrome_aki", "hepatic_encephalopathy", "ascites",
                          "infusion_reaction", "aclf", "hepatocellular_carcinoma"]


class CodedTerm(Payload):
    """The term as the site coded it (MedDRA is licensed and not shipped: the code is kept as
    entered, with its dictionary and version)."""

    dictionary: Annotated[str, Field(min_length=1, max_length=32)]
    version: Annotated[str, Field(min_length=1, max_length=16)]
    code: Annotated[str, Field(min_length=1, max_length=32)]
    term: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class AdverseEventReported(Payload):
    """`adverse_event.reported`, schema 1 (investigator)."""

    term: Annotated[str, Field(min_length=1, max_length=200, description="verbatim (AETERM)")]
    coded: CodedTerm | None = None
    onset_on: date
    end_on: date | None = None  # empty while the event is ongoing
    grade: Annotated[int, Field(ge=1, le=5, description="CTCAE v5.0 (AETOXGR)")]
    serious: bool
    criteria: Annotated[list[Criterion], Field(default_factory=list, max_length=6)]
    relationship_cells: Relationship
    relationship_procedure: Relationship
    expected: bool | None = None  # the sponsor's assessment; the site may leave it open
    action_taken: Action
    outcome: Outcome
    special_interest: SpecialInterest | None = None
    aware_at: AwareDatetime | None = None  # when the site became aware (the SAE clock starts)


class AdverseEventUpdated(AdverseEventReported):
    """`adverse_event.updated`, schema 1 (investigator, reason required): every field anew."""

    event: HASH  # the record hash of the `adverse_event.reported`


class AdverseEventResolved(Payload):
    """`adverse_event.resolved`, schema 1 (investigator): the event ended on `end_on`."""

    event: HASH
    end_on: date
    outcome: Literal["recovered", "recovered_with_sequelae", "fatal"]  # the ended outcomes


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("adverse_event.reported", 1): AdverseEventReported,
    ("adverse_event.updated", 1): AdverseEventUpdated,
    ("adverse_event.resolved", 1): AdverseEventResolved,
}
#: Every adverse-event record: the safety records a withdrawal of consent may agree to.
TYPES: frozenset[str] = frozenset(t for t, _ in SCHEMAS)
FIELDS: tuple[str, ...] = tuple(AdverseEventReported.model_fields)
INVESTIGATOR = frozenset({"investigator"})


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    """Each event under its report's hash: the current fields, who set them, and every earlier
    version in `history` (with the reason it was changed)."""
    if fact.redacted or (fact.type, fact.schema) not in SCHEMAS:
        return state
    p = fact.payload
    entered = {"record": fact.record_hash, "by": fact.author, "at": fact.recorded_text}
    if fact.type == "adverse_event.reported":
        event = _current(_fields(p), entered, None)
        return _put(state, fact.record_hash or "", {**event, "record_hash": fact.record_hash,
                                                    "history": []})
    old = state.adverse_events.get(p["event"])
    if old is None:  # the report was redacted: nothing left to change
        return state
    fields = (_fields(p) if fact.type == "adverse_event.updated"
              else {**{name: old[name] for name in FIELDS}, "end_on": p["end_on"],
                    "outcome": p["outcome"]})
    earlier = {**{name: old[name] for name in FIELDS},
               **{k: old[k] for k in ("record", "by", "at", "reason")}}
    return _put(state, p["event"], {**old, **_current(fields, entered, fact.reason),
                                    "history": [*old["history"], earlier]})


def _fields(p: Mapping[str, Any]) -> dict[str, Any]:
    """The report's fields, those left out at their defaults (no criteria, nothing else)."""
    return {name: p.get(name, [] if name == "criteria" else None) for name in FIELDS}


def _current(fields: dict[str, Any], entered: dict[str, Any], reason: str | None) -> dict[str, Any]:
    status = "ongoing" if fields["end_on"] is None else "resolved"
    return {**fields, **entered, "reason": reason, "status": status}


def _put(state: ParticipantState, key: str, event: dict[str, Any]) -> ParticipantState:
    return state.model_copy(update={"adverse_events": {**state.adverse_events, key: event}})


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    p = fact.payload
    if fact.type == "adverse_event.reported":
        _check_event(state, fact.type, p, now)
        return []
    event = state.adverse_events.get(p["event"])
    if event is None:
        raise Rejection("adverse_event.unknown", "event names no adverse event reported for this "
                        "participant", field="payload.event")
    if fact.type == "adverse_event.updated":
        if not fact.reason:
            raise Rejection("adverse_event.reason_required", "a change to an adverse event needs "
                            "a reason", field="entry.reason")
        _check_event(state, fact.type, p, now)
        return []
    if event["end_on"] is not None:
        raise Rejection("adverse_event.resolved_already", f"the adverse event ended on "
                        f"{event['end_on']} already", field="payload.event")
    end_on = past_day(p["end_on"], now, "payload.end_on")
    check_after_consent(state, end_on, "payload.end_on", fact.type)
    if end_on < date.fromisoformat(event["onset_on"]):
        raise Rejection("adverse_event.dates", f"end_on {end_on} is before the onset on "
                        f"{event['onset_on']}", field="payload.end_on")
    _check_grade_outcome(event["grade"], p["outcome"])
    return []


def _check_event(state: ParticipantState, kind: str, p: Mapping[str, Any], now: datetime) -> None:
    """The rules a report and its full replacement share."""
    onset = past_day(p["onset_on"], now, "payload.onset_on")
    check_after_consent(state, onset, "payload.onset_on", kind)
    if p.get("end_on") is not None:
        end_on = past_day(p["end_on"], now, "payload.end_on")
        if end_on < onset:
            raise Rejection("adverse_event.dates", f"end_on {end_on} is before onset {onset}",
                            field="payload.end_on")
    criteria = list(p.get("criteria") or [])
    if bool(criteria) != p["serious"]:
        raise Rejection("adverse_event.seriousness", "a serious adverse event names its criteria, "
                        "a non-serious one none", field="payload.criteria")
    if len(set(criteria)) != len(criteria):
        raise Rejection("adverse_event.seriousness", "each seriousness criterion is named once",
                        field="payload.criteria")
    _check_grade_outcome(p["grade"], p["outcome"])
    if p.get("aware_at") is None:
        if p["serious"]:
            raise Rejection("adverse_event.awareness_required", "a serious adverse event says "
                            "when the site became aware of it", field="payload.aware_at")
        return
    aware_at = datetime.fromisoformat(p["aware_at"])
    plausible(aware_at, now, "payload.aware_at")
    if aware_at > now:
        raise Rejection("date.in_future", f"aware_at {aware_at.isoformat()} is after the record "
                        f"is made ({now.isoformat()})", field="payload.aware_at")
    if aware_at.date() < onset:  # the site's own calendar day, as the offset gives it
        raise Rejection("adverse_event.dates", f"aware_at {aware_at.date()} is before onset "
                        f"{onset}", field="payload.aware_at")


def _check_grade_outcome(grade: int, outcome: str) -> None:
    # CTCAE grade 5 is death related to the event: the two say the same thing or neither.
    if grade == 5 and outcome != "fatal":
        raise Rejection("adverse_event.grade_outcome", "grade 5 is death related to the event: "
                        "its outcome is fatal", field="payload.outcome")
    if outcome == "fatal" and grade != 5:
        raise Rejection("adverse_event.grade_outcome", f"a fatal outcome is grade 5, not "
                        f"{grade}", field="payload.grade")


PART = Part(
    schemas=SCHEMAS,
    roles={t: INVESTIGATOR for t in TYPES},
    evolve=evolve,
    decide=decide,
    after_exit=TYPES,
)
