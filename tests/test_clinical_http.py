"""Clinical integrity through the SDK over HTTP against the real app (docs/clinical.md): consent
first (R40), no new data after a withdrawal of consent but the follow-up agreed to (R41), the
baseline of protocol 1.1, medication exclusions raised as queries (R47), reported deviations and
missed visits in the participant's view and the audit trail (R46), and coded withdrawals. Every
refusal is asserted by its problem+json rule id and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from api.client.sdk import LedgerClient, LedgerClientError
from api.services.trial_setup import set_up_trial

from .conftest import LEDGER_PASS, ROOT_PASS, Trial

ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
DOSE = {"low": 1e6, "medium_high": 3e6}
BASELINE = {"TBIL": (41.0, "µmol/L"), "ALB": (31.0, "g/L"), "INR": (1.6, "ratio"),
            "CREAT": (1.1, "mg/dL"), "SODIUM": (134.0, "mmol/L")}


def set_up(trial: Trial) -> LedgerClient:
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS,
                 system_passphrase=LEDGER_PASS, slots=None, seed=b"s" * 32)
    return trial.client("inv-001")


def amend_to_1_1(trial: Trial) -> dict[str, Any]:
    """Protocol 1.1 put in force by the sponsor's admin through the SDK."""
    document = json.loads(resources.files("domain.protocols")
                          .joinpath("nct06167473-1.1.json").read_text("utf-8"))
    admin = trial.client("sponsor-admin", role="admin", site="sponsor")
    return admin.amend_protocol(document=document,
                                reason="amendment 1: baseline, primary score, medication exclusions")


def refusal(call: Any, *args: Any, **kw: Any) -> tuple[str, str | None]:
    """The rule id and field of the problem+json a refused call answered."""
    with pytest.raises(LedgerClientError) as caught:
        call(*args, **kw)
    assert caught.value.status == 422, caught.value.problem
    return caught.value.rule, caught.value.problem.get("field")


