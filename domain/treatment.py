"""A participant's way through the trial after consent: eligibility, randomisation, infusion, exit.

Rules (R21, R29), each with a stable id:
- eligibility needs standing consent and the protocol in force (`eligibility.*`, `protocol.*`);
  the verdict (eligible, failed criteria) is written by the system as `eligibility.determined`;
- randomisation needs standing consent, an eligible assessment, age within the protocol's range
  on the day of the request, and no earlier randomisation (`randomisation.*`);
- the randomiser's answer follows a pending request (`randomisation.not_requested`);
- infusion needs randomisation and standing consent, and at most the protocol's number
  (`infusion.*`); a dose off the allocated arm or the recorded weight is recorded all the same,
  with a `deviation.recorded` record by the system (R29);
- every procedure is dated on or after the standing consent, none after its withdrawal
  (`consent.*`, domain/consent.py);
- after `treatment.discontinued` no infusion is given (`infusion.discontinued`); the exits
  (withdrawal, loss to follow-up, completion) and discontinuation are decided in
  domain/disposition.py; an exit ends what must end and keeps every record.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from .consent import check_after_consent
from .dates import plausible
from .eligibility import EligibilityAssessed, age_in_years, assess_payload
from .facts import Consequence, Fact, Rejection
from .participant import ParticipantState, Payload
from .protocol import Protocol, arm, visit_window

STAGES_AFTER_EXIT = ("withdrawn", "lost_to_follow_up", "completed", "died", "transplanted")


class RandomisationRequested(Payload):
    """`randomisation.requested`, schema 1 (investigator)."""

    stratum: str | None = None


class ParticipantRandomised(Payload):
    """`participant.randomised`, schema 1 (the randomiser): the slot and arm of the list."""

    stratum: str
    slot: Annotated[int, Field(ge=1)]
    arm: str


class InfusionAdministered(Payload):
    """`infusion.administered`, schema 1 (investigator)."""

    infusion_number: Annotated[int, Field(ge=1)]
    started_at: datetime
    ended_at: datetime
    weight_kg: Annotated[float, Field(gt=20, lt=350)]
    cells_per_kg: Annotated[float, Field(gt=0)]
    total_cells: Annotated[float, Field(gt=0)]
    lot: Annotated[str, Field(min_length=1, max_length=64)]
    route: Annotated[str, Field(min_length=1, max_length=64)]


class DeviationRecorded(Payload):
    """`deviation.recorded`, schema 1 (the system): a protocol deviation found by a rule."""

    kind: Annotated[str, Field(min_length=1, max_length=64)]
    record: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    detail: Annotated[str, Field(min_length=1, max_length=500)]


class EligibilityDetermined(Payload):
    """`eligibility.determined`, schema 1 (the system): the verdict the rules derived."""

    protocol_version: str
    eligible: bool
    failed: list[str]
    age_years: int


class VisitCompleted(Payload):
    """`visit.completed`, schema 1 (investigator): a scheduled visit took place on `on`."""

    visit: Annotated[str, Field(min_length=1, max_length=32)]
    on: date


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("eligibility.assessed", 1): EligibilityAssessed,
    ("eligibility.determined", 1): EligibilityDetermined,
    ("randomisation.requested", 1): RandomisationRequested,
    ("participant.randomised", 1): ParticipantRandomised,
    ("infusion.administered", 1): InfusionAdministered,
    ("deviation.recorded", 1): DeviationRecorded,
    ("visit.completed", 1): VisitCompleted,
}


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    p = fact.payload
    if fact.redacted:
        return state
    if fact.type == "eligibility.assessed":
        return state.model_copy(update={"assessed_on": date.fromisoformat(p["assessed_on"])})
    if fact.type == "eligibility.determined":
        return state.model_copy(update={
            "eligible": p["eligible"], "failed_criteria": tuple(p["failed"]),
            "stage": "eligible" if p["eligible"] else "screen_failed"})
    if fact.type == "randomisation.requested":
        return state.model_copy(update={"stage": "randomisation_requested"})
    if fact.type == "participant.randomised":
        return state.model_copy(update={"stage": "randomised", "stratum": p["stratum"],
                                        "slot": p["slot"], "arm": p["arm"]})
    if fact.type == "infusion.administered":
        return state.model_copy(update={"stage": "treated", "infusions": (*state.infusions, {
            **dict(p), "record_hash": fact.record_hash})})
    if fact.type == "deviation.recorded":
        return state.model_copy(update={"deviations": (*state.deviations, dict(p))})
    if fact.type == "visit.completed":
        return state.model_copy(update={"visits": (*state.visits, {
            "visit": p["visit"], "on": p["on"],
            "record_hash": fact.record_hash})})
    return state


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    """Raise Rejection to refuse `fact`; return the records that must follow it."""
    p = fact.payload
    decide_common(state, fact)
    if fact.type in ("deviation.recorded", "eligibility.determined"):
        return []
    if protocol is None:
        raise Rejection("protocol.not_adopted", "no protocol is in force: set the trial up first",
                        field="entry.type")
    if fact.type == "eligibility.assessed":
        if state.status == "withdrawn":  # an assessment after a withdrawal is new trial data
            check_after_consent(state, None, "payload.assessed_on")
        if state.status != "consented":
            raise Rejection("eligibility.no_consent", "eligibility is assessed after consent",
                            field="entry.type")
        if state.stage not in ("registered", "screen_failed", "eligible"):
            raise Rejection("eligibility.after_randomisation",
                            "eligibility cannot be reassessed after randomisation", field="entry.type")
        assessed_on = date.fromisoformat(p["assessed_on"])
        plausible(assessed_on, now, "payload.assessed_on")
        check_after_consent(state, assessed_on, "payload.assessed_on")
        verdict = assess_payload(protocol, EligibilityAssessed.model_validate(dict(p), strict=False),
                                 date_of_birth=state.date_of_birth or date.min, consent_signed=True)
        return [Consequence(fact.stream, "eligibility.determined", {
            "protocol_version": protocol.version, "eligible": verdict.eligible,
            "failed": list(verdict.failed), "age_years": verdict.age_years}, actor="system")]
    if fact.type == "randomisation.requested":
        _decide_request(state, fact, now, protocol)
        return []
    if fact.type == "participant.randomised":
        if state.stage != "randomisation_requested":
            raise Rejection("randomisation.not_requested", "no randomisation request is pending",
                            field="entry.type")
        arm(protocol, p["arm"])
        return []
    if fact.type == "infusion.administered":
        return _decide_infusion(state, fact, now, protocol)
    if fact.type == "visit.completed":
        return _decide_visit(state, fact, now, protocol)
    raise Rejection("entry.unknown_type", f"{fact.type} is not an entry type of this stream",
                    field="entry.type")


#: What may still be recorded once a participant has left: no new data, but the cleaning and
#: review of what is there (corrections, queries, SDV, locks, sign-off) and safety unblinding.
AFTER_EXIT = frozenset({"deviation.recorded", "unblinding.requested", "participant.unblinded",
                        "lab.corrected", "lab.removed", "edit_check.failed", "query.opened",
                        "query.answered", "query.closed", "sdv.recorded", "lock.applied",
                        "lock.released", "signoff.signed"})


def decide_common(state: ParticipantState, fact: Fact,
                  after_exit: frozenset[str] = AFTER_EXIT) -> None:
    """Checks every entry after registration meets: registered, own site, not exited (but for
    the types in `after_exit`)."""
    if state.status == "new":
        raise Rejection("participant.not_registered", "the participant is not registered",
                        field="entry.stream")
    if fact.role == "investigator" and state.site is not None and fact.site != state.site:
        raise Rejection("participant.other_site",
                        f"participant belongs to site {state.site}, entry is from {fact.site}",
                        field="entry.site")
    if state.stage in STAGES_AFTER_EXIT and fact.type not in after_exit:
        raise Rejection("participant.exited", f"the participant has left the trial ({state.stage})",
                        field="entry.type")


def _decide_request(state: ParticipantState, fact: Fact, now: datetime, protocol: Protocol) -> None:
    if state.status != "consented":
        raise Rejection("randomisation.no_consent", "randomisation needs standing consent",
                        field="entry.type")
    check_after_consent(state, now.date(), "entry.recorded_at")  # the request is dated when made
    if state.stage in ("randomisation_requested", "randomised", "treated"):
        raise Rejection("randomisation.already", "the participant is randomised already",
                        field="entry.type")
    if state.eligible is not True:
        raise Rejection("randomisation.not_eligible",
                        "randomisation needs an eligibility assessment that found the participant "
                        f"eligible (failed: {', '.join(state.failed_criteria) or 'not assessed'})",
                        field="entry.type")
    age = age_in_years(state.date_of_birth or date.min, now.date())
    if not protocol.age_min <= age <= protocol.age_max:
        raise Rejection("randomisation.age", f"age {age} on {now.date()} is outside "
                        f"{protocol.age_min}–{protocol.age_max}", field="entry.type")


def _decide_infusion(state: ParticipantState, fact: Fact, now: datetime,
                     protocol: Protocol) -> list[Consequence]:
    p = fact.payload
    if state.stage not in ("randomised", "treated") or state.arm is None:
        raise Rejection("infusion.not_randomised", "infusion needs randomisation first",
                        field="entry.type")
    if state.status != "consented":
        raise Rejection("infusion.no_consent", "no infusion after consent is withdrawn",
                        field="entry.type")
    if state.treatment_discontinued is not None:
        raise Rejection("infusion.discontinued", "treatment is discontinued: no infusion follows "
                        "(the participant stays in follow-up)", field="entry.type")
    if p["infusion_number"] != len(state.infusions) + 1 or \
            p["infusion_number"] > protocol.infusions_per_participant:
        raise Rejection("infusion.number", f"infusion {p['infusion_number']} does not follow "
                        f"{len(state.infusions)} of {protocol.infusions_per_participant}",
                        field="payload.infusion_number")
    started, ended = datetime.fromisoformat(p["started_at"]), datetime.fromisoformat(p["ended_at"])
    plausible(started, now, "payload.started_at")
    plausible(ended, now, "payload.ended_at")
    if started.tzinfo is None or ended.tzinfo is None or ended < started or ended > now:
        raise Rejection("infusion.times", "infusion times need UTC offsets, must end after they "
                        "start and not in the future", field="payload.ended_at")
    check_after_consent(state, started.date(), "payload.started_at")
    if p["route"] != protocol.route:
        raise Rejection("infusion.route", f"the protocol's route is {protocol.route}",
                        field="payload.route")
    return dose_deviations(protocol, state.arm, fact)


def _decide_visit(state: ParticipantState, fact: Fact, now: datetime,
                  protocol: Protocol) -> list[Consequence]:
    """R21: a follow-up visit never predates the infusion; outside its window it is recorded and
    flagged as a deviation."""
    p = fact.payload
    scheduled = next((v for v in protocol.visits if v.id == p["visit"]), None)
    if scheduled is None:
        raise Rejection("visit.unknown", f"the protocol has no visit {p['visit']}", field="payload.visit")
    on = date.fromisoformat(p["on"])
    plausible(on, now, "payload.on")
    if on > now.date():
        raise Rejection("date.in_future", f"visit date {on} is after today", field="payload.on")
    check_after_consent(state, on, "payload.on")
    if any(v["visit"] == p["visit"] for v in state.visits):
        raise Rejection("visit.done_already", f"visit {p['visit']} is recorded already",
                        field="payload.visit")
    if scheduled.day <= 0:
        return []
    origin = state.schedule_origin
    if origin is None:
        raise Rejection("visit.before_infusion", f"{scheduled.label} follows the infusion, and there "
                        "is none yet", field="payload.visit")
    infused = origin.date()
    if on < infused:
        raise Rejection("visit.before_infusion", f"{scheduled.label} on {on} predates the infusion "
                        f"on {infused}", field="payload.on")
    low, high = visit_window(protocol, scheduled.id, infused)
    if low <= on <= high:
        return []
    return [Consequence(fact.stream, "deviation.recorded", {
        "kind": "visit_out_of_window", "record": fact.record_hash or "",
        "detail": f"{scheduled.label} on {on}, window {low} to {high}"}, actor="system")]


def dose_deviations(protocol: Protocol, arm_id: str, fact: Fact) -> list[Consequence]:
    """R29: a dose off the arm's cells/kg or off weight × cells/kg is a deviation (still recorded)."""
    p, planned = fact.payload, arm(protocol, arm_id).cells_per_kg
    tolerance = protocol.dose_tolerance
    problems = []
    if abs(p["cells_per_kg"] - planned) > tolerance * planned:
        problems.append(f"dose {p['cells_per_kg']:.3g} cells/kg is off the allocated "
                        f"{planned:.3g} by more than {tolerance:.0%}")
    expected_total = p["cells_per_kg"] * p["weight_kg"]
    if abs(p["total_cells"] - expected_total) > tolerance * expected_total:
        problems.append(f"total {p['total_cells']:.3g} cells is off weight × dose "
                        f"({expected_total:.3g}) by more than {tolerance:.0%}")
    return [Consequence(fact.stream, "deviation.recorded",
                        {"kind": "dose_mismatch", "record": fact.record_hash or "",
                         "detail": "; ".join(problems)}, actor="system") for _ in problems[:1]]
