"""The protocol as data: the shipped NCT06167473 file, its validation and its look-ups."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain.facts import Rejection
from domain.protocol import Protocol, arm, is_blinded, load_protocol, visit_window

DATA = Path(__file__).resolve().parent / "data"
SEED = (DATA / "seeds" / "nct06167473-registration.txt").read_text(encoding="utf-8")
DOCUMENT: dict[str, Any] = json.loads(
    resources.files("domain.protocols").joinpath("nct06167473.json").read_text(encoding="utf-8"))
PROTOCOL = load_protocol(DOCUMENT)


def seed_list(heading: str) -> list[str]:
    """The numbered items under a heading of the registration, as printed there."""
    section = SEED.split(heading, 1)[1].split("\n\n", 2)[1]
    return [re.sub(r"^\s*\d+\.\s", "", line) for line in section.splitlines()]


def broken(**changes: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        load_protocol({**DOCUMENT, **changes})
    assert caught.value.rule == "protocol.invalid"
    return caught.value


def test_the_shipped_file_is_version_1_0_of_nct06167473() -> None:
    assert (PROTOCOL.trial, PROTOCOL.version) == ("NCT06167473", "1.0")
    assert [(a.id, a.cells_per_kg) for a in PROTOCOL.arms] == [("low", 1e6), ("medium_high", 3e6)]
    assert PROTOCOL.allocation_ratio == [1, 1]
    assert PROTOCOL.block_sizes == [2, 4]
    assert PROTOCOL.stratification is None
    assert (PROTOCOL.infusions_per_participant, PROTOCOL.route) == (1, "peripheral vein")
    assert PROTOCOL.dose_tolerance == 0.10
    assert (PROTOCOL.age_min, PROTOCOL.age_max, PROTOCOL.target_enrolment) == (18, 80, 22)


def test_exclusion_criteria_are_the_registration_s_word_for_word() -> None:
    exclusion = PROTOCOL.eligibility.exclusion
    assert [c.id for c in exclusion] == [f"exc-{n}" for n in range(1, 12)]
    assert [c.text for c in exclusion] == seed_list("Exclusion criteria")
    for criterion in exclusion:
        assert criterion.text in SEED


def test_inclusion_criteria_are_the_registration_s() -> None:
    inclusion = PROTOCOL.eligibility.inclusion
    assert [c.id for c in inclusion] == ["inc-1", "inc-2", "inc-3"]
    assert [c.text for c in inclusion] == seed_list("Inclusion criteria")


def test_analytes_cover_the_outcomes_and_the_meld_inputs() -> None:
    units = {a.code: a.units for a in PROTOCOL.analytes}
    assert units == {"ALT": ["U/L"], "AST": ["U/L"], "ALP": ["U/L"], "TBIL": ["µmol/L", "mg/dL"],
                     "ALB": ["g/L", "g/dL"], "PT": ["s"], "INR": ["ratio"],
                     "CREAT": ["µmol/L", "mg/dL"], "SODIUM": ["mmol/L"]}


def test_visits_and_their_windows() -> None:
    windows = {v.id: (v.day, v.window_before_days, v.window_after_days) for v in PROTOCOL.visits}
    assert windows == {"baseline": (-7, 7, 7), "infusion": (0, 0, 0), "week_1": (7, 2, 2),
                       "week_4": (28, 7, 7), "week_8": (56, 7, 7), "week_12": (84, 7, 7),
                       "week_24": (168, 14, 14), "week_48": (336, 14, 14)}


def test_r21_follow_up_windows_open_after_the_infusion_and_never_overlap() -> None:
    infusion = date(2026, 3, 2)
    follow_up = [visit_window(PROTOCOL, v.id, infusion) for v in PROTOCOL.visits if v.day > 0]
    assert all(first > infusion for first, _ in follow_up)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(follow_up))


def test_visit_window_counts_calendar_days_across_a_leap_day() -> None:
    assert visit_window(PROTOCOL, "week_1", date(2028, 2, 25)) == (date(2028, 3, 1), date(2028, 3, 5))
    assert visit_window(PROTOCOL, "baseline", date(2026, 3, 2)) == (date(2026, 2, 16), date(2026, 3, 2))
    assert visit_window(PROTOCOL, "infusion", date(2026, 3, 2)) == (date(2026, 3, 2), date(2026, 3, 2))
    first, last = visit_window(PROTOCOL, "week_48", date(2026, 3, 2))
    assert (first, last) == (date(2026, 3, 2) + timedelta(days=322), date(2026, 3, 2) + timedelta(days=350))


def test_unknown_visit_and_arm_are_refused() -> None:
    with pytest.raises(Rejection) as caught:
        visit_window(PROTOCOL, "week_2", date(2026, 3, 2))
    assert caught.value.rule == "protocol.unknown_visit"
    with pytest.raises(Rejection) as caught:
        arm(PROTOCOL, "high")
    assert caught.value.rule == "protocol.unknown_arm"
    assert arm(PROTOCOL, "medium_high").cells_per_kg == 3e6


@pytest.mark.parametrize(("role", "blinded"), [
    ("investigator", False), ("data_manager", True), ("monitor", True), ("randomiser", False),
    ("unblinded_statistician", False), ("admin", False), ("inspector", False)])
def test_r27_blinded_roles_come_from_the_protocol(role: str, blinded: bool) -> None:
    assert is_blinded(PROTOCOL, role) is blinded
    assert PROTOCOL.masked_fields == ["arm", "slot", "cells_per_kg", "total_cells"]


def test_allocation_ratio_needs_one_share_per_arm() -> None:
    assert "allocation_ratio" in broken(allocation_ratio=[1, 1, 1]).message


def test_block_sizes_must_be_multiples_of_the_ratio() -> None:
    assert "multiples" in broken(block_sizes=[2, 3]).message
    assert "multiples" in broken(allocation_ratio=[1, 2], block_sizes=[2, 4]).message
    two_to_one = load_protocol({**DOCUMENT, "allocation_ratio": [1, 2], "block_sizes": [3, 6]})
    assert two_to_one.block_sizes == [3, 6]


def test_arm_ids_and_criterion_ids_are_unique() -> None:
    low = DOCUMENT["arms"][0]
    assert "arm ids" in broken(arms=[low, {**low, "label": "again"}]).message
    elig = DOCUMENT["eligibility"]
    twice = {**elig, "exclusion": [*elig["exclusion"], elig["exclusion"][0]]}
    assert "criterion ids" in broken(eligibility=twice).message
    misfiled = {**elig, "inclusion": [*elig["inclusion"], {"id": "exc-12", "text": "x"}]}
    assert "inc-" in broken(eligibility=misfiled).message


def test_unknown_fields_and_loose_types_are_refused_with_the_field_named() -> None:
    assert broken(blinding="single").field == "blinding"
    assert broken(target_enrolment="22").field == "target_enrolment"
    assert "age_min 81 is above age_max 80" in broken(age_min=81).message


def test_a_follow_up_window_may_not_reach_back_to_the_infusion() -> None:
    visits = [*DOCUMENT["visits"]]
    visits[2] = {**visits[2], "window_before_days": 7}
    assert "week_1" in broken(visits=visits).message


def test_stratification_levels_are_distinct() -> None:
    assert broken(stratification={"factor": "Child-Pugh class", "levels": ["B", "B"]}).rule
    by_class = {"factor": "Child-Pugh class", "levels": ["B", "C"]}
    strat = load_protocol({**DOCUMENT, "stratification": by_class})
    assert strat.stratification is not None and strat.stratification.levels == ["B", "C"]


def test_the_protocol_is_immutable() -> None:
    with pytest.raises(ValidationError):
        PROTOCOL.version = "1.1"  # type: ignore[misc]
    assert isinstance(PROTOCOL, Protocol)


AMENDED: dict[str, Any] = json.loads(
    resources.files("domain.protocols").joinpath("nct06167473-1.1.json").read_text(encoding="utf-8"))


def test_version_1_1_adds_the_baseline_and_scoring_fields_and_changes_nothing_else() -> None:
    amended = load_protocol(AMENDED)
    assert amended.version == "1.1" and amended.baseline is not None
    assert (amended.baseline.visit, amended.baseline.complete_before,
            amended.baseline.if_incomplete) == ("baseline", "infusion", "refuse")
    assert amended.baseline.analytes == ["TBIL", "ALB", "INR", "CREAT", "SODIUM"]
    assert (amended.primary_score, amended.child_pugh_coagulation, amended.cholestatic_cutoffs) == \
        ("MELD", "INR", True)
    added = {"version", "baseline", "primary_score", "child_pugh_coagulation",
             "cholestatic_cutoffs", "medication_exclusions", "reference_safety_information"}
    assert {k: v for k, v in AMENDED.items() if k not in added} == \
        {k: v for k, v in DOCUMENT.items() if k not in added}
    # 1.0 has none of them: its rules and scores stay as adopted.
    assert (PROTOCOL.baseline, PROTOCOL.primary_score, PROTOCOL.cholestatic_cutoffs) == \
        (None, None, False)


@pytest.mark.parametrize(("baseline", "problem"), [
    ({"visit": "week_1"}, "no visit on or before the infusion"),
    ({"visit": "screening"}, "no visit on or before the infusion"),
    ({"analytes": ["TBIL", "GGT"]}, "baseline analytes the protocol does not measure"),
    ({"if_incomplete": "ignore"}, "if_incomplete"),
])
def test_a_baseline_the_protocol_cannot_measure_is_refused(baseline: dict[str, Any],
                                                           problem: str) -> None:
    with pytest.raises(Rejection) as caught:
        load_protocol({**AMENDED, "baseline": {**AMENDED["baseline"], **baseline}})
    assert caught.value.rule == "protocol.invalid" and problem in json.dumps(caught.value.errors)
