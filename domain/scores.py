"""Liver scores as pure functions: MELD, MELD-Na, MELD 3.0 and Child-Pugh (SCORES.md).

Each function refuses implausible raw values first (units.py), then clamps, computes and rounds.
The MELD family computes in decimal arithmetic (inputs read as the decimal they print as, `ln`
from the decimal module) and rounds half-up, so a value landing exactly on .5 goes up, as in the
OPTN SAS, and never to even as round() would.

Versions (the rule set a result names):
- "OPTN-2002": MELD as UNOS/OPTN used it to Jan 2016, without Kamath's etiology term;
- "OPTN-2016": MELD-Na, OPTN 11 Jan 2016 to 12 Jul 2023, with the integer MELD(i) in the sodium
  formula and its > 11 gate (not the Kim 2008 NEJM formula);
- "OPTN-2023": MELD 3.0, OPTN policy 9.1.D from 13 Jul 2023, reported bounded to 6–40;
- "CP-MDCalc-inclusive": Child-Pugh with every middle band inclusive at both ends (MDCalc, CCJM,
  GDL), PBC/PSC bilirubin cut-offs 4 and 10 mg/dL when cholestatic.

Rules refused, besides those of units.py (`field` is the parameter name):
- `score.invalid_input`: a non-lab argument of the wrong type or out of its set;
- `score.not_applicable`: MELD 3.0 under 12 years (PELD applies, not implemented here);
- `child_pugh.coagulation`: not exactly one of `inr` and `pt_prolongation_s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from types import MappingProxyType
from typing import Literal

from .facts import Rejection
from .units import check_plausible

Sex = Literal["F", "M"]
Ascites = Literal["none", "mild", "moderate_severe"]
ChildPughClass = Literal["A", "B", "C"]
Scalar = float | int | bool | str | None

MELD_VERSION = "OPTN-2002"
MELD_NA_VERSION = "OPTN-2016"
MELD_3_VERSION = "OPTN-2023"
CHILD_PUGH_VERSION = "CP-MDCalc-inclusive"

# Child-Pugh band edges are compared with this slack (absolute, in score units): 51.3/17.1 is
# 2.9999999999999996 in floating point and must still count as the 3.0 mg/dL edge.
TOLERANCE = 1e-9

_CTX = Context(prec=34)
_ONE = Decimal(1)
_MELD_MAX = 40
_MELD_3_MIN = 6
_ADOLESCENT_AGES = range(12, 18)
_ASCITES_POINTS: Mapping[str, int] = MappingProxyType({"none": 1, "mild": 2, "moderate_severe": 3})


def _frozen(mapping: Mapping[str, Scalar]) -> Mapping[str, Scalar]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ScoreResult:
    """One computed score with everything needed to recompute it.

    `unrounded`: MELD 10·MELD(i); MELD-Na the sodium-adjusted value; MELD 3.0 the formula value;
    None for Child-Pugh. `unbounded`: the rounded value before the 40 cap (MELD, MELD-Na) or the
    6–40 bounds (MELD 3.0). `intermediate`: steps a reader needs, e.g. MELD-Na's integer MELD(i).
    """

    algorithm: str
    version: str
    inputs: Mapping[str, Scalar]  # raw, as given, keyed by parameter name (units in the names)
    clamped: Mapping[str, Scalar]  # what entered the formula
    unrounded: float | None
    value: int
    unbounded: int | None = None
    intermediate: Mapping[str, Scalar] = field(default_factory=lambda: _frozen({}))
    points: Mapping[str, Scalar] | None = None  # Child-Pugh points per criterion
    class_: ChildPughClass | None = None

    def __post_init__(self) -> None:
        # a stored score must not change after the fact: copy the mappings into read-only views
        for name in ("inputs", "clamped", "intermediate", "points"):
            mapping = getattr(self, name)
            if mapping is not None:
                object.__setattr__(self, name, _frozen(mapping))


def round_half_up(value: Decimal | float | int) -> int:
    """The nearest integer, halves rounded up (away from zero); floats are read as they print."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def meld(*, bilirubin_mg_dl: float, inr: float, creatinine_mg_dl: float, dialysis: bool) -> ScoreResult:
    """MELD (OPTN-2002): round(10·MELD(i)) half-up, at most 40."""
    inputs = {"bilirubin_mg_dl": bilirubin_mg_dl, "inr": inr, "creatinine_mg_dl": creatinine_mg_dl,
              "dialysis": dialysis}
    bili, ratio, cr = _meld_labs(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis, cr_cap=Decimal(4))
    with localcontext(_CTX):
        x10 = 10 * _meld_i(bili, ratio, cr)
    unbounded = round_half_up(x10)
    return ScoreResult("MELD", MELD_VERSION, inputs, _as_floats(bili, ratio, cr), float(x10),
                       min(unbounded, _MELD_MAX), unbounded)