def consented(client: LedgerClient, pid: str) -> None:
    client.register_participant(pid, sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    client.sign_consent(pid, form_version="1.0", signed_on="2026-03-01")


def randomised(client: LedgerClient, pid: str, protocol: str = "1.0") -> str:
    """Consented, eligible and randomised; returns the arm."""
    consented(client, pid)
    client.assess_eligibility(pid, assessed_on="2026-03-02", esld_confirmed=True, answers=ELIGIBLE,
                              protocol_version=protocol)
    client.request_randomisation(pid)
    return str(client.participant(pid)["arm"])


def infuse(client: LedgerClient, trial: Trial, pid: str, arm: str) -> dict[str, Any]:
    end = trial.clock.now - timedelta(minutes=5)
    return client.record_infusion(pid, infusion_number=1, started_at=end - timedelta(minutes=40),
                                  ended_at=end, weight_kg=64.0, cells_per_kg=DOSE[arm],
                                  total_cells=DOSE[arm] * 64.0, lot="UC-1")


def baseline_sampled(client: LedgerClient, trial: Trial, pid: str) -> None:
    taken = trial.clock.now - timedelta(hours=2)
    for analyte, (value, unit) in BASELINE.items():
        client.record_lab(pid, visit="baseline", analyte=analyte, value=value, unit=unit,
                          sampled_at=taken)
    client.record_assessment(pid, visit="baseline", observed_on=taken.date(), ascites="mild",
                             encephalopathy_grade=0, dialysis=False)


def test_r40_procedures_dated_before_consent_are_refused_naming_the_date(trial: Trial) -> None:
    client = set_up(trial)
    consented(client, "P-001")  # consent signed on 2026-03-01
    assert refusal(client.assess_eligibility, "P-001", assessed_on="2026-02-27",
                   esld_confirmed=True, answers=ELIGIBLE) == \
        ("consent.procedure_before_consent", "payload.assessed_on")
    client.assess_eligibility("P-001", assessed_on="2026-03-01", esld_confirmed=True,
                              answers=ELIGIBLE)  # the day of consent itself is fine
    client.request_randomisation("P-001")
    arm = str(client.participant("P-001")["arm"])
    before = trial.clock.now - timedelta(days=4)  # 2026-02-26
    assert refusal(client.record_lab, "P-001", visit="baseline", analyte="TBIL", value=41.0,
                   unit="µmol/L", sampled_at=before) == \
        ("consent.procedure_before_consent", "payload.sampled_at")
    assert refusal(client.record_assessment, "P-001", visit="baseline", observed_on=before.date(),
                   ascites="none", encephalopathy_grade=0, dialysis=False) == \
        ("consent.procedure_before_consent", "payload.observed_on")
    assert refusal(client.record_infusion, "P-001", infusion_number=1, started_at=before,
                   ended_at=before + timedelta(minutes=40), weight_kg=64.0,
                   cells_per_kg=DOSE[arm], total_cells=DOSE[arm] * 64.0, lot="UC-1") == \
        ("consent.procedure_before_consent", "payload.started_at")
    seen = client.participant("P-001")
    assert seen["labs"] == {} and seen["assessments"] == {} and seen["infusions"] == []


def test_r40_a_procedure_without_any_consent_is_refused(trial: Trial) -> None:
    client = set_up(trial)
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    assert refusal(client.record_lab, "P-001", visit="baseline", analyte="TBIL", value=41.0,
                   unit="µmol/L", sampled_at=trial.clock.now - timedelta(hours=1)) == \
        ("consent.procedure_before_consent", "entry.type")
    assert refusal(client.record_medical_history, "P-001", taken_on="2026-03-02",
                   aetiology="alcohol") == ("consent.procedure_before_consent", "entry.type")
    assert refusal(client.record_medication, "P-001", name="furosemide", category="diuretic",
                   indication="ascites", start="2026-01-10") == \
        ("consent.procedure_before_consent", "entry.type")


def test_r41_after_withdrawal_without_follow_up_no_new_data_nor_vital_status(trial: Trial) -> None:
    client = set_up(trial)
    randomised(client, "P-001")
    client.record_lab("P-001", visit="baseline", analyte="TBIL", value=41.0, unit="µmol/L",
                      sampled_at=trial.clock.now - timedelta(hours=3))
    client.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    assert client.participant("P-001")["follow_up"] == "none"
    no_new_data = ("consent.withdrawn_no_new_data", "entry.type")
    assert refusal(client.record_lab, "P-001", visit="baseline", analyte="ALB", value=31.0,
                   unit="g/L", sampled_at=trial.clock.now - timedelta(hours=1)) == no_new_data
    assert refusal(client.complete_visit, "P-001", visit="baseline", on="2026-03-02") == no_new_data
    assert refusal(client.record_vital_status, "P-001", status="alive", on="2026-03-02") == \
        ("consent.follow_up_not_agreed", "entry.type")
    # Not yet assessed when consent was withdrawn: no eligibility assessment either.
    consented(client, "P-002")
    client.withdraw_consent("P-002", form_version="1.0", withdrawn_on="2026-03-02")
    assert refusal(client.assess_eligibility, "P-002", assessed_on="2026-03-02",
                   esld_confirmed=True, answers=ELIGIBLE) == no_new_data
    # What was recorded before the withdrawal stays.
    assert client.participant("P-001")["labs"]["baseline/TBIL"]["value"] == 41.0


SERIOUS_BLEED: dict[str, Any] = {
    "term": "variceal bleeding", "onset_on": "2026-03-15", "grade": 3, "serious": True,
    "criteria": ["hospitalisation"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "action_taken": "not_applicable",
    "outcome": "recovering", "special_interest": "variceal_bleeding",
    "aware_at": datetime(2026, 3, 16, 10, 0, tzinfo=UTC)}


def withdrawn_with(trial: Trial, follow_up: str) -> LedgerClient:
    """P-001 randomised, then consent withdrawn with `follow_up`; the clock 20 days on."""
    client = set_up(trial)
    randomised(client, "P-001")
    client.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02",
                            follow_up=follow_up)
    trial.clock.step(days=20)
    return client


def test_r41_safety_follow_up_keeps_vital_status_and_no_new_trial_data(trial: Trial) -> None:
    client = withdrawn_with(trial, "safety")
    client.record_vital_status("P-001", status="alive", on="2026-03-21",
                               known_alive_on="2026-03-20")
    seen = client.participant("P-001")
    assert seen["follow_up"] == "safety"
    assert [v["status"] for v in seen["vital_status"]] == ["alive"]
    # Safety follow-up is no consent to new trial data.
    assert refusal(client.record_lab, "P-001", visit="week_1", analyte="TBIL", value=30.0,
                   unit="µmol/L", sampled_at=trial.clock.now - timedelta(hours=1)) == \
        ("consent.withdrawn_no_new_data", "entry.type")
    assert refusal(client.record_vital_status, "P-001", status="alive", on="2026-02-27") == \
        ("consent.procedure_before_consent", "payload.on")


def test_r41_safety_follow_up_keeps_adverse_events(trial: Trial) -> None:
    client = withdrawn_with(trial, "safety")
    reported = client.report_adverse_event("P-001", **SERIOUS_BLEED)
    client.update_adverse_event("P-001", event=reported["record_hash"],
                                reason="grade revised after the endoscopy report",
                                **{**SERIOUS_BLEED, "grade": 4, "criteria": ["life_threatening"]})
    client.resolve_adverse_event("P-001", event=reported["record_hash"], end_on="2026-03-20",
                                 outcome="recovered")
    (event,) = client.participant("P-001")["adverse_events"].values()
    assert (event["term"], event["grade"], event["end_on"], event["outcome"]) == \
        ("variceal bleeding", 4, "2026-03-20", "recovered")


def test_r41_vital_status_follow_up_keeps_vital_status_but_no_adverse_event(trial: Trial) -> None:
    client = withdrawn_with(trial, "vital_status")
    client.record_vital_status("P-001", status="alive", on="2026-03-21")
    assert [v["status"] for v in client.participant("P-001")["vital_status"]] == ["alive"]
    assert refusal(client.report_adverse_event, "P-001", **SERIOUS_BLEED) == \
        ("consent.follow_up_not_agreed", "entry.type")


def test_baseline_under_protocol_1_1_amended_with_a_reason(trial: Trial) -> None:
    client = set_up(trial)
    receipt = amend_to_1_1(trial)
    # The amendment is a record on the protocol stream, with its reason.
    admin = trial.client("sponsor-admin-2", role="admin", site="sponsor")
    head = admin.head("protocol")
    assert (head.version, head.record_hash) == (2, receipt["record_hash"])
    (row,) = admin._get("/v1/audit?type=protocol.amended")["rows"]
    assert row["record_hash"] == receipt["record_hash"] and row["reason"].startswith("amendment 1")
    arm = randomised(client, "P-001", protocol="1.1")
    # The baseline is complete before the infusion, or the infusion is refused.
    assert refusal(infuse, client, trial, "P-001", arm) == ("baseline.incomplete", "entry.type")
    baseline_sampled(client, trial, "P-001")
    infuse(client, trial, "P-001", arm)
    trial.clock.step(days=1)
    assert refusal(client.record_lab, "P-001", visit="baseline", analyte="ALT", value=40.0,
                   unit="U/L", sampled_at=trial.clock.now - timedelta(hours=1)) == \
        ("baseline.after_infusion", "payload.sampled_at")
    assert set(client.participant("P-001")["labs"]) == {f"baseline/{a}" for a in BASELINE}


def test_a_follow_up_assessment_before_the_infusion_and_an_unknown_visit_are_refused(
        trial: Trial) -> None:
    client = set_up(trial)
    randomised(client, "P-001")
    assert refusal(client.record_assessment, "P-001", visit="week_4", observed_on="2026-03-02",
                   ascites="none", encephalopathy_grade=0, dialysis=False) == \
        ("visit.before_infusion", "payload.visit")
    assert refusal(client.record_assessment, "P-001", visit="week_5", observed_on="2026-03-02",
                   ascites="none", encephalopathy_grade=0, dialysis=False) == \
        ("visit.unknown", "payload.visit")
    assert refusal(client.append, "participant/P-001", "assessment.recorded", {
        "visit": "baseline", "ascites": "none", "encephalopathy_grade": 0,
        "dialysis": False}) == ("assessment.observed_on_required", "payload.observed_on")


def _queries_on(client: LedgerClient, pid: str, record: str) -> list[dict[str, Any]]:
    return [q for q in client.participant(pid)["queries"].values() if q["record"] == record]


def test_r47_a_glucocorticoid_course_in_the_year_before_eligibility_opens_a_query(
        trial: Trial) -> None:
    client = set_up(trial)
    amend_to_1_1(trial)
    consented(client, "P-001")
    client.record_medical_history("P-001", taken_on="2026-03-01", aetiology="autoimmune_hepatitis",
                                  conditions=[{"term": "hypothyroidism", "onset": "2015-06-01",
                                               "ongoing": True}])
    steroid = client.record_medication("P-001", name="prednisolone", category="glucocorticoid",
                                       indication="autoimmune hepatitis", dose="20 mg daily",
                                       route="oral", start="2025-06-01", stop="2025-12-15")
    old = client.record_medication("P-001", name="prednisolone", category="glucocorticoid",
                                   indication="autoimmune hepatitis", start="2023-01-10",
                                   stop="2024-01-10")
    beta = client.record_medication("P-001", name="propranolol", category="beta_blocker",
                                    indication="varices", start="2025-06-01")
    # Before the assessment, the year up to the day the course is recorded is what counts.
    assert [f["type"] for f in steroid["follow_ups"]] == ["query.opened"]
    assessed = client.assess_eligibility("P-001", assessed_on="2026-03-02", esld_confirmed=True,
                                         answers=ELIGIBLE, protocol_version="1.1")
    assert "query.opened" not in [f["type"] for f in assessed["follow_ups"]]  # open already
    (query,) = _queries_on(client, "P-001", steroid["record_hash"])
    assert query["field"] == "start" and query["text"].startswith("exc-6")
    assert _queries_on(client, "P-001", old["record_hash"]) == []  # over a year before
    assert _queries_on(client, "P-001", beta["record_hash"]) == []  # not an excluding category
    # A course recorded after the assessment is queried too.
    late = client.record_medication("P-001", name="peginterferon alfa-2a", category="interferon",
                                    indication="hepatitis C", start="2025-04-01",
                                    stop="2025-09-30")
    assert [q["field"] for q in _queries_on(client, "P-001", late["record_hash"])] == ["start"]
    history = client.participant("P-001")["medical_history"]
    assert history["aetiology"] == "autoimmune_hepatitis"


def test_r47_medication_dates_and_a_second_history_without_reason_are_refused(
        trial: Trial) -> None:
    client = set_up(trial)
    consented(client, "P-001")
    assert refusal(client.record_medication, "P-001", name="furosemide", category="diuretic",
                   indication="ascites", start="2026-01-10", stop="2025-12-01") == \
        ("medication.dates", "payload.stop")
    client.record_medical_history("P-001", taken_on="2026-03-01", aetiology="alcohol")
    assert refusal(client.record_medical_history, "P-001", taken_on="2026-03-02",
                   aetiology="mash")[0] == "history.reason_required"
    client.record_medical_history("P-001", taken_on="2026-03-02", aetiology="mash",
                                  reason="aetiology revised after biopsy")
    assert client.participant("P-001")["medical_history"]["aetiology"] == "mash"


def test_r46_reported_deviations_and_missed_visits_in_the_view_and_the_audit_trail(
        trial: Trial) -> None:
    client = set_up(trial)
    arm = randomised(client, "P-001")
    infusion = infuse(client, trial, "P-001", arm)
    trial.clock.step(days=10)
    missed = client.miss_visit("P-001", visit="week_1", reason="participant admitted elsewhere")
    assert refusal(client.complete_visit, "P-001", visit="week_1", on="2026-03-11") == \
        ("visit.missed_already", "payload.visit")
    assert refusal(client.miss_visit, "P-001", visit="week_3", reason="x")[0] == "visit.unknown"
    reported = client.report_deviation(
        "P-001", category="dosing", severity="major", occurred_on="2026-03-02",
        description="cells thawed 40 minutes longer than the protocol allows",
        record=infusion["record_hash"])
    assert refusal(client.report_deviation, "P-001", category="procedure", severity="minor",
                   occurred_on="2026-03-02", description="x", record="0" * 64) == \
        ("deviation.unknown_record", "payload.record")
    monitor = trial.client("mon-001", role="monitor", site="sponsor")
    monitor.resolve_deviation("P-001", deviation=reported["record_hash"], resolved_on="2026-03-12",
                              corrective_action="thawing retrained at the site")
    assert refusal(monitor.resolve_deviation, "P-001", deviation=reported["record_hash"],
                   resolved_on="2026-03-12")[0] == "deviation.resolved_already"
    seen = client.participant("P-001")
    deviation = seen["reported_deviations"][reported["record_hash"]]
    assert (deviation["category"], deviation["severity"], deviation["status"]) == \
        ("dosing", "major", "resolved")
    assert [(m["visit"], m["record_hash"]) for m in seen["missed_visits"]] == \
        [("week_1", missed["record_hash"])]
    for kind, receipt in (("deviation.reported", reported), ("visit.missed", missed)):
        rows = client._get(f"/v1/audit?participant=P-001&type={kind}")["rows"]
        assert [r["record_hash"] for r in rows] == [receipt["record_hash"]]


def test_withdrawals_are_coded_and_refused_without_what_the_code_needs(trial: Trial) -> None:
    client = set_up(trial)
    randomised(client, "P-001")
    assert refusal(client.withdraw, "P-001", on="2026-03-02", reason="other") == \
        ("disposition.reason_text_required", "payload.reason_text")
    assert refusal(client.withdraw, "P-001", on="2026-03-02", reason="lost_to_follow_up") == \
        ("disposition.use_lost_to_follow_up", "payload.reason")
    assert refusal(client.exit_participant, "P-001", "withdrawn", on="2026-03-02",
                   reason="moved abroad") == ("disposition.reason_not_coded", "entry.schema")
    assert refusal(client.withdraw, "P-001", on="2026-03-02", reason="moved_abroad")[0] == \
        "payload.invalid"
    assert refusal(client.lost_to_follow_up, "P-001", on="2026-03-02", attempts=3,
                   last_attempt_on="2026-03-01") == \
        ("disposition.last_attempt_before_contact", "payload.last_attempt_on")
    client.discontinue_treatment("P-001", reason="physician_decision", on="2026-03-02",
                                 reason_text="variceal bleed before the infusion")
    client.withdraw("P-001", on="2026-03-02", reason="other", reason_text="moved abroad")
    seen = client.participant("P-001")
    assert seen["treatment_discontinued"]["reason"] == "physician_decision"
    assert (seen["disposition"]["kind"], seen["disposition"]["reason"],
            seen["disposition"]["reason_text"]) == ("withdrawn", "other", "moved abroad")
    assert seen["stage"] == "withdrawn"


def test_lost_to_follow_up_and_completion_through_the_sdk(trial: Trial) -> None:
    client = set_up(trial)
    randomised(client, "P-001")
    client.lost_to_follow_up("P-001", on="2026-03-01", attempts=3, last_attempt_on="2026-03-02")
    seen = client.participant("P-001")
    assert (seen["stage"], seen["disposition"]["attempts"]) == ("lost_to_follow_up", 3)
    randomised(client, "P-002")
    client.complete("P-002", on="2026-03-02")
    assert client.participant("P-002")["disposition"]["kind"] == "completed"
