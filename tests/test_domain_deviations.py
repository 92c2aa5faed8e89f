"""Reported deviations and missed visits (R46), pure: the investigator and the monitor report
deviations, linked to a record of the participant, and resolve them; a missed visit is recorded
with its reason and is not completed afterwards; the major deviations for the per-protocol set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.deviations import SEVERITY, major_deviations
from domain.facts import Fact
from tests.domain_stream import P11, ParticipantStream, refused

NOW = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
PARTICIPANT = ParticipantStream(P11, now=NOW)
fact, follow, run = PARTICIPANT.fact, PARTICIPANT.follow, PARTICIPANT.run
refusal, state_of = PARTICIPANT.refusal, PARTICIPANT.state_of
SIGNED, BASELINE, INFUSED = "2026-03-01", "2026-03-02", "2026-03-04"


def lab(analyte: str, value: float, unit: str) -> Fact:
    return fact("lab.resulted", {"visit": "baseline", "analyte": analyte, "value": value,
                                 "unit": unit, "sampled_at": f"{BASELINE}T08:30:00+00:00"})


def infusion(cells_per_kg: float = 1e6) -> Fact:
    return PARTICIPANT.infusion(INFUSED, cells_per_kg)


def report(role: str = "investigator", severity: str = "minor", occurred_on: str = BASELINE,
           record: str | None = None, **more: Any) -> Fact:
    payload: dict[str, Any] = {"category": "procedure", "severity": severity,
                               "occurred_on": occurred_on,
                               "description": "baseline sample taken without fasting", **more}
    if record is not None:
        payload["record"] = record
    return fact("deviation.reported", payload, role=role)


def resolution(deviation: Fact | str, on: str = "2026-03-20", role: str = "monitor",
               **more: Any) -> Fact:
    record = deviation if isinstance(deviation, str) else deviation.record_hash
    return fact("deviation.resolved", {"deviation": record, "resolved_on": on, **more}, role=role)


def missed(visit: str = "week_4", reason: str = "participant in hospital elsewhere") -> Fact:
    return fact("visit.missed", {"visit": visit, "reason": reason})


def completed(visit: str, on: str) -> Fact:
    return fact("visit.completed", {"visit": visit, "on": on})


REGISTER = PARTICIPANT.registered()
TBIL = lab("TBIL", 30.0, "µmol/L")
BASELINE_DONE = (TBIL, lab("ALB", 35.0, "g/L"), lab("INR", 1.4, "ratio"),
                 lab("CREAT", 80.0, "µmol/L"), lab("SODIUM", 138.0, "mmol/L"),
                 fact("assessment.recorded", {"visit": "baseline", "observed_on": BASELINE,
                                              "ascites": "mild", "encephalopathy_grade": 0,
                                              "dialysis": False}, schema=2))
ENROLLED = (REGISTER, PARTICIPANT.consent(SIGNED), *BASELINE_DONE, PARTICIPANT.assessed(BASELINE),
            PARTICIPANT.determined(), PARTICIPANT.request(), PARTICIPANT.randomised())
TREATED = (*ENROLLED, infusion())
LEFT = fact("participant.withdrawn", {"on": "2026-04-15", "reason": "physician_decision"},
            schema=2, reason="hepatic decompensation")


def test_r46_investigator_and_monitor_report_deviations_linked_to_a_record() -> None:
    by_site = report(record=TBIL.record_hash)
    by_monitor = report("monitor", "major", SIGNED, category="consent",
                        description="consent signed on a superseded form version",
                        corrective_action="re-consent on the current form")
    run(*TREATED, by_site, by_monitor)
    reported: dict[Any, dict[str, Any]] = state_of(*TREATED, by_site, by_monitor).reported_deviations
    assert {k: reported[by_site.record_hash][k] for k in
            ("record", "severity", "status", "resolved_on", "by", "record_hash")} == {
        "record": TBIL.record_hash, "severity": "minor", "status": "open", "resolved_on": None,
        "by": "inv-001", "record_hash": by_site.record_hash}
    assert reported[by_site.record_hash]["at"] == NOW.isoformat()
    assert (reported[by_monitor.record_hash]["category"], reported[by_monitor.record_hash]["by"]) \
        == ("consent", "monitor-001")
    refused(refusal(*TREATED, report("data_manager")), "entry.role_not_allowed", "entry.role")


def test_r46_a_reported_deviation_names_a_record_of_this_participant_and_a_past_day() -> None:
    refused(refusal(*TREATED, report(record="0" * 64)), "deviation.unknown_record", "payload.record")
    refused(refusal(*TREATED, report(record="TBIL")), "payload.invalid", "payload.record")
    refused(refusal(*TREATED, report(occurred_on="2026-04-21")), "date.in_future",
            "payload.occurred_on")
    refused(refusal(*TREATED, report(occurred_on="1800-01-01")), "date.implausible",
            "payload.occurred_on")
    refused(refusal(*TREATED, report(category="paperwork")), "payload.invalid", "payload.category")
    refused(refusal(*TREATED, report(severity="critical")), "payload.invalid", "payload.severity")


def test_r46_a_reported_deviation_is_resolved_once() -> None:
    deviation = report(record=TBIL.record_hash)
    resolved = resolution(deviation, corrective_action="site retrained on fasting samples")
    run(*TREATED, deviation, resolved)
    after = state_of(*TREATED, deviation, resolved).reported_deviations[deviation.record_hash or ""]
    assert (after["status"], after["resolved_on"], after["corrective_action"], after["by"]) == (
        "resolved", "2026-03-20", "site retrained on fasting samples", "inv-001")
    refused(refusal(*TREATED, deviation, resolved, resolution(deviation, "2026-03-21")),
            "deviation.resolved_already", "payload.deviation")
    refused(refusal(*TREATED, deviation, resolution("0" * 64)), "deviation.unknown",
            "payload.deviation")
    refused(refusal(*TREATED, deviation, resolution(TBIL)), "deviation.unknown", "payload.deviation")
    refused(refusal(*TREATED, deviation, resolution(deviation, "2026-03-01")), "deviation.dates",
            "payload.resolved_on")
    refused(refusal(*TREATED, deviation, resolution(deviation, "2026-04-21")), "date.in_future",
            "payload.resolved_on")
    run(*TREATED, deviation, resolution(deviation, role="investigator"))


def test_r46_a_missed_visit_is_recorded_with_its_reason() -> None:
    visit = missed()
    run(*TREATED, visit)
    assert state_of(*TREATED, visit).missed_visits == (
        {"visit": "week_4", "reason": "participant in hospital elsewhere",
         "record_hash": visit.record_hash},)
    refused(refusal(*TREATED, missed("week_5")), "visit.unknown", "payload.visit")
    refused(refusal(*ENROLLED, missed()), "visit.before_infusion", "payload.visit")
    refused(refusal(*TREATED, completed("week_1", "2026-03-11"), missed("week_1")),
            "visit.done_already", "payload.visit")
    refused(refusal(*TREATED, visit, missed()), "visit.missed_already", "payload.visit")
    refused(refusal(*TREATED, missed(reason="")), "payload.invalid", "payload.reason")
    refused(refusal(*TREATED, fact("visit.missed", visit.payload, role="monitor")),
            "entry.role_not_allowed", "entry.role")


def test_r46_a_visit_recorded_missed_is_not_completed_afterwards() -> None:
    refused(refusal(*TREATED, missed("week_1"), completed("week_1", "2026-03-11")),
            "visit.missed_already", "payload.visit")
    run(*TREATED, missed("week_1"), completed("week_4", "2026-04-01"))


def test_r46_deviations_are_reported_and_resolved_after_the_participant_left() -> None:
    deviation = report(record=TBIL.record_hash)
    run(*TREATED, LEFT, deviation, resolution(deviation))
    late = report("monitor", "major", "2026-04-10", category="visit_window")
    run(*TREATED, deviation, LEFT, late, resolution(deviation, role="investigator"))
    refused(refusal(*TREATED, LEFT, missed()), "participant.exited", "entry.type")


def test_r46_major_deviations_are_the_systems_by_severity_and_those_reported_major() -> None:
    assert SEVERITY == {"dose_mismatch": "major", "baseline_incomplete": "major",
                        "visit_out_of_window": "minor", "sample_out_of_window": "minor",
                        "assessment_out_of_window": "minor", "baseline_out_of_window": "minor"}
    overdose, late_visit = infusion(3e6), completed("week_1", "2026-03-20")
    [dose] = follow(*ENROLLED, overdose)
    [window] = follow(*ENROLLED, overdose, late_visit)
    assert (dose.payload["kind"], window.payload["kind"]) == ("dose_mismatch", "visit_out_of_window")
    major, minor = report("monitor", "major", category="dosing"), report(record=TBIL.record_hash)
    facts = (*ENROLLED, overdose, fact(dose.type, dose.payload, role="system"), late_visit,
             fact(window.type, window.payload, role="system"), major, minor)
    run(*facts)
    assert [(d["source"], d.get("kind") or d.get("category")) for d in
            major_deviations(state_of(*facts))] == [("system", "dose_mismatch"),
                                                    ("reported", "dosing")]
    assert major_deviations(state_of(*TREATED, minor)) == []
