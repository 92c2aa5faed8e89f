"""Deaths and liver transplants (R45), pure: a death names its fatal adverse event and ends
follow-up with its own end state, nothing is dated after it; a transplant ends the trial's
follow-up while safety follow-up and a later death go on; both after a withdrawal of consent
only where the participant agreed to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.consent import SAFETY_TYPES
from domain.facts import Fact
from domain.outcomes import END_STATES
from tests.domain_stream import P10, ParticipantStream

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
PARTICIPANT = ParticipantStream(P10, now=NOW)
fact, run, rule = PARTICIPANT.fact, PARTICIPANT.run, PARTICIPANT.rule
TREATED = (*PARTICIPANT.enrolled(signed_on="2026-03-01", assessed_on="2026-03-02"),
           PARTICIPANT.request(), PARTICIPANT.randomised(), PARTICIPANT.infusion("2026-03-03"))
BLEED: dict[str, Any] = {
    "term": "oesophageal variceal bleed", "onset_on": "2026-03-10", "grade": 4, "serious": True,
    "criteria": ["hospitalisation", "life_threatening"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "expected": False, "action_taken": "not_applicable",
    "outcome": "not_recovered", "special_interest": "variceal_bleeding",
    "aware_at": "2026-03-10T07:30:00+07:00"}
REPORT = fact("adverse_event.reported", BLEED)
FATAL = fact("adverse_event.resolved", {"event": REPORT.record_hash, "end_on": "2026-03-12",
                                        "outcome": "fatal"})
# a resolution keeps the grade: the fatal outcome comes with grade 5 through an update
FATAL_UPDATE = fact("adverse_event.updated", {**BLEED, "event": REPORT.record_hash, "grade": 5,
                                              "outcome": "fatal", "end_on": "2026-03-12",
                                              "criteria": ["hospitalisation", "death"]},
                    reason="the participant died of the bleed")


def death(died_on: str = "2026-03-12", event: str | None = REPORT.record_hash) -> Fact:
    payload: dict[str, Any] = {"died_on": died_on, "cause": "variceal haemorrhage",
                               "liver_related": True, "autopsy": False}
    return fact("death.recorded", payload if event is None else {**payload, "event": event})


def transplant(on: str = "2026-03-14") -> Fact:
    return fact("transplant.recorded", {"transplanted_on": on, "graft": "deceased_donor"})


def lab(sampled_on: str = "2026-03-09") -> Fact:
    return fact("lab.resulted", {"visit": "week_1", "analyte": "ALT", "value": 30.0,
                                 "unit": "U/L", "sampled_at": f"{sampled_on}T08:30:00+00:00"})


def visit(on: str = "2026-03-09") -> Fact:
    return fact("visit.completed", {"visit": "week_1", "on": on})


def adverse_event(onset_on: str, term: str = "hepatic encephalopathy") -> Fact:
    return fact("adverse_event.reported", {**BLEED, "term": term, "onset_on": onset_on,
                                           "aware_at": f"{onset_on}T09:00:00+00:00"})


def withdrawal_of_consent(follow_up: str) -> Fact:
    return fact("consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-11",
                                      "follow_up": follow_up}, schema=2)


DIED = (*TREATED, REPORT, FATAL_UPDATE, death())


# -- R45: a death names its fatal adverse event -------------------------------------------------

def test_r45_a_death_without_a_fatal_adverse_event_is_refused() -> None:
    assert rule(*TREATED, death(event=None)) == ("death.fatal_event_required", "payload.event")
    assert rule(*TREATED, death(event="ab" * 32)) == ("death.fatal_event_required", "payload.event")
    # the bleed is grade 4, not recovered: not yet the fatal event
    assert rule(*TREATED, REPORT, death()) == ("death.fatal_event_required", "payload.event")


def test_r45_a_death_with_its_fatal_event_ends_follow_up_as_died_not_withdrawn() -> None:
    state = run(*DIED)
    assert state.stage == "died" and state.disposition is None
    assert state.death is not None
    assert {k: state.death[k] for k in ("died_on", "cause", "liver_related", "autopsy", "event")} == {
        "died_on": "2026-03-12", "cause": "variceal haemorrhage", "liver_related": True,
        "autopsy": False, "event": REPORT.record_hash}
    assert state.death["record_hash"] == DIED[-1].record_hash and state.death["at"] == NOW.isoformat()
    assert END_STATES["died"] == ("DEATH", None)


def test_r45_a_death_is_recorded_once_and_only_by_the_investigator() -> None:
    assert rule(*DIED, death()) == ("death.recorded_already", "entry.type")
    by_monitor = fact("death.recorded", death().payload, role="monitor")
    assert rule(*TREATED, REPORT, FATAL_UPDATE, by_monitor) == ("entry.role_not_allowed",
                                                                "entry.role")


def test_r45_a_death_is_dated_plausibly_not_in_the_future_and_after_consent() -> None:
    assert rule(*TREATED, REPORT, FATAL_UPDATE, death("2026-03-21")) == ("date.in_future",
                                                                        "payload.died_on")
    assert rule(*TREATED, REPORT, FATAL_UPDATE, death("1899-12-31")) == ("date.implausible",
                                                                        "payload.died_on")


# -- R45: nothing is dated after the death ------------------------------------------------------

def test_r45_after_a_death_no_lab_and_no_visit_is_accepted() -> None:
    assert rule(*DIED, lab()) == ("participant.exited", "entry.type")
    assert rule(*DIED, visit()) == ("participant.exited", "entry.type")


def test_r45_an_adverse_event_beginning_after_the_death_is_refused() -> None:
    assert rule(*DIED, adverse_event("2026-03-13")) == ("death.after_death", "payload.onset_on")
    # one that began before it, learned of later, is still reported
    assert len(run(*DIED, adverse_event("2026-03-11")).adverse_events) == 2
    # and no event is seen to end after the participant died
    ongoing = adverse_event("2026-03-11")
    ends_later = fact("adverse_event.resolved", {"event": ongoing.record_hash,
                                                 "end_on": "2026-03-15", "outcome": "recovered"})
    assert rule(*DIED, ongoing, ends_later) == ("death.after_death", "payload.end_on")


def test_r45_no_vital_status_or_transplant_follows_a_death() -> None:
    vital = fact("vital_status.recorded", {"status": "dead", "on": "2026-03-15"})
    assert rule(*DIED, vital) == ("death.after_death", "entry.type")
    assert rule(*DIED, transplant()) == ("participant.exited", "entry.type")


def test_r45_a_death_dated_before_a_record_already_made_is_refused() -> None:
    # before the fatal event's own onset
    assert rule(*TREATED, REPORT, FATAL_UPDATE, death("2026-03-09")) == ("death.after_death",
                                                                        "payload.died_on")
    # before a visit the participant came to
    assert rule(*TREATED, visit("2026-03-11"), REPORT, FATAL_UPDATE, death("2026-03-10")) == \
        ("death.after_death", "payload.died_on")
    # before the transplant
    assert rule(*TREATED, transplant("2026-03-11"), REPORT, FATAL_UPDATE, death("2026-03-10")) == \
        ("death.after_death", "payload.died_on")


# -- R45: a transplant ends the trial's follow-up, not the safety follow-up ---------------------

def test_r45_a_transplant_ends_follow_up_and_a_later_death_is_still_accepted() -> None:
    done = (*TREATED, transplant("2026-03-11"))
    state = run(*done)
    assert state.stage == "transplanted" and state.transplant is not None
    assert (state.transplant["transplanted_on"], state.transplant["graft"]) == ("2026-03-11",
                                                                                "deceased_donor")
    assert END_STATES["transplanted"] == ("OTHER", "liver transplantation")
    assert rule(*done, lab("2026-03-12")) == ("participant.exited", "entry.type")
    assert rule(*done, visit("2026-03-12")) == ("participant.exited", "entry.type")
    assert rule(*done, transplant("2026-03-12")) == ("participant.exited", "entry.type")
    after = run(*done, REPORT, FATAL_UPDATE,
                fact("vital_status.recorded", {"status": "alive", "on": "2026-03-11"}), death())
    assert after.stage == "died" and after.transplant is not None and len(after.vital_status) == 1


def test_r45_a_death_after_the_exit_is_recorded() -> None:
    lost = fact("participant.lost_to_follow_up", {"on": "2026-03-09", "attempts": 3,
                                                  "last_attempt_on": "2026-03-11"}, schema=2)
    state = run(*TREATED, lost, REPORT, FATAL_UPDATE, death())
    assert state.stage == "died" and state.disposition is not None


# -- R45 with R41: after a withdrawal of consent, only where it was agreed ----------------------

def test_r45_a_death_after_withdrawal_of_consent_needs_vital_status_or_safety_follow_up() -> None:
    assert {"death.recorded", "transplant.recorded"} <= SAFETY_TYPES
    # vital status agreed: the death is recorded (its adverse event may not be)
    state = run(*TREATED, withdrawal_of_consent("vital_status"), death(event=None))
    assert state.stage == "died" and state.death is not None and "event" not in state.death
    assert rule(*TREATED, withdrawal_of_consent("vital_status"), REPORT) == \
        ("consent.follow_up_not_agreed", "entry.type")
    # safety agreed: the fatal event is recorded first, and the death names it
    state = run(*TREATED, withdrawal_of_consent("safety"), REPORT, FATAL_UPDATE, death())
    assert state.stage == "died"
    assert rule(*TREATED, withdrawal_of_consent("safety"), death(event=None)) == \
        ("death.fatal_event_required", "payload.event")
    # nothing agreed: no death is recorded
    assert rule(*TREATED, withdrawal_of_consent("none"), death(event=None)) == \
        ("consent.follow_up_not_agreed", "entry.type")
    assert rule(*TREATED, REPORT, FATAL_UPDATE, withdrawal_of_consent("none"), death()) == \
        ("consent.follow_up_not_agreed", "entry.type")


def test_r45_a_transplant_after_withdrawal_of_consent_needs_safety_follow_up() -> None:
    assert run(*TREATED, withdrawal_of_consent("safety"), transplant()).stage == "transplanted"
    for follow_up in ("none", "vital_status"):
        assert rule(*TREATED, withdrawal_of_consent(follow_up), transplant()) == \
            ("consent.follow_up_not_agreed", "entry.type")
