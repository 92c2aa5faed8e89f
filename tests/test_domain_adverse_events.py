"""Adverse events (R42), pure: every field of the report recorded, each rule refused with its id
and field, corrections that keep the earlier version with their reason, the resolution, and the
events still recorded in safety follow-up."""

from __future__ import annotations

from typing import Any

from domain import adverse_events, consent
from domain.facts import Fact
from tests.domain_stream import P11, ParticipantStream, refused

PARTICIPANT = ParticipantStream(P11)
fact, run, refusal = PARTICIPANT.fact, PARTICIPANT.run, PARTICIPANT.refusal
state = PARTICIPANT.run  # decided in order, the state after them
SIGNED = "2026-03-05"
REGISTER = PARTICIPANT.registered()
CONSENTED = (REGISTER, PARTICIPANT.consent(SIGNED))
HEADACHE: dict[str, Any] = {
    "term": "headache after infusion", "onset_on": "2026-03-08", "grade": 3, "serious": False,
    "relationship_cells": "possible", "relationship_procedure": "unlikely",
    "action_taken": "not_applicable", "outcome": "recovering"}
BLEED: dict[str, Any] = {
    "term": "oesophageal variceal bleed",
    "coded": {"dictionary": "MedDRA", "version": "27.0", "code": "10030210",
              "term": "Oesophageal varices haemorrhage"},
    "onset_on": "2026-03-08", "end_on": None, "grade": 4, "serious": True,
    "criteria": ["hospitalisation", "life_threatening"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "expected": False, "action_taken": "not_applicable",
    "outcome": "not_recovered", "special_interest": "variceal_bleeding",
    "aware_at": "2026-03-09T07:30:00+01:00"}


def report(**changes: Any) -> Fact:
    return fact("adverse_event.reported", {**HEADACHE, **changes})


def update(event: Fact, reason: str | None = "source document re-read", **changes: Any) -> Fact:
    return fact("adverse_event.updated", {**event.payload, **changes, "event": event.record_hash},
                reason=reason)


def resolve(event: Fact, end_on: str = "2026-03-09", outcome: str = "recovered") -> Fact:
    return fact("adverse_event.resolved", {"event": event.record_hash, "end_on": end_on,
                                           "outcome": outcome})


def test_r42_every_field_of_an_adverse_event_is_recorded() -> None:
    bleed = fact("adverse_event.reported", BLEED)
    recorded = state(*CONSENTED, bleed).adverse_events[bleed.record_hash or ""]
    assert {name: recorded[name] for name in BLEED} == BLEED
    assert (recorded["record_hash"], recorded["by"], recorded["status"]) == (
        bleed.record_hash, "inv-001", "ongoing")
    assert recorded["history"] == []
    minimal = state(*CONSENTED, report()).adverse_events[report().record_hash or ""]
    assert (minimal["coded"], minimal["criteria"], minimal["expected"], minimal["aware_at"]) == (
        None, [], None, None)


def test_r42_only_the_investigator_reports_adverse_events_with_fields_of_the_terms() -> None:
    assert refusal(*CONSENTED, fact("adverse_event.reported", HEADACHE, role="monitor")).rule == \
        "entry.role_not_allowed"
    for name, value in (("grade", 6), ("grade", 0), ("relationship_cells", "related"),
                        ("action_taken", "dose_reduced"), ("outcome", "resolved"),
                        ("special_interest", "fever"), ("criteria", ["other"]),
                        ("aware_at", "2026-03-09T07:30:00")):  # no offset: no instant
        rejection = refusal(*CONSENTED, report(**{name: value}))
        assert (rejection.rule, str(rejection.field).split(".")[:2]) == (
            "payload.invalid", ["payload", name]), name


def test_r42_an_adverse_event_starts_on_or_after_consent() -> None:
    refused(refusal(*CONSENTED, report(onset_on="2026-03-04")),
            "consent.procedure_before_consent", "payload.onset_on")
    refused(refusal(REGISTER, report()), "consent.procedure_before_consent", "entry.type")
    run(*CONSENTED, report(onset_on=SIGNED))


def test_r42_dates_are_plausible_and_not_in_the_future() -> None:
    refused(refusal(*CONSENTED, report(onset_on="2026-03-11")), "date.in_future", "payload.onset_on")
    refused(refusal(*CONSENTED, report(end_on="2126-03-09")), "date.implausible", "payload.end_on")
    refused(refusal(*CONSENTED, fact("adverse_event.reported",
                                     {**BLEED, "aware_at": "2026-03-10T09:05:00+00:00"})),
            "date.in_future", "payload.aware_at")


def test_r42_an_adverse_event_does_not_end_before_it_began() -> None:
    refused(refusal(*CONSENTED, report(end_on="2026-03-07", outcome="recovered")),
            "adverse_event.dates", "payload.end_on")
    ended = report(end_on="2026-03-08", outcome="recovered")
    assert state(*CONSENTED, ended).adverse_events[ended.record_hash or ""]["status"] == "resolved"


def test_r42_criteria_are_named_exactly_when_the_event_is_serious() -> None:
    refused(refusal(*CONSENTED, report(serious=True, aware_at="2026-03-09T08:00:00+00:00")),
            "adverse_event.seriousness", "payload.criteria")
    refused(refusal(*CONSENTED, report(criteria=["important_medical_event"])),
            "adverse_event.seriousness", "payload.criteria")
    refused(refusal(*CONSENTED, fact("adverse_event.reported",
                                     {**BLEED, "criteria": ["hospitalisation", "hospitalisation"]})),
            "adverse_event.seriousness", "payload.criteria")
    # severity is not seriousness: a grade 2 event that prolongs a stay in hospital is serious
    run(*CONSENTED, report(grade=2, serious=True, criteria=["hospitalisation"],
                           aware_at="2026-03-09T08:00:00+00:00"))


def test_r42_grade_5_is_a_fatal_outcome_and_a_fatal_outcome_grade_5() -> None:
    refused(refusal(*CONSENTED, report(grade=5)), "adverse_event.grade_outcome", "payload.outcome")
    refused(refusal(*CONSENTED, report(outcome="fatal")), "adverse_event.grade_outcome",
            "payload.grade")
    run(*CONSENTED, fact("adverse_event.reported", {**BLEED, "grade": 5, "outcome": "fatal",
                                                    "criteria": ["death"], "end_on": "2026-03-09"}))


def test_r42_a_serious_event_says_when_the_site_became_aware_of_it() -> None:
    refused(refusal(*CONSENTED, fact("adverse_event.reported", {**BLEED, "aware_at": None})),
            "adverse_event.awareness_required", "payload.aware_at")
    # the site's own calendar day: 23:30 on the 7th at UTC+1 is still before an onset on the 8th
    refused(refusal(*CONSENTED, fact("adverse_event.reported",
                                     {**BLEED, "aware_at": "2026-03-07T23:30:00+01:00"})),
            "adverse_event.dates", "payload.aware_at")
    run(*CONSENTED, fact("adverse_event.reported", {**BLEED, "aware_at": "2026-03-08T00:10:00+01:00"}))


def test_r42_a_correction_keeps_the_earlier_version_with_its_reason() -> None:
    first = report()
    corrected = update(first, grade=2, outcome="recovered", end_on="2026-03-09")
    event = state(*CONSENTED, first, corrected).adverse_events[first.record_hash or ""]
    assert (event["grade"], event["outcome"], event["end_on"], event["status"]) == (
        2, "recovered", "2026-03-09", "resolved")
    assert (event["record"], event["reason"]) == (corrected.record_hash, "source document re-read")
    assert [(v["grade"], v["record"], v["reason"]) for v in event["history"]] == [
        (3, first.record_hash, None)]
    refused(refusal(*CONSENTED, first, update(first, reason=None, grade=2)),
            "adverse_event.reason_required", "entry.reason")
    # a correction meets every rule of the report
    refused(refusal(*CONSENTED, first, update(first, serious=True)), "adverse_event.seriousness",
            "payload.criteria")
    refused(refusal(*CONSENTED, first, update(first, onset_on="2026-03-01")),
            "consent.procedure_before_consent", "payload.onset_on")


def test_r42_an_update_or_resolution_names_an_adverse_event_of_this_participant() -> None:
    other = report(term="rash")
    refused(refusal(*CONSENTED, report(), update(other)), "adverse_event.unknown", "payload.event")
    refused(refusal(*CONSENTED, report(), resolve(other)), "adverse_event.unknown", "payload.event")
    first = report()
    refused(refusal(*CONSENTED, first, update(update(first))), "adverse_event.unknown",
            "payload.event")  # the event is named by its report, not by a correction


def test_r42_an_adverse_event_resolves_once_not_before_it_began() -> None:
    first = report()
    event = state(*CONSENTED, first, resolve(first)).adverse_events[first.record_hash or ""]
    assert (event["end_on"], event["outcome"], event["status"]) == ("2026-03-09", "recovered",
                                                                     "resolved")
    assert [(v["outcome"], v["end_on"]) for v in event["history"]] == [("recovering", None)]
    refused(refusal(*CONSENTED, first, resolve(first), resolve(first, "2026-03-10")),
            "adverse_event.resolved_already", "payload.event")
    refused(refusal(*CONSENTED, first, resolve(first, "2026-03-07")), "adverse_event.dates",
            "payload.end_on")
    refused(refusal(*CONSENTED, first, resolve(first, outcome="fatal")),
            "adverse_event.grade_outcome", "payload.grade")
    assert refusal(*CONSENTED, first, resolve(first, outcome="recovering")).rule == "payload.invalid"


def test_r42_adverse_events_are_recorded_after_the_participant_left_the_trial() -> None:
    first = report()
    left = fact("participant.withdrawn", {"on": "2026-03-09", "reason": "physician_decision"},
                schema=2)
    later = report(term="rash", onset_on="2026-03-10")
    s = state(*CONSENTED, first, left, later, resolve(first), update(later, grade=1))
    assert s.stage == "withdrawn"
    assert set(s.adverse_events) == {first.record_hash, later.record_hash}


def _withdrawn(follow_up: str) -> tuple[Fact, ...]:
    return (*CONSENTED, report(), fact("consent.withdrawn", {
        "form_version": "1.0", "withdrawn_on": "2026-03-09", "follow_up": follow_up}, schema=2))


def test_r42_after_a_withdrawal_of_consent_only_agreed_safety_follow_up_is_recorded() -> None:
    first = report()
    assert refusal(*_withdrawn("none"), report(term="rash")).rule == "consent.follow_up_not_agreed"
    assert refusal(*_withdrawn("vital_status"), resolve(first)).rule == \
        "consent.follow_up_not_agreed"
    assert refusal(*_withdrawn("vital_status"), update(first, grade=2)).rule == \
        "consent.follow_up_not_agreed"
    assert adverse_events.TYPES <= consent.SAFETY_TYPES
    s = state(*_withdrawn("safety"), report(term="rash"), resolve(first))
    assert s.adverse_events[first.record_hash or ""]["status"] == "resolved"
    refused(refusal(*_withdrawn("safety"), report(onset_on="2026-03-01")),
            "consent.procedure_before_consent", "payload.onset_on")


def test_r42_a_correction_after_the_resolution_keeps_every_version() -> None:
    first = report()
    resolved = resolve(first)
    reopened = update(first, reason="the headache recurred the same day", end_on=None)
    event = state(*CONSENTED, first, resolved, reopened).adverse_events[first.record_hash or ""]
    assert (event["status"], event["end_on"], event["record"]) == ("ongoing", None,
                                                                   reopened.record_hash)
    assert [(v["record"], v["end_on"]) for v in event["history"]] == [
        (first.record_hash, None), (resolved.record_hash, "2026-03-09")]
    run(*CONSENTED, first, resolved, reopened, resolve(first, "2026-03-10"))