def meld_na(*, bilirubin_mg_dl: float, inr: float, creatinine_mg_dl: float, sodium_mmol_l: float,
            dialysis: bool) -> ScoreResult:
    """MELD-Na (OPTN-2016): the integer MELD(i), sodium-adjusted when above 11, half-up, at most 40."""
    inputs = {"bilirubin_mg_dl": bilirubin_mg_dl, "inr": inr, "creatinine_mg_dl": creatinine_mg_dl,
              "sodium_mmol_l": sodium_mmol_l, "dialysis": dialysis}
    bili, ratio, cr = _meld_labs(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis, cr_cap=Decimal(4))
    na = _clamp(_lab("SODIUM", sodium_mmol_l, "sodium_mmol_l"), Decimal(125), Decimal(137))
    with localcontext(_CTX):
        # capped at 40 first, as the OPTN SAS does; at 40 the sodium term is 0, so the order is moot
        meld_i = min(round_half_up(10 * _meld_i(bili, ratio, cr)), _MELD_MAX)
        gap = 137 - na
        raw = Decimal(meld_i)
        if meld_i > 11:  # the gate reads the integer MELD(i): 10·MELD(i) = 11.3 stays unadjusted
            raw += Decimal("1.32") * gap - Decimal("0.033") * meld_i * gap
    unbounded = round_half_up(raw)
    clamped = {**_as_floats(bili, ratio, cr), "sodium_mmol_l": float(na)}
    return ScoreResult("MELD-Na", MELD_NA_VERSION, inputs, clamped, float(raw), min(unbounded, _MELD_MAX),
                       unbounded, {"meld_i": meld_i})


def meld_3(*, sex: Sex, age_years: int, bilirubin_mg_dl: float, inr: float, creatinine_mg_dl: float,
           sodium_mmol_l: float, albumin_g_dl: float, dialysis: bool) -> ScoreResult:
    """MELD 3.0 (OPTN-2023): Kim 2021 coefficients, half-up, reported within 6–40.

    Ages 12–17 take the OPTN adolescent rule: constant 7.33 and no sex term (the adult-female
    value); adults take 6 plus 1.33 if female. Under 12 is refused: PELD applies there.
    """
    inputs = {"sex": sex, "age_years": age_years, "bilirubin_mg_dl": bilirubin_mg_dl, "inr": inr,
              "creatinine_mg_dl": creatinine_mg_dl, "sodium_mmol_l": sodium_mmol_l,
              "albumin_g_dl": albumin_g_dl, "dialysis": dialysis}
    _require(isinstance(sex, str) and sex in ("F", "M"), "sex", f"sex must be 'F' or 'M', got {sex!r}")
    _require(isinstance(age_years, int) and not isinstance(age_years, bool) and 0 <= age_years <= 120,
             "age_years", f"age_years must be a whole number of years 0–120, got {age_years!r}")
    if age_years < 12:
        raise Rejection("score.not_applicable", f"MELD 3.0 is for candidates aged 12 or more (PELD below), "
                        f"got {age_years}", field="age_years")
    bili, ratio, cr = _meld_labs(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis, cr_cap=Decimal(3))
    na = _clamp(_lab("SODIUM", sodium_mmol_l, "sodium_mmol_l"), Decimal(125), Decimal(137))
    alb = _clamp(_lab("ALB", albumin_g_dl, "albumin_g_dl"), Decimal("1.5"), Decimal("3.5"))
    adolescent = age_years in _ADOLESCENT_AGES
    female_term = Decimal(0) if adolescent or sex == "M" else Decimal("1.33")
    constant = Decimal("7.33") if adolescent else Decimal(6)
    with localcontext(_CTX):
        ln_bili, ln_cr, gap, alb_gap = bili.ln(), cr.ln(), 137 - na, Decimal("3.5") - alb
        raw = (female_term + Decimal("4.56") * ln_bili + Decimal("0.82") * gap
               - Decimal("0.24") * gap * ln_bili + Decimal("9.09") * ratio.ln() + Decimal("11.14") * ln_cr
               + Decimal("1.85") * alb_gap - Decimal("1.83") * alb_gap * ln_cr + constant)
    unbounded = round_half_up(raw)
    clamped = {**_as_floats(bili, ratio, cr), "sodium_mmol_l": float(na), "albumin_g_dl": float(alb)}
    return ScoreResult("MELD 3.0", MELD_3_VERSION, inputs, clamped, float(raw),
                       min(max(unbounded, _MELD_3_MIN), _MELD_MAX), unbounded,
                       {"female_term": float(female_term), "constant": float(constant)})


