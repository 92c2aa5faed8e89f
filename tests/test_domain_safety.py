"""Serious adverse events and their clocks (R43, R44), pure: the 24-hour SAE report clock from
the site's awareness to the ledger's sealed time, the suspected SUSARs and their 7- and 15-day
expedited clocks, and the safety officer's reports that discharge them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.facts import Fact
from domain.safety import SUSAR_RELATED, sae_clocks
from tests.domain_stream import P11, ParticipantStream

PROTOCOL = P11
AWARE = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # the site became aware
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # registration and consent are recorded
PARTICIPANT = ParticipantStream(PROTOCOL, now=START)
run, rule = PARTICIPANT.run, PARTICIPANT.rule


def fact(type_: str, payload: Mapping[str, Any], *, at: datetime, role: str = "investigator",
         schema: int = 1, reason: str | None = None) -> Fact:
    """A record sealed at `at` (its recorded time is the ledger's, the clocks run on it); the
    sponsor's roles record from the sponsor, not a site."""
    return PARTICIPANT.fact(type_, payload, at=at, role=role, schema=schema, reason=reason,
                            site="site-01" if role == "investigator" else "sponsor")


CONSENTED = (PARTICIPANT.registered(), PARTICIPANT.consent("2026-03-01"))
SAE: dict[str, Any] = {
    "term": "acute kidney injury", "onset_on": "2026-03-08", "grade": 3, "serious": True,
    "criteria": ["hospitalisation"], "relationship_cells": "possible",
    "relationship_procedure": "unlikely", "expected": False, "action_taken": "not_applicable",
    "outcome": "not_recovered", "aware_at": AWARE.isoformat()}


def reported(hours_after_awareness: float, **changes: Any) -> Fact:
    return fact("adverse_event.reported", {**SAE, **changes},
                at=AWARE + timedelta(hours=hours_after_awareness))


def safety_report(event: Fact, at: datetime, kind: str = "initial") -> Fact:
    return fact("safety_report.submitted", {"event": event.record_hash, "to": "national authority",
                                            "reference": "SUSAR-2026-001", "kind": kind},
                at=at, role="safety")


def clock(*facts: Fact, now: datetime | None = None) -> dict[str, Any]:
    (only,) = sae_clocks(run(*facts), PROTOCOL, now)
    return only


# -- R43: the site reports a serious adverse event within 24 hours of awareness -----------------

def test_r43_an_sae_reported_3_hours_after_awareness_meets_the_24_hour_clock() -> None:
    report = reported(3)
    c = clock(*CONSENTED, report)
    assert (c["event"], c["term"], c["report_record"]) == (report.record_hash, SAE["term"],
                                                           report.record_hash)
    assert c["aware_at"] == "2026-03-09T08:00:00+00:00"
    assert c["reported_at"] == "2026-03-09T11:00:00+00:00"
    assert c["report_due"] == "2026-03-10T08:00:00+00:00"
    assert (c["report_status"], c["report_late_hours"]) == ("met", None)


def test_r43_an_sae_reported_30_hours_after_awareness_is_accepted_and_late_by_6_hours() -> None:
    c = clock(*CONSENTED, reported(30))
    assert (c["report_status"], c["report_late_hours"]) == ("late", 6.0)
    assert c["reported_at"] == "2026-03-10T14:00:00+00:00"


def test_r43_the_due_time_follows_the_sites_stated_offset_and_is_given_in_utc() -> None:
    # 09:00 in Hanoi is 02:00 UTC: due 02:00 UTC next day; sealed 03:00 UTC is an hour late
    hanoi = "2026-03-09T09:00:00+07:00"
    c = clock(*CONSENTED, fact("adverse_event.reported", {**SAE, "aware_at": hanoi},
                               at=datetime(2026, 3, 10, 3, 0, tzinfo=UTC)))
    assert (c["aware_at"], c["report_due"]) == ("2026-03-09T02:00:00+00:00",
                                                "2026-03-10T02:00:00+00:00")
    assert (c["report_status"], c["report_late_hours"]) == ("late", 1.0)


def test_r43_an_event_upgraded_to_serious_is_reported_by_the_update_from_its_awareness() -> None:
    first = fact("adverse_event.reported",
                 {**SAE, "serious": False, "criteria": [], "aware_at": None},
                 at=AWARE - timedelta(days=1))
    upgraded_aware = AWARE + timedelta(hours=5)
    upgrade = fact("adverse_event.updated",
                   {**SAE, "aware_at": upgraded_aware.isoformat(), "event": first.record_hash},
                   at=upgraded_aware + timedelta(hours=20), reason="admitted to hospital")
    c = clock(*CONSENTED, first, upgrade)
    assert c["event"] == first.record_hash and c["report_record"] == upgrade.record_hash
    assert (c["aware_at"], c["reported_at"]) == ("2026-03-09T13:00:00+00:00",
                                                 "2026-03-10T09:00:00+00:00")
    assert (c["report_status"], c["report_late_hours"]) == ("met", None)


def test_r43_non_serious_events_have_no_clock() -> None:
    mild = reported(1, serious=False, criteria=[], grade=1, outcome="recovering")
    assert sae_clocks(run(*CONSENTED, mild), PROTOCOL) == []


# -- R44: suspected SUSARs reach the authority within 7 or 15 days ------------------------------

def test_r44_a_related_unexpected_fatal_sae_is_a_susar_due_in_7_days() -> None:
    fatal = reported(2, grade=5, outcome="fatal", criteria=["death"])
    c = clock(*CONSENTED, fatal)
    assert (c["susar"], c["expedited_days"]) == (True, 7)
    assert c["expedited_due"] == "2026-03-16T10:00:00+00:00"  # 7 days after it was sealed


def test_r44_life_threatening_by_criterion_or_grade_4_is_due_in_7_days() -> None:
    assert clock(*CONSENTED, reported(2, criteria=["life_threatening"]))["expedited_days"] == 7
    assert clock(*CONSENTED, reported(2, grade=4))["expedited_days"] == 7


def test_r44_a_related_unexpected_non_fatal_sae_is_due_in_15_days() -> None:
    c = clock(*CONSENTED, reported(2))
    assert (c["susar"], c["expedited_days"], c["expedited_due"]) == (
        True, 15, "2026-03-24T10:00:00+00:00")


def test_r44_an_expected_term_of_the_reference_safety_information_is_no_susar() -> None:
    assert "fever" in PROTOCOL.reference_safety_information
    for changes in ({"term": "Fever", "expected": None},  # case does not matter
                    {"term": "high temperature", "expected": None,
                     "coded": {"dictionary": "MedDRA", "version": "27.0", "code": "10037660",
                               "term": "fever"}},  # the coded term decides where given
                    {"expected": True}):  # the sponsor's assessment, whatever the term
        c = clock(*CONSENTED, reported(2, **changes))
        assert (c["susar"], c["expedited_days"], c["expedited_status"]) == (False, None, None)
    # a term outside the list, left unassessed, is unexpected
    assert clock(*CONSENTED, reported(2, term="hepatic abscess", expected=None))["susar"] is True


def test_r44_an_unrelated_sae_is_no_susar() -> None:
    assert {"certain", "probable", "possible"} == SUSAR_RELATED
    for relationship in ("unlikely", "conditional", "unassessable"):
        c = clock(*CONSENTED, reported(2, relationship_cells=relationship))
        assert (c["susar"], c["expedited_status"]) == (False, None)
    related_to_the_procedure = reported(2, relationship_cells="unlikely",
                                        relationship_procedure="certain")
    assert clock(*CONSENTED, related_to_the_procedure)["susar"] is True


def test_r44_the_first_safety_report_discharges_the_clock_met_or_late() -> None:
    sae = reported(2, grade=5, outcome="fatal", criteria=["death"])
    on_time = safety_report(sae, AWARE + timedelta(days=3))
    c = clock(*CONSENTED, sae, on_time, safety_report(sae, AWARE + timedelta(days=20), "follow_up"))
    assert (c["expedited_status"], c["expedited_record"], c["expedited_at"]) == (
        "met", on_time.record_hash, "2026-03-12T08:00:00+00:00")
    assert c["expedited_late_hours"] is None
    late = safety_report(sae, AWARE + timedelta(days=9, hours=2))  # due: day 7, 2 h after awareness
    c = clock(*CONSENTED, sae, late)
    assert (c["expedited_status"], c["expedited_late_hours"]) == ("late", 48.0)


def test_r44_without_a_report_the_clock_is_open_then_overdue() -> None:
    sae = reported(2)  # 15 days: due 2026-03-24T10:00Z
    assert clock(*CONSENTED, sae)["expedited_status"] == "open"
    before = datetime(2026, 3, 24, 9, 0, tzinfo=UTC)
    assert clock(*CONSENTED, sae, now=before)["expedited_status"] == "open"
    c = clock(*CONSENTED, sae, now=datetime(2026, 3, 25, 10, 30, tzinfo=UTC))
    assert (c["expedited_status"], c["expedited_late_hours"], c["expedited_at"]) == (
        "overdue", 24.5, None)


def test_r44_the_clock_runs_from_the_first_version_the_sponsor_knew_to_be_a_susar() -> None:
    sae = reported(2, relationship_cells="unlikely")  # serious, not a suspected reaction
    assert clock(*CONSENTED, sae)["susar"] is False
    reassessed = fact("adverse_event.updated", {**SAE, "event": sae.record_hash},
                      at=AWARE + timedelta(days=4), reason="causality reassessed: possible")
    c = clock(*CONSENTED, sae, reassessed)
    assert c["report_record"] == sae.record_hash  # the SAE report stays the first serious one
    assert (c["susar"], c["expedited_due"]) == (True, "2026-03-28T08:00:00+00:00")


# -- safety_report.submitted: the sponsor's duty, not new trial data ----------------------------

def test_r44_a_safety_report_is_kept_with_its_author_and_sealed_time() -> None:
    sae = reported(2)
    report = safety_report(sae, AWARE + timedelta(days=1))
    state = run(*CONSENTED, sae, report)
    assert state.safety_reports == ({
        "event": sae.record_hash, "to": "national authority", "reference": "SUSAR-2026-001",
        "kind": "initial", "record_hash": report.record_hash, "by": "safety-001",
        "at": "2026-03-10T08:00:00+00:00"},)


def test_r44_a_safety_report_names_a_serious_event_of_the_participant() -> None:
    sae = reported(2)
    later = AWARE + timedelta(days=1)
    stranger = fact("safety_report.submitted", {"event": "ab" * 32, "to": "ethics committee",
                                                "reference": "X-1", "kind": "initial"},
                    at=later, role="safety")
    assert rule(*CONSENTED, sae, stranger) == ("safety_report.unknown_event", "payload.event")
    mild = reported(1, serious=False, criteria=[], grade=2)
    assert rule(*CONSENTED, mild, safety_report(mild, later)) == \
        ("safety_report.not_serious", "payload.event")
    by_the_site = fact("safety_report.submitted", safety_report(sae, later).payload, at=later)
    assert rule(*CONSENTED, sae, by_the_site) == ("entry.role_not_allowed", "entry.role")


def test_r44_a_safety_report_is_accepted_after_a_withdrawal_of_consent_and_after_the_exit() -> None:
    sae = reported(2)
    day = AWARE + timedelta(days=1)
    for follow_up in ("none", "vital_status", "safety"):
        withdrawal = fact("consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-10",
                                                "follow_up": follow_up}, at=day, schema=2)
        state = run(*CONSENTED, sae, withdrawal, safety_report(sae, day + timedelta(hours=1)))
        assert len(state.safety_reports) == 1, follow_up
    exit_ = fact("participant.withdrawn", {"on": "2026-03-10", "reason": "adverse_event"},
                 at=day, schema=2)
    state = run(*CONSENTED, sae, exit_, safety_report(sae, day + timedelta(hours=1)))
    assert state.stage == "withdrawn" and len(state.safety_reports) == 1
