"""Reported protocol deviations and missed visits (GCP R46): what the site or the monitor finds,
besides the deviations the rules record themselves (`deviation.recorded`), and the visits that
did not take place, with their reason.

Rules, each with a stable id:
- a deviation reported on a record names a record of this participant
  (`deviation.unknown_record`); its dates are plausible and not in the future (`date.*`);
- a resolution names a reported deviation (`deviation.unknown`) still open
  (`deviation.resolved_already`), resolved on or after it occurred (`deviation.dates`);
- a missed visit is a protocol visit (`visit.unknown`), after the infusion for follow-up visits
  (`visit.before_infusion`), neither done (`visit.done_already`) nor missed already
  (`visit.missed_already`); a visit recorded missed is not completed afterwards
  (`visit.missed_already`);
- deviations may be reported and resolved after the participant left the trial.

The severity of the system's own deviations (`SEVERITY`) and `major_deviations` serve the
per-protocol analysis set.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .consent import check_after_consent
from .dates import past_day
from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState, Payload
from .protocol import Protocol

HASH = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
TEXT = Annotated[str, Field(min_length=1, max_length=2000)]
Severity = Literal["major", "minor"]
Category = Literal["consent", "eligibility", "randomisation", "dosing", "visit_window",
                   "procedure", "safety_reporting", "other"]

#: The severity of each kind of deviation the rules record themselves (`deviation.recorded`).
SEVERITY: dict[str, Severity] = {
    "dose_mismatch": "major", "baseline_incomplete": "major",
    "visit_out_of_window": "minor", "sample_out_of_window": "minor",
    "assessment_out_of_window": "minor", "baseline_out_of_window": "minor",
}


class DeviationReported(Payload):
    """`deviation.reported`, schema 1 (investigator, monitor)."""

    category: Category
    severity: Severity
    occurred_on: date
    description: TEXT
    corrective_action: TEXT | None = None
    record: HASH | None = None  # a record of this participant the deviation concerns


class DeviationResolved(Payload):
    """`deviation.resolved`, schema 1 (investigator, monitor)."""

    deviation: HASH
    resolved_on: date
    corrective_action: TEXT | None = None


class VisitMissed(Payload):
    """`visit.missed`, schema 1 (investigator): a scheduled visit did not take place."""

    visit: Annotated[str, Field(min_length=1, max_length=32)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("deviation.reported", 1): DeviationReported,
    ("deviation.resolved", 1): DeviationResolved,
    ("visit.missed", 1): VisitMissed,
}
REPORTERS = frozenset({"investigator", "monitor"})


def severity_of(kind: str) -> Severity:
    """A system deviation's severity; a kind not graded in `SEVERITY` counts as major, so that
    it keeps the participant out of the per-protocol set until someone grades it."""
    return SEVERITY.get(kind, "major")


def major_deviations(state: ParticipantState) -> list[dict[str, Any]]:
    """Every major deviation of the participant: the system's, graded by `SEVERITY`, then the
    reported ones of severity major, resolved or not (a resolution does not undo it)."""
    system = [{**d, "source": "system", "severity": "major"} for d in state.deviations
              if severity_of(str(d.get("kind"))) == "major"]
    reported = [{**d, "source": "reported"} for d in state.reported_deviations.values()
                if d["severity"] == "major"]
    return [*system, *reported]


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    if fact.redacted or (fact.type, fact.schema) not in SCHEMAS:
        return state
    p = fact.payload
    if fact.type == "deviation.reported":
        return state.model_copy(update={"reported_deviations": {
            **state.reported_deviations, fact.record_hash or "": {
                **dict(p), "record_hash": fact.record_hash, "status": "open", "resolved_on": None,
                "by": fact.author, "at": fact.recorded_text}}})
    if fact.type == "deviation.resolved":
        reported = state.reported_deviations.get(p["deviation"])
        if reported is None:  # the resolution of a redacted report
            return state
        action = p.get("corrective_action") or reported.get("corrective_action")
        return state.model_copy(update={"reported_deviations": {
            **state.reported_deviations, p["deviation"]: {
                **reported, "status": "resolved", "resolved_on": p["resolved_on"],
                "corrective_action": action}}})
    return state.model_copy(update={"missed_visits": (*state.missed_visits, {
        "visit": p["visit"], "reason": p["reason"], "record_hash": fact.record_hash})})


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    p = fact.payload
    if fact.type == "deviation.reported":
        past_day(date.fromisoformat(p["occurred_on"]), now, "payload.occurred_on")
        if p.get("record") is not None and p["record"] not in state.record_hashes:
            raise Rejection("deviation.unknown_record", "record names no record of this "
                            "participant", field="payload.record")
        return []
    if fact.type == "deviation.resolved":
        reported = state.reported_deviations.get(p["deviation"])
        if reported is None:
            raise Rejection("deviation.unknown", "deviation names no reported deviation of this "
                            "participant", field="payload.deviation")
        if reported["status"] == "resolved":
            raise Rejection("deviation.resolved_already", f"the deviation was resolved on "
                            f"{reported['resolved_on']}", field="payload.deviation")
        resolved_on = date.fromisoformat(p["resolved_on"])
        past_day(resolved_on, now, "payload.resolved_on")
        if resolved_on < date.fromisoformat(reported["occurred_on"]):
            raise Rejection("deviation.dates", f"resolved on {resolved_on}, before it occurred on "
                            f"{reported['occurred_on']}", field="payload.resolved_on")
        return []
    _decide_missed(state, fact, protocol)
    return []


def _decide_missed(state: ParticipantState, fact: Fact, protocol: Protocol | None) -> None:
    visit_id = fact.payload["visit"]
    if protocol is None:
        raise Rejection("protocol.not_adopted", "no protocol is in force", field="entry.type")
    scheduled = next((v for v in protocol.visits if v.id == visit_id), None)
    if scheduled is None:
        raise Rejection("visit.unknown", f"the protocol has no visit {visit_id}",
                        field="payload.visit")
    check_after_consent(state, None, "payload.visit")  # a visit is missed only while in the trial
    if scheduled.day > 0 and state.schedule_origin is None:
        raise Rejection("visit.before_infusion", f"{scheduled.label} follows the infusion, and "
                        "there is none yet", field="payload.visit")
    if any(v["visit"] == visit_id for v in state.visits):
        raise Rejection("visit.done_already", f"visit {visit_id} is recorded done",
                        field="payload.visit")
    _not_missed(state, visit_id)


def check(state: ParticipantState, fact: Fact, now: datetime,
          protocol: Protocol | None) -> list[Consequence]:
    """A visit recorded missed is not completed afterwards."""
    if fact.type == "visit.completed" and not fact.redacted:
        _not_missed(state, str(fact.payload["visit"]))
    return []


def _not_missed(state: ParticipantState, visit_id: str) -> None:
    missed = next((m for m in state.missed_visits if m["visit"] == visit_id), None)
    if missed is not None:
        raise Rejection("visit.missed_already", f"visit {visit_id} is recorded missed "
                        f"({missed['reason']})", field="payload.visit")


PART = Part(
    schemas=SCHEMAS,
    roles={"deviation.reported": REPORTERS, "deviation.resolved": REPORTERS,
           "visit.missed": frozenset({"investigator"})},
    evolve=evolve,
    decide=decide,
    check=check,
    after_exit=frozenset({"deviation.reported", "deviation.resolved"}),
)
