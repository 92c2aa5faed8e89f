"""Transplant-free survival and the adverse-event counts (projections/survival.py): Kaplan–Meier
against a hand-computed example, ties, the censoring day read from the records, and blinded
answers that name no arm."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from domain import streams
from domain.facts import Fact
from domain.participant import ParticipantState
from projections.survival import (
    ae_summary,
    kaplan_meier,
    median_survival,
    survival,
    survival_times,
)

ARMS = ("low", "medium_high")
H = "cd" * 32
INFUSED = "2026-03-10T09:30:00+01:00"  # day 0 is the 10th, the infusion's own calendar day


def person(pid: str, arm: str | None = "low", *, infused: bool = True,
           **fields: Any) -> ParticipantState:
    infusions = ({"infusion_number": 1, "started_at": INFUSED, "record_hash": H},) if infused else ()
    return ParticipantState(participant_id=pid, site="site-01", sex="M",
                            date_of_birth=date(1958, 1, 9), weight_kg=71.0, status="consented",
                            eligible=True, arm=arm, slot=1, stratum="all", infusions=infusions,
                            **{"stage": "treated" if infused else "randomised", **fields})


def rows_as(rows: list[dict[str, Any]]) -> list[tuple[int, int, int, int]]:
    return [(r["day"], r["at_risk"], r["events"], r["censored"]) for r in rows]


def assert_survival(rows: list[dict[str, Any]], expected: list[Fraction]) -> None:
    assert len(rows) == len(expected)
    for row, s in zip(rows, expected, strict=True):
        assert math.isclose(row["survival"], float(s), rel_tol=1e-12, abs_tol=1e-15), (row, s)


# -- Kaplan–Meier ------------------------------------------------------------------------------

def test_kaplan_meier_matches_the_product_limit_computed_by_hand() -> None:
    times = [(3, True), (5, False), (5, True), (8, True), (10, False), (12, True)]
    rows = kaplan_meier(times)
    # day 3: 6 at risk, 1 event → 5/6; day 5: 5 at risk (the one censored on day 5 included),
    # 1 event → 5/6·4/5 = 2/3; day 8: 3 at risk → 2/3·2/3 = 4/9; day 10: a censoring only;
    # day 12: the last one at risk has the event → 0
    assert rows_as(rows) == [(3, 6, 1, 0), (5, 5, 1, 1), (8, 3, 1, 0), (10, 2, 0, 1),
                             (12, 1, 1, 0)]
    assert_survival(rows, [Fraction(5, 6), Fraction(2, 3), Fraction(4, 9), Fraction(4, 9),
                           Fraction(0)])
    assert median_survival(times) == 8  # the first day at or below one half
    assert kaplan_meier(list(reversed(times))) == rows  # the order given does not matter


def test_kaplan_meier_counts_those_censored_on_an_event_day_as_at_risk() -> None:
    rows = kaplan_meier([(4, False), (4, True), (6, True)])
    # events before censorings on the tied day: 3 at risk on day 4, so S = 2/3 (not 1/2)
    assert rows_as(rows) == [(4, 3, 1, 1), (6, 1, 1, 0)]
    assert_survival(rows, [Fraction(2, 3), Fraction(0)])
    assert median_survival([(4, False), (4, True), (6, True)]) == 6


def test_kaplan_meier_with_several_events_on_one_day() -> None:
    times = [(7, True), (7, True), (7, False), (9, False), (20, True)]
    rows = kaplan_meier(times)
    assert rows_as(rows) == [(7, 5, 2, 1), (9, 2, 0, 1), (20, 1, 1, 0)]
    assert_survival(rows, [Fraction(3, 5), Fraction(3, 5), Fraction(0)])


def test_kaplan_meier_all_censored_stays_at_one_and_has_no_median() -> None:
    times = [(0, False), (30, False), (30, False), (336, False)]
    rows = kaplan_meier(times)
    assert [r["survival"] for r in rows] == [1.0, 1.0, 1.0]
    assert rows_as(rows) == [(0, 4, 0, 1), (30, 3, 0, 2), (336, 1, 0, 1)]
    assert median_survival(times) is None


def test_kaplan_meier_reaching_exactly_one_half_gives_that_day_as_the_median() -> None:
    assert median_survival([(2, True), (4, False)]) == 2
    assert kaplan_meier([(2, True), (4, False)])[0]["survival"] == 0.5


def test_kaplan_meier_of_nobody_is_empty() -> None:
    assert kaplan_meier([]) == [] and median_survival([]) is None


# -- the times read from the states ------------------------------------------------------------

def test_r45_a_death_or_a_transplant_whichever_first_ends_transplant_free_survival() -> None:
    died = person("P-DIED", death={"died_on": "2026-05-09", "cause": "variceal bleeding",
                                   "liver_related": True, "autopsy": False, "event": H,
                                   "record_hash": H, "at": "2026-05-10T08:00:00Z"}, stage="died")
    grafted = person("P-GRAFT", "medium_high", stage="died",
                     transplant={"transplanted_on": "2026-04-09", "graft": "deceased_donor"},
                     death={"died_on": "2026-06-01", "cause": "graft failure",
                            "liver_related": True, "autopsy": True, "event": H})
    times = {t["participant_id"]: t for t in survival_times({"P-DIED": died, "P-GRAFT": grafted})}
    assert times["P-DIED"] == {"participant_id": "P-DIED", "arm": "low", "origin": "2026-03-10",
                               "day": 60, "event": True, "kind": "death",
                               "event_on": "2026-05-09", "censored_on": None}
    # the transplant came first: it is the event, the later death is not a second one
    assert (times["P-GRAFT"]["kind"], times["P-GRAFT"]["day"],
            times["P-GRAFT"]["event_on"]) == ("transplant", 30, "2026-04-09")


def record(type_: str, payload: dict[str, Any]) -> Fact:
    at = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    return Fact(type=type_, schema=1, payload=payload, stream="participant/P-010", version=0,
                author="inv-001", role="investigator", site="site-01", occurred_at=at,
                recorded_at=at, record_hash=hashlib.sha256(
                    f"{type_}{json.dumps(payload)}".encode()).hexdigest())


def test_r45_the_times_read_from_the_records_as_the_stream_folds_them() -> None:
    facts = [
        record("participant.registered", {"participant_id": "P-010", "site": "site-01",
                                          "sex": "F", "date_of_birth": "1960-05-05",
                                          "weight_kg": 60.0}),
        record("consent.signed", {"form_version": "1.0", "signed_on": "2026-03-01"}),
        record("participant.randomised", {"stratum": "all", "slot": 4, "arm": "medium_high"}),
        record("infusion.administered", {
            "infusion_number": 1, "started_at": "2026-03-10T10:00:00+00:00",
            "ended_at": "2026-03-10T11:00:00+00:00", "weight_kg": 60.0, "cells_per_kg": 1e6,
            "total_cells": 6e7, "lot": "L-1", "route": "intravenous"}),
        record("visit.completed", {"visit": "week_4", "on": "2026-04-07"}),
    ]
    kind = streams.kind_of("participant/P-010")
    alive = streams.fold(kind, facts)
    assert survival_times({"P-010": alive}) == [{
        "participant_id": "P-010", "arm": "medium_high", "origin": "2026-03-10", "day": 28,
        "event": False, "kind": "censored", "event_on": None, "censored_on": "2026-04-07"}]
    grafted = streams.fold(kind, [
        *facts, record("transplant.recorded", {"transplanted_on": "2026-05-02",
                                               "graft": "living_donor"}),
        record("death.recorded", {"died_on": "2026-05-20", "cause": "sepsis",
                                  "liver_related": False, "autopsy": False, "event": H})])
    assert grafted.stage == "died"
    [t] = survival_times({"P-010": grafted})
    assert (t["kind"], t["day"], t["event_on"], t["arm"]) == ("transplant", 53, "2026-05-02",
                                                              "medium_high")


def test_a_withdrawn_participant_is_censored_at_the_last_day_known_alive() -> None:
    withdrawn = person("P-WD", stage="withdrawn",
                       disposition={"kind": "withdrawn", "on": "2026-04-01",
                                    "reason": "withdrawal_by_subject"},
                       visits=({"visit": "week_2", "on": "2026-03-24"},),
                       vital_status=({"status": "alive", "on": "2026-08-01",
                                      "known_alive_on": "2026-07-20"},
                                     # unknown: its own date says nothing, no day known alive
                                     {"status": "unknown", "on": "2026-12-01"}))
    [t] = survival_times({"P-WD": withdrawn})
    assert (t["event"], t["kind"], t["censored_on"], t["day"]) == (False, "censored",
                                                                   "2026-08-01", 144)
    # an unknown status with its date last known alive counts that day
    later = withdrawn.model_copy(update={"vital_status": (
        *withdrawn.vital_status, {"status": "unknown", "on": "2026-12-01",
                                  "known_alive_on": "2026-09-01"})})
    assert survival_times({"P-WD": later})[0]["censored_on"] == "2026-09-01"


def test_completion_samples_and_visits_set_the_censoring_day() -> None:
    done = person("P-DONE", stage="completed",
                  disposition={"kind": "completed", "on": "2027-02-10"},
                  visits=({"visit": "week_48", "on": "2027-02-09"},))
    sampled = person("P-LAB", labs={"week_24/TBIL": {"sampled_at": "2026-08-25T23:30:00-04:00"},
                                    "baseline/TBIL": {"sampled_at": "2026-03-01T08:00:00+00:00"}})
    baseline_only = person("P-BASE", labs={"baseline/INR": {
        "sampled_at": "2026-03-02T08:00:00+00:00"}})
    states = {"P-DONE": done, "P-LAB": sampled, "P-BASE": baseline_only,
              "P-NONE": person("P-NONE", infused=False)}
    times = {t["participant_id"]: t for t in survival_times(states)}
    assert set(times) == {"P-DONE", "P-LAB", "P-BASE"}  # the untreated are not in the analysis
    assert (times["P-DONE"]["censored_on"], times["P-DONE"]["day"]) == ("2027-02-10", 337)
    # a sample's own calendar day (its offset's), not the UTC one
    assert times["P-LAB"]["censored_on"] == "2026-08-25"
    # a sample before the infusion does not censor before the origin
    assert (times["P-BASE"]["day"], times["P-BASE"]["censored_on"]) == (0, "2026-03-10")


def test_r45_a_death_whose_date_is_gone_is_not_evaluable_rather_than_censored() -> None:
    redacted = person("P-RED", stage="died", death={"record_hash": H})
    [t] = survival_times({"P-RED": redacted})
    assert (t["event"], t["kind"], t["day"]) == (True, "death", None)
    answer = survival({"P-RED": redacted, "P-OK": person("P-OK")}, show_arms=False)
    assert (answer["participants"], answer["not_evaluable"], answer["censored"]) == (2, 1, 1)
    assert answer["events"]["total"] == 0


# -- the answers, pooled and per arm -----------------------------------------------------------

def population() -> dict[str, ParticipantState]:
    def death(on: str) -> dict[str, Any]:
        return {"died_on": on, "cause": "liver failure", "liver_related": True, "autopsy": False,
                "event": H, "record_hash": H}

    people = [
        person("P-001", "low", stage="died", death=death("2026-03-13")),             # day 3
        person("P-002", "low", disposition={"kind": "withdrawn", "on": "2026-03-15"}),  # 5 c
        person("P-003", "medium_high", stage="died", death=death("2026-03-15")),     # 5
        person("P-004", "medium_high", stage="transplanted",
               transplant={"transplanted_on": "2026-03-18", "graft": "living_donor"}),  # 8
        person("P-005", "low", visits=({"visit": "week_2", "on": "2026-03-20"},)),   # 10 c
        person("P-006", "medium_high", stage="died", death=death("2026-03-22")),     # 12
        person("P-007", "low", infused=False),
    ]
    return {str(p.participant_id): p for p in people}


def test_the_pooled_curve_and_each_arms() -> None:
    answer = survival(population(), show_arms=True)
    assert answer["endpoint"] == "transplant_free_survival" and answer["origin"] == "first_infusion"
    assert rows_as(answer["rows"]) == [(3, 6, 1, 0), (5, 5, 1, 1), (8, 3, 1, 0), (10, 2, 0, 1),
                                       (12, 1, 1, 0)]
    assert answer["events"] == {"death": 3, "transplant": 1, "total": 4}
    assert (answer["censored"], answer["median_day"]) == (2, 8)
    assert answer["arms"] == list(ARMS)
    low, high = answer["per_arm"]["low"], answer["per_arm"]["medium_high"]
    assert rows_as(low["rows"]) == [(3, 3, 1, 0), (5, 2, 0, 1), (10, 1, 0, 1)]
    assert_survival(low["rows"], [Fraction(2, 3)] * 3)
    assert low["median_day"] is None
    assert [r["survival"] for r in high["rows"]] == [float(Fraction(2, 3)), float(Fraction(1, 3)),
                                                     0.0]
    assert high["median_day"] == 8


def names_an_arm(answer: Any) -> list[str]:
    text = json.dumps(answer)
    return re.findall(r"low|medium_high|arm", text, flags=re.IGNORECASE)


def test_r27_a_blinded_survival_answer_is_pooled_and_names_no_arm() -> None:
    blinded = survival(population(), show_arms=False)
    assert names_an_arm(blinded) == []
    unblinded = survival(population(), show_arms=True)
    assert names_an_arm(unblinded)  # the scan does find arms where they are
    assert blinded == {k: v for k, v in unblinded.items() if k not in ("per_arm", "arms")}


# -- adverse events ----------------------------------------------------------------------------

def ae(grade: int, *, serious: bool = False, cells: str = "unlikely",
       procedure: str = "unlikely", special: str | None = None) -> dict[str, Any]:
    return {"term": "an event", "onset_on": "2026-03-12", "end_on": None, "grade": grade,
            "serious": serious, "criteria": ["hospitalisation"] if serious else [],
            "relationship_cells": cells, "relationship_procedure": procedure,
            "expected": None, "action_taken": "not_applicable",
            "outcome": "fatal" if grade == 5 else "recovering", "special_interest": special,
            "aware_at": None, "record_hash": H, "status": "ongoing", "history": []}


def with_events(state: ParticipantState, *events: dict[str, Any]) -> ParticipantState:
    return state.model_copy(update={"adverse_events": {f"{n:064x}": e
                                                       for n, e in enumerate(events)}})


def ae_population() -> dict[str, ParticipantState]:
    return {
        # two grade 2 events, one related to the cells (possible), one an infusion reaction
        "P-A": with_events(person("P-A", "low"), ae(2, cells="possible"),
                           ae(2, special="infusion_reaction")),
        # a serious grade 3 variceal bleed related to the procedure only, then a fatal grade 5
        "P-B": with_events(person("P-B", "medium_high"),
                           ae(3, serious=True, procedure="probable", special="variceal_bleeding"),
                           ae(5, serious=True, cells="unassessable")),
        # "conditional" and "unlikely" are not related; before randomisation, no arm
        "P-C": with_events(person("P-C", None, infused=False), ae(1, cells="conditional")),
        "P-D": person("P-D", "low"),  # no event
    }


def test_adverse_events_counted_as_events_and_as_participants() -> None:
    answer = ae_summary(ae_population(), show_arms=True)
    assert (answer["participants"], answer["treated"]) == (4, 3)
    assert (answer["events"], answer["participants_with_event"]) == (5, 3)
    assert answer["by_grade"] == {"1": {"events": 1, "participants": 1},
                                  "2": {"events": 2, "participants": 1},
                                  "3": {"events": 1, "participants": 1},
                                  "4": {"events": 0, "participants": 0},
                                  "5": {"events": 1, "participants": 1}}
    assert answer["participants_by_worst_grade"] == {"1": 1, "2": 1, "3": 0, "4": 0, "5": 1}
    assert answer["by_seriousness"] == {"serious": {"events": 2, "participants": 1},
                                        "not_serious": {"events": 3, "participants": 2}}
    assert answer["by_relationship"] == {"related": {"events": 2, "participants": 2},
                                         "not_related": {"events": 3, "participants": 3}}
    specials = answer["by_special_interest"]
    assert specials["infusion_reaction"] == {"events": 1, "participants": 1}
    assert specials["variceal_bleeding"] == {"events": 1, "participants": 1}
    assert specials["aclf"] == {"events": 0, "participants": 0} and len(specials) == 8
    low, high = answer["per_arm"]["low"], answer["per_arm"]["medium_high"]
    assert (low["participants"], low["events"], low["participants_with_event"]) == (2, 2, 1)
    assert high["by_grade"]["5"] == {"events": 1, "participants": 1}
    assert low["by_grade"]["5"] == {"events": 0, "participants": 0}


def test_r27_a_blinded_adverse_event_summary_is_pooled_and_names_no_arm() -> None:
    blinded = ae_summary(ae_population(), show_arms=False)
    assert names_an_arm(blinded) == []
    unblinded = ae_summary(ae_population(), show_arms=True)
    assert blinded == {k: v for k, v in unblinded.items() if k not in ("per_arm", "arms")}
