"""The trial's safety through the SDK over HTTP against the real app (docs/clinical.md, R43–R45):
every serious adverse event's 24-hour clock (met, late by the hours past due), a suspected SUSAR's
7- or 15-day expedited clock (open, overdue, then met or late once the sponsor's safety officer
reports it), the adverse events, their counts and the survival; per arm for an unblinded role,
pooled with no arm anywhere for a blinded monitor; nothing without a token."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api.client.sdk import LedgerClient, LedgerClientError

from .conftest import Trial
from .test_cli_users import ledger as ledger  # the fixture: an initialised ledger for the CLI
from .test_cli_users import ok
from .test_clinical_http import infuse, randomised, set_up

ARM = re.compile(r"(?<![0-9A-Za-z+/_-])(low|medium_high)(?![0-9A-Za-z+/_-])")
SAE: dict[str, Any] = {
    "grade": 3, "serious": True, "criteria": ["hospitalisation"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "action_taken": "not_applicable", "outcome": "recovering"}


def safety(client: LedgerClient) -> dict[str, Any]:
    answer = client.http.get("/v1/safety")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def clock_of(answer: dict[str, Any], event: str) -> dict[str, Any]:
    (row,) = [c for c in answer["clocks"] if c["event"] == event]
    found: dict[str, Any] = row
    return found


def report_to_authority(officer: LedgerClient, pid: str, event: str) -> dict[str, Any]:
    return officer.submit_safety_report(pid, event=event, to="national competent authority",
                                        reference=f"SUSAR-{event[:8]}")


def treated_trial(trial: Trial) -> tuple[LedgerClient, str]:
    """P-001 randomised and infused, the clock ten days on; the investigator and the arm."""
    client = set_up(trial)
    arm = randomised(client, "P-001")
    infuse(client, trial, "P-001", arm)
    trial.clock.step(days=10)
    return client, arm


def test_r43_an_sae_reported_within_24_hours_is_met_and_30_hours_after_is_late(
        trial: Trial) -> None:
    client, _ = treated_trial(trial)
    now = trial.clock.now
    on_time = client.report_adverse_event("P-001", term="variceal bleeding",
                                          onset_on=(now - timedelta(days=1)).date(),
                                          aware_at=now - timedelta(hours=2), **SAE)["record_hash"]
    late = client.report_adverse_event("P-001", term="spontaneous bacterial peritonitis",
                                       onset_on=(now - timedelta(days=2)).date(),
                                       aware_at=now - timedelta(hours=30), **SAE)["record_hash"]
    mild = client.report_adverse_event("P-001", term="nausea", onset_on=now.date(), grade=1,
                                       serious=False, relationship_cells="unlikely",
                                       relationship_procedure="unlikely",
                                       action_taken="not_applicable", outcome="recovered")
    answer = safety(trial.client("safety-001", role="safety", site="sponsor"))
    met, overdue = clock_of(answer, on_time), clock_of(answer, late)
    assert (met["participant_id"], met["term"], met["report_status"],
            met["report_late_hours"]) == ("P-001", "variceal bleeding", "met", None)
    assert met["report_record"] == on_time and met["susar"] is False
    assert met["expedited_days"] is None and met["expedited_status"] is None
    assert (overdue["report_status"], overdue["report_late_hours"]) == ("late", 6.0)
    assert overdue["reported_at"] > overdue["report_due"]
    assert len(answer["clocks"]) == 2  # the non-serious event has no clock
    listed = {e["event"]: e for e in answer["adverse_events"]}
    assert set(listed) == {on_time, late, mild["record_hash"]}
    assert (listed[mild["record_hash"]]["term"], listed[mild["record_hash"]]["serious"]) == \
        ("nausea", False)
    counts = answer["summary"]
    assert counts["events"] == 3 and counts["by_seriousness"]["serious"]["events"] == 2
    assert counts["by_grade"]["3"] == {"events": 2, "participants": 1}


def test_r43_an_update_that_makes_an_event_serious_starts_its_clock_then(trial: Trial) -> None:
    client, _ = treated_trial(trial)
    now = trial.clock.now
    first = client.report_adverse_event("P-001", term="ascites", onset_on=now.date(), grade=2,
                                        serious=False, relationship_cells="unlikely",
                                        relationship_procedure="unlikely",
                                        action_taken="not_applicable", outcome="not_recovered")
    trial.clock.step(hours=40)
    update = client.update_adverse_event(
        "P-001", event=first["record_hash"], reason="admitted for paracentesis", term="ascites",
        onset_on=now.date(), aware_at=trial.clock.now - timedelta(hours=1), **SAE)
    row = clock_of(safety(client), first["record_hash"])
    assert (row["report_record"], row["report_status"]) == (update["record_hash"], "met")


def test_r44_a_related_unexpected_life_threatening_sae_has_7_days_and_the_report_meets_it(
        trial: Trial) -> None:
    client, _ = treated_trial(trial)
    officer = trial.client("safety-001", role="safety", site="sponsor")
    now = trial.clock.now
    event = client.report_adverse_event(
        "P-001", term="acute liver failure", onset_on=now.date(),
        aware_at=now - timedelta(hours=3), **{**SAE, "grade": 4, "criteria": ["life_threatening"],
                                              "relationship_cells": "probable"},
        expected=False)["record_hash"]
    row = clock_of(safety(officer), event)
    assert (row["susar"], row["expedited_days"], row["expedited_status"]) == (True, 7, "open")
    assert row["expedited_due"] > row["reported_at"]
    with pytest.raises(LedgerClientError) as refused:  # the site does not report to authorities
        report_to_authority(client, "P-001", event)
    assert refused.value.rule == "entry.role_not_allowed"
    trial.clock.step(days=2)
    submitted = report_to_authority(officer, "P-001", event)
    row = clock_of(safety(officer), event)
    assert (row["expedited_status"], row["expedited_late_hours"]) == ("met", None)
    assert row["expedited_record"] == submitted["record_hash"]
    assert row["expedited_at"] is not None and row["expedited_at"] <= row["expedited_due"]


def test_r44_a_related_unexpected_sae_has_15_days_overdue_then_late(trial: Trial) -> None:
    client, _ = treated_trial(trial)
    officer = trial.client("safety-001", role="safety", site="sponsor")
    now = trial.clock.now
    event = client.report_adverse_event(
        "P-001", term="cholangitis", onset_on=now.date(), aware_at=now - timedelta(hours=1),
        **{**SAE, "relationship_procedure": "possible"}, expected=False)["record_hash"]
    unrelated = client.report_adverse_event(
        "P-001", term="fall", onset_on=now.date(), aware_at=now - timedelta(hours=1),
        **SAE, expected=False)["record_hash"]
    trial.clock.step(days=16)
    answer = safety(officer)
    row = clock_of(answer, event)
    assert (row["susar"], row["expedited_days"], row["expedited_status"]) == \
        (True, 15, "overdue")
    assert row["expedited_late_hours"] >= 24
    assert clock_of(answer, unrelated)["susar"] is False  # serious and unexpected, not related
    report_to_authority(officer, "P-001", event)
    row = clock_of(safety(officer), event)
    assert row["expedited_status"] == "late" and row["expedited_late_hours"] >= 24


def test_r44_a_blinded_monitor_sees_the_adverse_events_and_clocks_but_no_arm(
        trial: Trial) -> None:
    client, arm = treated_trial(trial)
    now = trial.clock.now
    client.report_adverse_event("P-001", term="variceal bleeding", onset_on=now.date(),
                                aware_at=now - timedelta(hours=1), **SAE)
    statistician = safety(trial.client("stat-001", role="unblinded_statistician",
                                       site="sponsor"))
    assert arm in statistician["survival"]["per_arm"] and arm in statistician["summary"]["per_arm"]
    assert statistician["summary"]["per_arm"][arm]["events"] == 1
    monitor = trial.client("mon-001", role="monitor", site="sponsor")
    answer = monitor.http.get("/v1/safety")
    assert answer.status_code == 200
    body = answer.json()
    assert [e["term"] for e in body["adverse_events"]] == ["variceal bleeding"]
    assert [c["report_status"] for c in body["clocks"]] == ["met"]
    assert body["survival"]["participants"] == 1 and body["survival"]["rows"]
    for part in (body["summary"], body["survival"]):
        assert "per_arm" not in part and "arms" not in part
    assert ARM.findall(answer.text) == []


def test_r43_the_safety_view_needs_a_token_and_a_reader_and_keeps_to_the_callers_sites(
        trial: Trial) -> None:
    client, _ = treated_trial(trial)  # P-001 at site-01
    now = trial.clock.now
    client.report_adverse_event("P-001", term="variceal bleeding", onset_on=now.date(),
                                aware_at=now - timedelta(hours=1), **SAE)
    assert len(safety(client)["clocks"]) == 1
    other = safety(trial.client("inv-201", role="investigator", site="site-02"))
    assert other["clocks"] == other["adverse_events"] == []
    assert other["summary"]["events"] == 0 and other["survival"]["participants"] == 0
    anonymous = trial.new_http().get("/v1/safety")
    assert anonymous.status_code == 401 and anonymous.json()["rule"] == "auth.missing_token"
    lab = trial.client("lab-001", role="lab_interface", site="site-01")
    refused = lab.http.get("/v1/safety")
    assert refused.status_code == 403 and refused.json()["rule"] == "auth.role"


def test_an_admin_adds_a_safety_officer_with_the_users_command(ledger: Path) -> None:
    ok("keys", "new", "--out", str(ledger / "saf.key"))
    ok("users", "add", "saf-001", "--role", "safety", "--site", "sponsor", "--printed-name",
       "Sam Afety", "--public-key", str(ledger / "saf.key.pub"))
    assert [(u["author"], u["role"], u["site"]) for u in json.loads(ok("users", "list", "--json"))
            if u["author"] == "saf-001"] == [("saf-001", "safety", "sponsor")]


def test_the_safety_officer_logs_in_reads_every_site_and_writes_no_crf_data(
        sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    treated_trial(trial)
    signer, _ = trial.user("saf-002", role="safety", site="sponsor")
    officer = LedgerClient.login(signer=signer, http=trial.new_http(), clock=trial.clock)
    assert officer.participant("P-001")["stage"] == "treated"  # sponsor-side: every site
    assert safety(officer)["clocks"] == []
    with pytest.raises(LedgerClientError) as refused:  # CRF data are the site's
        officer.record_lab("P-001", visit="week_1", analyte="TBIL", value=30.0, unit="µmol/L",
                           sampled_at=trial.clock.now - timedelta(hours=1))
    assert refused.value.rule == "entry.role_not_allowed"
