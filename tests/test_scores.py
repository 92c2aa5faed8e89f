"""Liver scores and lab units: every rule and boundary of SCORES.md, with expected values worked
out by hand from the formulas, and hypothesis for refusals and unit invariance."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.facts import Rejection
from domain.scores import ScoreResult, child_pugh, meld, meld_3, meld_na, round_half_up
from domain.units import UNITS, check_plausible, from_score_units, to_score_units

PROTOCOL = Path(__file__).resolve().parents[1] / "domain" / "protocols" / "nct06167473.json"
LABS = {"bilirubin_mg_dl": 1.0, "inr": 1.0, "creatinine_mg_dl": 1.0, "dialysis": False}
LABS_3 = {**LABS, "sex": "M", "age_years": 40, "sodium_mmol_l": 137.0, "albumin_g_dl": 3.5}
CP = {"bilirubin_mg_dl": 1.0, "albumin_g_dl": 4.0, "inr": 1.0, "ascites": "none", "encephalopathy_grade": 0}


def refused(call: Any, **kwargs: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        call(**kwargs)
    return caught.value


# --- units ---------------------------------------------------------------------------------------

def test_units_match_the_protocol_analytes_plus_meq_for_sodium() -> None:
    analytes = json.loads(PROTOCOL.read_text(encoding="utf-8"))["analytes"]
    assert {a["code"]: set(a["units"]) for a in analytes} == {
        code: set(units) - ({"mEq/L"} if code == "SODIUM" else set()) for code, units in UNITS.items()}


@pytest.mark.parametrize(("analyte", "value", "unit", "expected"), [
    ("TBIL", 17.1, "µmol/L", 1.0), ("TBIL", 34.2, "µmol/L", 2.0), ("TBIL", 51.3, "µmol/L", 3.0),
    ("TBIL", 68.4, "µmol/L", 4.0), ("TBIL", 171, "µmol/L", 10.0), ("TBIL", 2.5, "mg/dL", 2.5),
    ("CREAT", 88.4, "µmol/L", 1.0), ("CREAT", 265.2, "µmol/L", 3.0), ("CREAT", 353.6, "µmol/L", 4.0),
    ("ALB", 35, "g/L", 3.5), ("ALB", 28, "g/L", 2.8), ("ALB", 3.1, "g/dL", 3.1),
    ("SODIUM", 130, "mEq/L", 130.0), ("SODIUM", 130, "mmol/L", 130.0), ("INR", 1.2, "ratio", 1.2),
    ("PT", 14.5, "s", 14.5), ("ALT", 40, "U/L", 40.0),
])
def test_conversion_to_score_units_is_exact_on_reported_values(analyte: str, value: float, unit: str,
                                                                expected: float) -> None:
    # float division would give 51.3 / 17.1 = 2.9999999999999996; decimal division gives 3.0
    assert to_score_units(analyte, value, unit) == expected
    assert from_score_units(analyte, expected, unit) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(("analyte", "unit"), [
    ("TBIL", "g/L"), ("ALB", "mg/dL"), ("INR", "%"), ("SODIUM", "mg/dL"), ("CREAT", "mmol/L"),
    ("TBIL", "μmol/L"),  # Greek mu U+03BC: the protocol spells the micro sign U+00B5
    ("TBIL", "umol/L"), ("PT", "ratio"),
])
def test_unit_the_analyte_does_not_take_is_refused(analyte: str, unit: str) -> None:
    r = refused(to_score_units, analyte=analyte, value=1.0, unit=unit)
    assert (r.rule, r.field) == ("lab.unknown_unit", analyte)


@pytest.mark.parametrize(("value", "rule"), [
    (math.nan, "lab.not_a_number"), (None, "lab.not_a_number"), ("1.2", "lab.not_a_number"),
    (True, "lab.not_a_number"), (math.inf, "lab.implausible"), (10**400, "lab.implausible"),
])
def test_values_that_are_not_finite_numbers_are_refused(value: Any, rule: str) -> None:
    assert refused(to_score_units, analyte="TBIL", value=value, unit="mg/dL").rule == rule
    assert refused(check_plausible, analyte="TBIL", value=value).rule == rule


def test_unknown_analyte_is_refused() -> None:
    assert refused(to_score_units, analyte="GGT", value=1.0, unit="U/L").rule == "lab.unknown_analyte"
    assert refused(check_plausible, analyte="GGT", value=1.0).rule == "lab.unknown_analyte"


# SCORES.md §6 "suggested hard reject", in score units, both ends accepted
@pytest.mark.parametrize(("analyte", "low", "high"), [
    ("ALT", 0, 20000), ("AST", 0, 20000), ("ALP", 0, 5000), ("TBIL", 0, 100), ("ALB", 0.5, 7),
    ("CREAT", 0.1, 25), ("INR", 0.5, 20), ("SODIUM", 100, 180), ("PT", 5, 200),
])
def test_plausibility_bounds_accept_both_ends_and_refuse_beyond(analyte: str, low: float,
                                                                high: float) -> None:
    assert check_plausible(analyte, low) == low and check_plausible(analyte, high) == high
    assert check_plausible(analyte, high * (1 + 1e-15)) > high  # float noise at the bound is no refusal
    for outside in (low - 0.01, high + 0.01):
        r = refused(check_plausible, analyte=analyte, value=outside, field="x_param")
        assert (r.rule, r.field) == ("lab.implausible", "x_param")


# --- rounding ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 1), (1.5, 2), (2.5, 3), (16.5, 17), (20.5, 21), (Decimal("12.5"), 13), (12.49, 12), (7, 7),
])
def test_round_half_up_rounds_exact_halves_up(value: Decimal | float, expected: int) -> None:
    assert round_half_up(value) == expected


def test_round_half_up_differs_from_python_round_on_even_halves() -> None:
    assert (round(2.5), round_half_up(2.5)) == (2, 3)


# --- MELD (OPTN-2002) ----------------------------------------------------------------------------

def test_meld_known_answer_cr_1_9_bili_4_2_inr_1_2() -> None:
    r = meld(bilirubin_mg_dl=4.2, inr=1.2, creatinine_mg_dl=1.9, dialysis=False)
    # 9.57·ln 1.9 + 3.78·ln 4.2 + 11.2·ln 1.2 + 6.43 = 6.1425 + 5.4246 + 2.0420 + 6.43 = 20.039
    expected = 9.57 * math.log(1.9) + 3.78 * math.log(4.2) + 11.2 * math.log(1.2) + 6.43
    assert r.unrounded == pytest.approx(expected, abs=1e-12) and r.value == r.unbounded == 20
    assert (r.algorithm, r.version) == ("MELD", "OPTN-2002")
    # ameld's 13.609 (cause="ethyltoxic") is Kamath's etiology variant, which drops the 6.43;
    # the UNOS formula keeps it, so ours is that figure plus 6.43, not 13.609
    assert r.unrounded - 6.43 == pytest.approx(13.609, abs=5e-4)


def test_meld_lower_clamps_set_values_below_1_to_1() -> None:
    r = meld(bilirubin_mg_dl=0.5, inr=0.8, creatinine_mg_dl=0.3, dialysis=False)
    assert dict(r.inputs) == {"bilirubin_mg_dl": 0.5, "inr": 0.8, "creatinine_mg_dl": 0.3, "dialysis": False}
    assert dict(r.clamped) == {"bilirubin_mg_dl": 1.0, "inr": 1.0, "creatinine_mg_dl": 1.0}
    assert r.unrounded == pytest.approx(6.43) and r.value == 6  # all logs 0: the floor of 6


def test_meld_creatinine_cap_4_and_dialysis_sets_4() -> None:
    at_cap = meld(**{**LABS, "creatinine_mg_dl": 4.0})
    assert at_cap.unrounded == pytest.approx(9.57 * math.log(4) + 6.43)
    for kwargs in ({"creatinine_mg_dl": 6.0}, {"creatinine_mg_dl": 1.0, "dialysis": True},
                   {"creatinine_mg_dl": 0.5, "dialysis": True}):
        r = meld(**{**LABS, **kwargs})
        assert r.clamped["creatinine_mg_dl"] == 4.0 and r.value == at_cap.value == 20  # 19.697
    assert meld(**{**LABS, "creatinine_mg_dl": 3.9}).clamped["creatinine_mg_dl"] == 3.9


def test_meld_maximum_40_keeps_the_unbounded_value() -> None:
    r = meld(bilirubin_mg_dl=40, inr=5, creatinine_mg_dl=4, dialysis=False)
    # 3.78·ln 40 + 11.2·ln 5 + 9.57·ln 4 + 6.43 = 13.944 + 18.026 + 13.267 + 6.43 = 51.67
    assert r.unrounded == pytest.approx(3.78 * math.log(40) + 11.2 * math.log(5) + 9.57 * math.log(4) + 6.43)
    assert (r.unbounded, r.value) == (52, 40)


@pytest.mark.parametrize(("param", "value"), [
    ("bilirubin_mg_dl", -0.1), ("bilirubin_mg_dl", 100.1), ("inr", 0.49), ("inr", 20.1),
    ("creatinine_mg_dl", 0.09), ("creatinine_mg_dl", 25.1),
])
def test_implausible_lab_is_refused_before_clamping(param: str, value: float) -> None:
    # INR 0.49 would clamp to 1.0 and creatinine 25.1 to 4.0: the clamps are not validation
    for call, base in ((meld, LABS), (meld_na, {**LABS, "sodium_mmol_l": 137.0}), (meld_3, LABS_3)):
        r = refused(call, **{**base, param: value})
        assert (r.rule, r.field) == ("lab.implausible", param)


def test_dialysis_must_be_a_bool() -> None:
    r = refused(meld, **{**LABS, "dialysis": 1})
    assert (r.rule, r.field) == ("score.invalid_input", "dialysis")


# --- MELD-Na (OPTN-2016) -------------------------------------------------------------------------

def na_for(bilirubin: float, sodium: float) -> ScoreResult:
    return meld_na(**{**LABS, "bilirubin_mg_dl": bilirubin, "sodium_mmol_l": sodium})


def test_meld_na_known_answer() -> None:
    r = meld_na(bilirubin_mg_dl=4.2, inr=1.2, creatinine_mg_dl=1.9, sodium_mmol_l=130, dialysis=False)
    # MELD(i) = 20 (above); 20 + 1.32·7 − 0.033·20·7 = 20 + 9.24 − 4.62 = 24.62 → 25
    assert r.intermediate["meld_i"] == 20 and r.unrounded == pytest.approx(24.62) and r.value == 25
    assert (r.algorithm, r.version) == ("MELD-Na", "OPTN-2016")


def test_meld_na_gate_reads_the_integer_meld_i_11_as_closed() -> None:
    # 6.43 + 3.78·ln 3.6 = 11.272 > 11, but the integer MELD(i) is 11: no sodium term. With the
    # unrounded value the gate would open: 11.272 + 12·(1.32 − 0.033·11.272) = 22.65 → 23.
    assert 6.43 + 3.78 * math.log(3.6) == pytest.approx(11.272, abs=1e-3)
    r = na_for(3.6, 125)
    assert (r.intermediate["meld_i"], r.value) == (11, 11)
    # 6.43 + 3.78·ln 3.1 = 10.707: rounds to 11 as well, still closed
    assert (na_for(3.1, 125).intermediate["meld_i"], na_for(3.1, 125).value) == (11, 11)


def test_meld_na_gate_opens_at_integer_meld_i_12() -> None:
    # 6.43 + 3.78·ln 3.9 = 11.574 → 12; 12 + 1.32·12 − 0.033·12·12 = 12 + 15.84 − 4.752 = 23.088 → 23
    r = na_for(3.9, 125)
    assert r.intermediate["meld_i"] == 12 and r.unrounded == pytest.approx(23.088) and r.value == 23


def test_meld_na_sodium_bounded_125_to_137() -> None:
    assert na_for(3.9, 120).clamped["sodium_mmol_l"] == 125.0 and na_for(3.9, 120).value == 23
    assert na_for(3.9, 140).clamped["sodium_mmol_l"] == 137.0 and na_for(3.9, 140).value == 12
    assert na_for(3.9, 136).unrounded == pytest.approx(12 + 1.32 - 0.033 * 12)  # 12.924 → 13
    # the plausibility bounds (100–180) are wider than the clamp and checked first
    assert (na_for(3.9, 100).value, na_for(3.9, 180).value) == (23, 12)
    for sodium in (99, 181):
        r = refused(na_for, bilirubin=3.9, sodium=sodium)
        assert (r.rule, r.field) == ("lab.implausible", "sodium_mmol_l")


def test_meld_na_at_meld_i_40_sodium_term_is_zero_and_cap_order_is_moot() -> None:
    r = meld_na(bilirubin_mg_dl=40, inr=5, creatinine_mg_dl=4, sodium_mmol_l=125, dialysis=False)
    assert (r.intermediate["meld_i"], r.unrounded, r.value) == (40, 40.0, 40)  # 40·(1.32 − 0.033·40) = 0
    for m in range(41, 80):  # uncapped MELD(i) with the sodium term stays at or above 40
        assert all(m + 1.32 * g - 0.033 * m * g >= 40 for g in range(13))


def test_meld_na_creatinine_cap_4_and_dialysis() -> None:
    base = {**LABS, "sodium_mmol_l": 137.0}
    assert meld_na(**{**base, "dialysis": True}).clamped["creatinine_mg_dl"] == 4.0
    capped = meld(**{**LABS, "creatinine_mg_dl": 4.0}).value
    assert meld_na(**{**base, "creatinine_mg_dl": 5.0}).value == capped == 20


# --- MELD 3.0 (OPTN-2023) ------------------------------------------------------------------------

def m3(**kwargs: Any) -> ScoreResult:
    return meld_3(**{**LABS_3, **kwargs})


def test_meld_3_known_answers() -> None:
    lb, lc = math.log(2.5), math.log(1.2)  # albumin 3.8 is bounded to 3.5: its terms vanish
    male = 4.56 * lb + 0.82 * 6 - 0.24 * 6 * lb + 11.14 * lc + 6  # = 15.810
    r = m3(bilirubin_mg_dl=2.5, creatinine_mg_dl=1.2, sodium_mmol_l=131, albumin_g_dl=3.8)
    assert r.unrounded == pytest.approx(male) and r.value == 16 and r.clamped["albumin_g_dl"] == 3.5
    female = m3(sex="F", bilirubin_mg_dl=2.5, creatinine_mg_dl=1.2, sodium_mmol_l=131, albumin_g_dl=3.8)
    assert female.unrounded == pytest.approx(male + 1.33) and female.value == 17  # 17.140
    lb, li, lc = math.log(12), math.log(2.2), math.log(1.8)
    expected = (4.56 * lb + 0.82 * 9 - 0.24 * 9 * lb + 9.09 * li + 11.14 * lc + 1.85 * 1.5 - 1.83 * 1.5 * lc
                + 6)  # = 34.220
    r = m3(bilirubin_mg_dl=12, inr=2.2, creatinine_mg_dl=1.8, sodium_mmol_l=128, albumin_g_dl=2.0)
    assert r.unrounded == pytest.approx(expected) and r.value == 34
    assert (r.algorithm, r.version) == ("MELD 3.0", "OPTN-2023")


def test_meld_3_female_term_is_1_33() -> None:
    assert m3(sex="F").unrounded - m3(sex="M").unrounded == pytest.approx(1.33)


@pytest.mark.parametrize("age", [12, 17])
def test_meld_3_adolescent_rule_ages_12_to_17_get_7_33_and_no_sex_term(age: int) -> None:
    labs = {"bilirubin_mg_dl": 12, "inr": 2.2, "creatinine_mg_dl": 1.8, "sodium_mmol_l": 128}
    male, female = m3(sex="M", age_years=age, **labs), m3(sex="F", age_years=age, **labs)
    assert male.unrounded == female.unrounded == m3(sex="F", age_years=18, **labs).unrounded
    assert dict(male.intermediate) == {"female_term": 0.0, "constant": 7.33}
    assert m3(sex="M", age_years=18, **labs).unrounded == pytest.approx(male.unrounded - 1.33)


def test_meld_3_refuses_under_12_and_invalid_age_or_sex() -> None:
    r = refused(m3, age_years=11)
    assert (r.rule, r.field) == ("score.not_applicable", "age_years")
    for age in (-1, 121, 40.5, True):
        assert refused(m3, age_years=age).rule == "score.invalid_input"
    assert (refused(m3, sex="female").rule, refused(m3, sex="female").field) == ("score.invalid_input", "sex")


def test_meld_3_creatinine_cap_3_and_dialysis_sets_3() -> None:
    at_cap = m3(creatinine_mg_dl=3.0)
    assert at_cap.unrounded == pytest.approx(11.14 * math.log(3) + 6)  # 18.239 → 18
    for kwargs in ({"creatinine_mg_dl": 3.5}, {"creatinine_mg_dl": 1.0, "dialysis": True}):
        assert m3(**kwargs).clamped["creatinine_mg_dl"] == 3.0 and m3(**kwargs).value == at_cap.value == 18
    assert meld(**{**LABS, "creatinine_mg_dl": 3.5}).clamped["creatinine_mg_dl"] == 3.5  # MELD caps at 4


def test_meld_3_albumin_bounded_1_5_to_3_5_and_sodium_125_to_137() -> None:
    assert m3(albumin_g_dl=1.0).clamped["albumin_g_dl"] == 1.5
    assert m3(albumin_g_dl=1.0).unrounded == pytest.approx(6 + 1.85 * 2)  # Cr 1: the interaction is 0
    assert m3(albumin_g_dl=4.5).clamped["albumin_g_dl"] == 3.5 and m3(albumin_g_dl=4.5).unrounded == 6
    assert m3(sodium_mmol_l=110).clamped["sodium_mmol_l"] == 125.0
    assert m3(sodium_mmol_l=110).unrounded == pytest.approx(6 + 0.82 * 12)
    assert m3(sodium_mmol_l=150).unrounded == 6 and m3(bilirubin_mg_dl=0.2, inr=0.6).unrounded == 6


def test_meld_3_rounds_exact_halves_up() -> None:
    # 6 + 0.82·(137 − 126) + 1.85·(3.5 − 2.7) = 6 + 9.02 + 1.48 = 16.5 → 17 (round() gives 16)
    assert m3(sodium_mmol_l=126, albumin_g_dl=2.7).unbounded == 17
    # 1.33 + 6 + 0.82·11.5 + 1.85·0.4 = 17.5 → 18; float arithmetic gives 17.499999999999996
    assert 1.33 + 6 + 0.82 * (137 - 125.5) + 1.85 * (3.5 - 3.1) < 17.5
    assert m3(sex="F", sodium_mmol_l=125.5, albumin_g_dl=3.1).value == 18


def test_meld_3_reported_within_6_to_40_beside_the_unbounded_value() -> None:
    lb, li, lc = math.log(40), math.log(5), math.log(3)
    expected = (4.56 * lb + 0.82 * 12 - 0.24 * 12 * lb + 9.09 * li + 11.14 * lc + 1.85 * 2 - 1.83 * 2 * lc
                + 6)  # = 16.821 + 9.84 − 10.624 + 14.630 + 12.238 + 3.7 − 4.021 + 6 = 48.585
    r = m3(bilirubin_mg_dl=40, inr=5, creatinine_mg_dl=3, sodium_mmol_l=125, albumin_g_dl=1.5)
    assert r.unrounded == pytest.approx(expected) and (r.unbounded, r.value) == (49, 40)
    assert (m3().unbounded, m3().value) == (6, 6)  # the formula's least value is the floor itself


# --- Child-Pugh (CP-MDCalc-inclusive) ------------------------------------------------------------

def cp(**kwargs: Any) -> ScoreResult:
    return child_pugh(**{**CP, **kwargs})


@pytest.mark.parametrize(("criterion", "param", "value", "points", "extra"), [
    *[("bilirubin", "bilirubin_mg_dl", v, p, {}) for v, p in
      [(1.99, 1), (2.0, 2), (2.0 - 1e-12, 2), (3.0, 2), (51.3 / 17.1, 2), (3.0 + 1e-12, 2), (3.01, 3)]],
    *[("bilirubin", "bilirubin_mg_dl", v, p, {"cholestatic": True}) for v, p in
      [(3.99, 1), (4.0, 2), (10.0, 2), (10.01, 3)]],
    *[("albumin", "albumin_g_dl", v, p, {}) for v, p in [(3.51, 1), (3.5, 2), (2.8, 2), (2.79, 3)]],
    *[("inr", "inr", v, p, {}) for v, p in [(1.69, 1), (1.7, 2), (2.3, 2), (2.31, 3)]],
    *[("pt_prolongation", "pt_prolongation_s", v, p, {"inr": None}) for v, p in
      [(-1.0, 1), (3.9, 1), (4.0, 2), (6.0, 2), (6.1, 3)]],
])
def test_child_pugh_band_edges_middle_band_inclusive(criterion: str, param: str, value: float, points: int,
                                                     extra: dict[str, Any]) -> None:
    r = cp(**{**extra, param: value})
    assert r.points is not None and r.points[criterion] == points
    assert r.value == 4 + points and r.class_ == ("A" if points < 3 else "B")


@pytest.mark.parametrize(("analyte", "value", "unit", "criterion", "points", "extra"), [
    ("TBIL", 34.1, "µmol/L", "bilirubin", 1, {}), ("TBIL", 34.2, "µmol/L", "bilirubin", 2, {}),
    ("TBIL", 51.3, "µmol/L", "bilirubin", 2, {}), ("TBIL", 51.4, "µmol/L", "bilirubin", 3, {}),
    ("TBIL", 68.4, "µmol/L", "bilirubin", 2, {"cholestatic": True}),
    ("TBIL", 171, "µmol/L", "bilirubin", 2, {"cholestatic": True}),
    ("TBIL", 172, "µmol/L", "bilirubin", 3, {"cholestatic": True}),
    ("ALB", 36, "g/L", "albumin", 1, {}), ("ALB", 35, "g/L", "albumin", 2, {}),
    ("ALB", 28, "g/L", "albumin", 2, {}), ("ALB", 27, "g/L", "albumin", 3, {}),
])
def test_child_pugh_edges_in_si_units_through_units(analyte: str, value: float, unit: str, criterion: str,
                                                    points: int, extra: dict[str, Any]) -> None:
    param = {"TBIL": "bilirubin_mg_dl", "ALB": "albumin_g_dl"}[analyte]
    r = cp(**{**extra, param: to_score_units(analyte, value, unit)})
    assert r.points is not None and r.points[criterion] == points


@pytest.mark.parametrize(("ascites", "grade", "points"), [
    ("none", 0, (1, 1)), ("mild", 1, (2, 2)), ("moderate_severe", 2, (3, 2)), ("none", 3, (1, 3)),
    ("none", 4, (1, 3)),
])
def test_child_pugh_ascites_and_encephalopathy_points(ascites: str, grade: int,
                                                      points: tuple[int, int]) -> None:
    r = cp(ascites=ascites, encephalopathy_grade=grade)
    assert r.points is not None and (r.points["ascites"], r.points["encephalopathy"]) == points


@pytest.mark.parametrize(("kwargs", "total", "class_"), [
    ({}, 5, "A"), ({"ascites": "mild"}, 6, "A"), ({"ascites": "mild", "encephalopathy_grade": 1}, 7, "B"),
    ({"ascites": "moderate_severe", "encephalopathy_grade": 3}, 9, "B"),
    ({"ascites": "moderate_severe", "encephalopathy_grade": 3, "inr": 2.0}, 10, "C"),
    ({"ascites": "moderate_severe", "encephalopathy_grade": 4, "inr": 3.0, "bilirubin_mg_dl": 5.0,
      "albumin_g_dl": 2.0}, 15, "C"),
])
def test_child_pugh_class_edges_6_7_and_9_10(kwargs: dict[str, Any], total: int, class_: str) -> None:
    r = cp(**kwargs)
    assert (r.value, r.class_, r.unrounded) == (total, class_, None)
    assert r.points is not None and sum(r.points.values()) == total


def test_child_pugh_refusals() -> None:
    assert refused(cp, pt_prolongation_s=5.0).rule == "child_pugh.coagulation"  # both
    assert refused(cp, inr=None).rule == "child_pugh.coagulation"  # neither
    for kwargs, field in (({"ascites": "severe"}, "ascites"),
                          ({"encephalopathy_grade": 5}, "encephalopathy_grade"),
                          ({"encephalopathy_grade": True}, "encephalopathy_grade"),
                          ({"cholestatic": "yes"}, "cholestatic")):
        assert (refused(cp, **kwargs).rule, refused(cp, **kwargs).field) == ("score.invalid_input", field)
    r = refused(cp, inr=None, pt_prolongation_s=200.0)
    assert (r.rule, r.field) == ("lab.implausible", "pt_prolongation_s")
    r = refused(cp, bilirubin_mg_dl=101)
    assert (r.rule, r.field) == ("lab.implausible", "bilirubin_mg_dl")


def test_score_result_mappings_are_read_only() -> None:
    r = cp()
    assert r.version == "CP-MDCalc-inclusive" and r.algorithm == "Child-Pugh"
    with pytest.raises(TypeError):
        r.inputs["inr"] = 9.0  # type: ignore[index]


# --- properties ----------------------------------------------------------------------------------

ANY_VALUE = st.one_of(st.floats(), st.integers(-(10**400), 10**400), st.booleans(), st.none(),
                      st.text(max_size=3))
ANY_UNIT = st.sampled_from(sorted({u for units in UNITS.values() for u in units} | {"mg/L", "", "μmol/L"}))
ANALYTE = st.sampled_from([*UNITS, "GGT"])
PARAM = {"TBIL": "bilirubin_mg_dl", "INR": "inr", "CREAT": "creatinine_mg_dl", "SODIUM": "sodium_mmol_l",
         "ALB": "albumin_g_dl"}


@settings(max_examples=400, deadline=None)
@given(analyte=ANALYTE, value=ANY_VALUE, unit=ANY_UNIT)
def test_any_value_in_any_unit_yields_a_score_or_a_named_rejection(analyte: str, value: Any,
                                                                    unit: str) -> None:
    try:
        converted = to_score_units(analyte, value, unit)
        if analyte in PARAM:
            assert 6 <= m3(**{PARAM[analyte]: converted}).value <= 40
            if analyte != "ALB":
                assert 6 <= meld_na(**{**LABS, "sodium_mmol_l": 137.0, PARAM[analyte]: converted}).value <= 40
            if analyte in ("TBIL", "ALB", "INR"):
                assert 5 <= cp(**{PARAM[analyte]: converted}).value <= 15
        else:
            check_plausible(analyte, converted)
    except Rejection as r:
        assert r.rule.startswith(("lab.", "score.")) and r.message


LAB_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(bili=LAB_FLOAT, inr=LAB_FLOAT, cr=LAB_FLOAT, na=LAB_FLOAT, alb=LAB_FLOAT, dialysis=st.booleans())
def test_scores_on_any_floats_are_bounded_or_refused(bili: float, inr: float, cr: float, na: float,
                                                     alb: float, dialysis: bool) -> None:
    labs = {"bilirubin_mg_dl": bili, "inr": inr, "creatinine_mg_dl": cr, "dialysis": dialysis}
    try:
        r = meld_3(sex="F", age_years=50, sodium_mmol_l=na, albumin_g_dl=alb, **labs)
        assert r.value == min(max(r.unbounded or 0, 6), 40) and r.unbounded is not None and r.unbounded >= 6
        assert 6 <= meld(**labs).value <= meld_na(sodium_mmol_l=na, **labs).value <= 40
    except Rejection as e:
        assert e.rule == "lab.implausible" or e.rule == "lab.not_a_number"
        assert e.field in {"bilirubin_mg_dl", "inr", "creatinine_mg_dl", "sodium_mmol_l", "albumin_g_dl"}


def hundredths(low: float, high: float) -> st.SearchStrategy[float]:
    """Values as a lab reports them, to 0.01 in the score unit, within the plausible range."""
    return st.integers(round(low * 100), round(high * 100)).map(lambda n: n / 100)


@settings(max_examples=200, deadline=None)
@given(bili=hundredths(0, 100), cr=hundredths(0.1, 25), alb=hundredths(0.5, 7))
@example(bili=100.0, cr=25.0, alb=7.0)  # 100 × 17.1 in float converts back to 100.00000000000001
@example(bili=0.0, cr=0.1, alb=0.5)
def test_unit_conversion_never_changes_a_score(bili: float, cr: float, alb: float) -> None:
    # the same quantity as a lab reports it in SI units, and as float arithmetic would produce it
    reported = (from_score_units("TBIL", bili, "µmol/L"), from_score_units("CREAT", cr, "µmol/L"),
                from_score_units("ALB", alb, "g/L"))
    multiplied = (bili * 17.1, cr * 88.4, alb * 10)
    conventional = {"bilirubin_mg_dl": bili, "creatinine_mg_dl": cr, "albumin_g_dl": alb}
    for b, c, a in (reported, multiplied):
        si = {"bilirubin_mg_dl": to_score_units("TBIL", b, "µmol/L"),
              "creatinine_mg_dl": to_score_units("CREAT", c, "µmol/L"),
              "albumin_g_dl": to_score_units("ALB", a, "g/L")}
        pair = (si, conventional)
        assert len({m3(**labs, inr=1.4, sodium_mmol_l=131).value for labs in pair}) == 1
        assert len({meld(bilirubin_mg_dl=x["bilirubin_mg_dl"], creatinine_mg_dl=x["creatinine_mg_dl"],
                         inr=1.4, dialysis=False).value for x in pair}) == 1
        pugh = [cp(bilirubin_mg_dl=x["bilirubin_mg_dl"], albumin_g_dl=x["albumin_g_dl"]) for x in pair]
        assert pugh[0].points == pugh[1].points and pugh[0].class_ == pugh[1].class_


def test_a_visit_without_its_assessment_lists_what_is_missing_without_converting_units() -> None:
    """Until a visit's assessment is recorded no score can be computed: the visit lists the
    missing inputs from the values present, and no value is put into score units (a unit the
    conversion does not know — from a store older than its table — cannot stop the listing)."""
    from domain.participant import initial
    from domain.visit_scores import scores_by_visit

    def lab(analyte: str, value: float, unit: str) -> dict[str, Any]:
        return {"analyte": analyte, "value": value, "unit": unit, "record_hash": analyte.lower()}

    state = initial().model_copy(update={"labs": {
        "week_4/TBIL": lab("TBIL", 2.0, "furlongs"), "week_4/INR": lab("INR", 1.4, "ratio")}})
    scores = scores_by_visit(state)
    assert scores == {"week_4": {
        "MELD": {"missing": ["CREAT", "assessment"]},
        "MELD-Na": {"missing": ["CREAT", "SODIUM", "assessment"]},
        "MELD 3.0": {"missing": ["CREAT", "SODIUM", "ALB", "assessment", "sex and date of birth"]},
        "Child-Pugh": {"missing": ["ALB", "assessment"]}}}
    with_assessment = state.model_copy(update={"assessments": {"week_4": {
        "ascites": "none", "encephalopathy_grade": 0, "dialysis": False, "record_hash": "a"}}})
    with pytest.raises(Rejection):  # once a score is due, the unknown unit is refused as before
        scores_by_visit(with_assessment.model_copy(update={"labs": {
            **state.labs, "week_4/CREAT": lab("CREAT", 1.0, "mg/dL"),
            "week_4/ALB": lab("ALB", 3.5, "g/dL")}}))
