"""The safety records through the SDK over HTTP against the real app (docs/clinical.md, R42–R45):
an adverse event reported, corrected with its reason and resolved, every version kept; a death
only with its fatal adverse event, its own end state, and no trial data after it; a liver
transplant that ends the trial's follow-up but not the safety follow-up; the sponsor's expedited
safety report. Every refusal is asserted by its problem+json rule id and field, and leaves the
participant's stream as long as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.client.sdk import LedgerClient

from .conftest import Trial
from .test_clinical_http import infuse, randomised, refusal, set_up

ASCITES: dict[str, Any] = {
    "term": "worsening ascites", "onset_on": "2026-03-10", "grade": 2, "serious": False,
    "relationship_cells": "unlikely", "relationship_procedure": "unlikely",
    "action_taken": "not_applicable", "outcome": "recovering", "special_interest": "ascites"}
BLEED: dict[str, Any] = {
    "term": "variceal bleeding", "onset_on": "2026-03-10", "grade": 3, "serious": True,
    "criteria": ["hospitalisation"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "action_taken": "not_applicable",
    "outcome": "not_recovered", "special_interest": "variceal_bleeding",
    "aware_at": datetime(2026, 3, 10, 12, 0, tzinfo=UTC)}
FATAL_BLEED: dict[str, Any] = {**BLEED, "grade": 5, "outcome": "fatal", "end_on": "2026-03-11",
                               "criteria": ["hospitalisation", "death"]}
DEATH: dict[str, Any] = {"cause": "variceal haemorrhage", "liver_related": True, "autopsy": False}


def refused(client: LedgerClient, pid: str, call: Any, *args: Any,
            **kw: Any) -> tuple[str, str | None]:
    """The rule id and field of a refusal, after checking it left nothing written."""
    before = client.head(f"participant/{pid}").version
    found = refusal(call, *args, **kw)
    assert client.head(f"participant/{pid}").version == before, found
    return found


def treated(trial: Trial, client: LedgerClient, pid: str) -> None:
    """`pid` randomised and infused on 2026-03-02; the clock ten days on (2026-03-12)."""
    arm = randomised(client, pid)
    infuse(client, trial, pid, arm)
    trial.clock.step(days=10)


def test_r42_an_adverse_event_is_reported_updated_with_its_reason_and_resolved_every_version_kept(
        trial: Trial) -> None:
    client = set_up(trial)
    treated(trial, client, "P-001")
    reported = client.report_adverse_event("P-001", **ASCITES)
    event = reported["record_hash"]
    assert refused(client, "P-001", client.append, "participant/P-001", "adverse_event.updated",
                   {**ASCITES, "grade": 3, "event": event}) == \
        ("adverse_event.reason_required", "entry.reason")  # the SDK always asks for one
    assert refused(client, "P-001", client.update_adverse_event, "P-001", event="0" * 64,
                   reason="x", **ASCITES) == ("adverse_event.unknown", "payload.event")
    assert refused(client, "P-001", client.report_adverse_event, "P-001",
                   **{**ASCITES, "serious": True}) == \
        ("adverse_event.seriousness", "payload.criteria")
    updated = client.update_adverse_event(
        "P-001", event=event, reason="paracentesis needed: grade 3",
        **{**ASCITES, "grade": 3, "action_taken": "drug_interrupted"})
    assert refused(client, "P-001", client.resolve_adverse_event, "P-001", event=event,
                   end_on="2026-03-09", outcome="recovered") == \
        ("adverse_event.dates", "payload.end_on")
    resolved = client.resolve_adverse_event("P-001", event=event, end_on="2026-03-11",
                                            outcome="recovered")
    assert refused(client, "P-001", client.resolve_adverse_event, "P-001", event=event,
                   end_on="2026-03-12", outcome="recovered") == \
        ("adverse_event.resolved_already", "payload.event")
    seen = client.participant("P-001")["adverse_events"][event]
    assert (seen["grade"], seen["action_taken"], seen["end_on"], seen["outcome"], seen["status"]) \
        == (3, "drug_interrupted", "2026-03-11", "recovered", "resolved")
    assert (seen["record_hash"], seen["record"]) == (event, resolved["record_hash"])
    # every earlier version, with the record that made it, who and why
    assert [(v["record"], v["grade"], v["outcome"], v["reason"], v["by"])
            for v in seen["history"]] == [
        (event, 2, "recovering", None, "inv-001"),
        (updated["record_hash"], 3, "recovering", "paracentesis needed: grade 3", "inv-001")]


def test_r45_a_death_needs_its_fatal_event_ends_follow_up_as_died_and_refuses_later_data(
        trial: Trial) -> None:
    client = set_up(trial)
    treated(trial, client, "P-001")
    client.complete_visit("P-001", visit="week_1", on="2026-03-09")
    bleed = client.report_adverse_event("P-001", **BLEED)["record_hash"]
    fatal = ("death.fatal_event_required", "payload.event")
    assert refused(client, "P-001", client.record_death, "P-001", died_on="2026-03-11",
                   **DEATH) == fatal
    assert refused(client, "P-001", client.record_death, "P-001", died_on="2026-03-11",
                   event=bleed, **DEATH) == fatal  # grade 3, not recovered: not the fatal one
    assert refused(client, "P-001", client.record_death, "P-001", died_on="2026-03-11",
                   event="0" * 64, **DEATH) == fatal
    client.update_adverse_event("P-001", event=bleed, reason="the participant died of the bleed",
                                **FATAL_BLEED)
    # the death is not dated before what was recorded of the participant alive
    assert refused(client, "P-001", client.record_death, "P-001", died_on="2026-03-08",
                   event=bleed, **DEATH) == ("death.after_death", "payload.died_on")
    died = client.record_death("P-001", died_on="2026-03-11", event=bleed, **DEATH)
    seen = client.participant("P-001")
    assert seen["stage"] == "died" and seen["disposition"] is None  # its own end, no withdrawal
    assert (seen["death"]["event"], seen["death"]["record_hash"], seen["death"]["died_on"]) == \
        (bleed, died["record_hash"], "2026-03-11")
    assert refused(client, "P-001", client.record_death, "P-001", died_on="2026-03-11",
                   event=bleed, **DEATH) == ("death.recorded_already", "entry.type")
    # no trial data after the death, each refusal naming its rule
    exited = ("participant.exited", "entry.type")
    assert refused(client, "P-001", client.record_lab, "P-001", visit="week_4", analyte="TBIL",
                   value=80.0, unit="µmol/L",
                   sampled_at=trial.clock.now - timedelta(hours=1)) == exited
    assert refused(client, "P-001", client.complete_visit, "P-001", visit="week_4",
                   on="2026-03-12") == exited
    assert refused(client, "P-001", client.record_assessment, "P-001", visit="week_4",
                   observed_on="2026-03-12", ascites="moderate_severe", encephalopathy_grade=2,
                   dialysis=False) == exited
    # nor an adverse event beginning after the death, though earlier ones may still be reported
    assert refused(client, "P-001", client.report_adverse_event, "P-001",
                   **{**ASCITES, "onset_on": "2026-03-12"}) == \
        ("death.after_death", "payload.onset_on")
    client.report_adverse_event("P-001", **ASCITES)
    assert len(client.participant("P-001")["adverse_events"]) == 2


def test_r45_a_transplant_ends_follow_up_and_a_later_death_is_accepted(trial: Trial) -> None:
    client = set_up(trial)
    treated(trial, client, "P-002")
    assert refused(client, "P-002", client.record_transplant, "P-002",
                   transplanted_on="2026-03-10", graft="split_liver")[0] == "payload.invalid"
    assert refused(client, "P-002", client.record_transplant, "P-002",
                   transplanted_on="2026-02-20", graft="deceased_donor") == \
        ("consent.procedure_before_consent", "payload.transplanted_on")
    transplant = client.record_transplant("P-002", transplanted_on="2026-03-10",
                                          graft="deceased_donor")
    seen = client.participant("P-002")
    assert seen["stage"] == "transplanted" and seen["disposition"] is None
    assert (seen["transplant"]["graft"], seen["transplant"]["record_hash"]) == \
        ("deceased_donor", transplant["record_hash"])
    assert refused(client, "P-002", client.record_lab, "P-002", visit="week_4", analyte="TBIL",
                   value=30.0, unit="µmol/L", sampled_at=trial.clock.now - timedelta(hours=1)) == \
        ("participant.exited", "entry.type")
    # safety follow-up goes on: the graft failed, and the participant died of it
    failure = client.report_adverse_event(
        "P-002", term="primary graft non-function", onset_on="2026-03-11", grade=5, serious=True,
        criteria=["death"], relationship_cells="unlikely", relationship_procedure="unlikely",
        action_taken="not_applicable", outcome="fatal", end_on="2026-03-12",
        aware_at=datetime(2026, 3, 11, 18, 0, tzinfo=UTC))["record_hash"]
    assert refused(client, "P-002", client.record_death, "P-002", died_on="2026-03-09",
                   event=failure, **DEATH) == ("death.after_death", "payload.died_on")
    client.record_death("P-002", died_on="2026-03-12", event=failure,
                        **{**DEATH, "cause": "primary graft non-function", "autopsy": True})
    seen = client.participant("P-002")
    assert seen["stage"] == "died" and seen["transplant"]["transplanted_on"] == "2026-03-10"
    assert seen["death"]["autopsy"] is True


def test_r44_the_safety_officer_submits_expedited_reports_of_serious_events_only(
        trial: Trial) -> None:
    client = set_up(trial)
    treated(trial, client, "P-001")
    bleed = client.report_adverse_event("P-001", **BLEED)["record_hash"]
    mild = client.report_adverse_event("P-001", **ASCITES)["record_hash"]
    officer = trial.client("safety-001", role="safety", site="sponsor")
    assert refused(client, "P-001", client.submit_safety_report, "P-001", event=bleed,
                   to="national competent authority", reference="SAE-1") == \
        ("entry.role_not_allowed", "entry.role")  # the sponsor's duty, not the site's
    assert refused(officer, "P-001", officer.submit_safety_report, "P-001", event=mild,
                   to="national competent authority", reference="SAE-2") == \
        ("safety_report.not_serious", "payload.event")
    assert refused(officer, "P-001", officer.submit_safety_report, "P-001", event="0" * 64,
                   to="national competent authority", reference="SAE-3") == \
        ("safety_report.unknown_event", "payload.event")
    first = officer.submit_safety_report("P-001", event=bleed, to="national competent authority",
                                         reference="SAE-2026-001")
    # the event turns fatal; the death is recorded, and the sponsor's follow-up report still is
    client.update_adverse_event("P-001", event=bleed, reason="the participant died of the bleed",
                                **FATAL_BLEED)
    client.record_death("P-001", died_on="2026-03-11", event=bleed, **DEATH)
    later = officer.submit_safety_report("P-001", event=bleed, to="ethics committee",
                                         reference="SAE-2026-001/FU1", kind="follow_up")
    reports = client.participant("P-001")["safety_reports"]
    assert [(r["record_hash"], r["event"], r["to"], r["kind"], r["by"]) for r in reports] == [
        (first["record_hash"], bleed, "national competent authority", "initial", "safety-001"),
        (later["record_hash"], bleed, "ethics committee", "follow_up", "safety-001")]