def child_pugh(*, bilirubin_mg_dl: float, albumin_g_dl: float, inr: float | None = None,
               pt_prolongation_s: float | None = None, ascites: Ascites, encephalopathy_grade: int,
               cholestatic: bool = False) -> ScoreResult:
    """Child-Pugh (CP-MDCalc-inclusive): 5–15 points, class A 5–6, B 7–9, C 10–15.

    The coagulation criterion is exactly one of INR and PT prolongation over control (s).
    """
    inputs = {"bilirubin_mg_dl": bilirubin_mg_dl, "albumin_g_dl": albumin_g_dl, "inr": inr,
              "pt_prolongation_s": pt_prolongation_s, "ascites": ascites,
              "encephalopathy_grade": encephalopathy_grade, "cholestatic": cholestatic}
    if inr is not None and pt_prolongation_s is None:
        criterion, param, coag = "inr", "inr", check_plausible("INR", inr, field="inr")
        coag_points = _band(coag, 1.7, 2.3)
    elif pt_prolongation_s is not None and inr is None:
        criterion, param = "pt_prolongation", "pt_prolongation_s"
        coag = check_plausible("PT_PROLONGATION", pt_prolongation_s, field=param)
        coag_points = _band(coag, 4.0, 6.0)
    else:
        raise Rejection("child_pugh.coagulation", "give exactly one of inr and pt_prolongation_s")
    bili = check_plausible("TBIL", bilirubin_mg_dl, field="bilirubin_mg_dl")
    alb = check_plausible("ALB", albumin_g_dl, field="albumin_g_dl")
    _require(isinstance(ascites, str) and ascites in _ASCITES_POINTS, "ascites",
             f"ascites must be one of {', '.join(_ASCITES_POINTS)}, got {ascites!r}")
    _require(isinstance(encephalopathy_grade, int) and not isinstance(encephalopathy_grade, bool)
             and 0 <= encephalopathy_grade <= 4, "encephalopathy_grade",
             f"encephalopathy_grade must be 0–4, got {encephalopathy_grade!r}")
    _require(isinstance(cholestatic, bool), "cholestatic", f"cholestatic must be a bool, got {cholestatic!r}")
    points = {
        "bilirubin": _band(bili, 4.0, 10.0) if cholestatic else _band(bili, 2.0, 3.0),
        "albumin": 4 - _band(alb, 2.8, 3.5),  # albumin scores worse as it falls
        criterion: coag_points,
        "ascites": _ASCITES_POINTS[ascites],
        "encephalopathy": 1 if encephalopathy_grade == 0 else 2 if encephalopathy_grade <= 2 else 3,
    }
    total = sum(points.values())
    class_: ChildPughClass = "A" if total <= 6 else "B" if total <= 9 else "C"
    clamped = {"bilirubin_mg_dl": bili, "albumin_g_dl": alb, param: coag, "ascites": ascites,
               "encephalopathy_grade": encephalopathy_grade, "cholestatic": cholestatic}
    return ScoreResult("Child-Pugh", CHILD_PUGH_VERSION, inputs, clamped, None, total,
                       points=dict(points), class_=class_)


def _band(value: float, low: float, high: float) -> int:
    """1, 2 or 3 for a value that scores worse as it rises; both edges belong to the middle band."""
    if value < low - TOLERANCE:
        return 1
    if value > high + TOLERANCE:
        return 3
    return 2


def _meld_labs(bilirubin: float, inr: float, creatinine: float, dialysis: bool, *,
               cr_cap: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Validated, then clamped: floors of 1.0; creatinine capped, and set to the cap on dialysis."""
    bili = _lab("TBIL", bilirubin, "bilirubin_mg_dl")
    ratio = _lab("INR", inr, "inr")
    cr = _lab("CREAT", creatinine, "creatinine_mg_dl")
    _require(isinstance(dialysis, bool), "dialysis", f"dialysis must be a bool, got {dialysis!r}")
    cr = cr_cap if dialysis else _clamp(cr, _ONE, cr_cap)
    return max(bili, _ONE), max(ratio, _ONE), cr


def _meld_i(bili: Decimal, inr: Decimal, cr: Decimal) -> Decimal:
    with localcontext(_CTX):
        return (Decimal("0.957") * cr.ln() + Decimal("0.378") * bili.ln() + Decimal("1.120") * inr.ln()
                + Decimal("0.643"))


def _lab(analyte: str, value: float, name: str) -> Decimal:
    # read as it prints: 1.9 is 1.9, not 1.899999999999999911182158029987
    return Decimal(repr(check_plausible(analyte, value, field=name)))


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return min(max(value, low), high)


def _as_floats(bili: Decimal, inr: Decimal, cr: Decimal) -> dict[str, Scalar]:
    return {"bilirubin_mg_dl": float(bili), "inr": float(inr), "creatinine_mg_dl": float(cr)}


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise Rejection("score.invalid_input", message, field=name)
