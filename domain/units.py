"""Lab units and plausibility bounds for the liver scores (SCORES.md §5 and §6).

Score units: bilirubin and creatinine mg/dL, albumin g/dL, sodium mmol/L, INR a ratio, PT seconds,
enzymes U/L. Analyte codes and unit spellings are the protocol's `analytes` (the micro sign in
"µmol/L" is U+00B5, as there); sodium also takes "mEq/L", which §5 equates with mmol/L.

Conversions divide in decimal arithmetic on the value as reported, so a reported band edge stays
on the edge: 51.3 µmol/L is 3.0 mg/dL, where float division gives 2.9999999999999996.

Rules refused here (each a Rejection with a stable rule id; `field` names the culprit):
- `lab.unknown_analyte`: a code this module does not know;
- `lab.unknown_unit`: a unit the analyte is not reported in;
- `lab.not_a_number`: not an int or float (a bool is refused too), or NaN;
- `lab.implausible`: infinite, or outside the §6 "suggested hard reject" bounds. Scores check raw
  values against these before any clamp; the clamps are not validation ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Context, Decimal, localcontext
from types import MappingProxyType
from typing import Any, NamedTuple

from .facts import Rejection

SCORE_UNITS: Mapping[str, str] = MappingProxyType({
    "ALT": "U/L", "AST": "U/L", "ALP": "U/L", "TBIL": "mg/dL", "ALB": "g/dL", "PT": "s",
    "INR": "ratio", "CREAT": "mg/dL", "SODIUM": "mmol/L",
})

# reported value ÷ divisor = value in the score unit
_DIVISORS: Mapping[tuple[str, str], Decimal] = MappingProxyType({
    **{(code, unit): Decimal(1) for code, unit in SCORE_UNITS.items()},
    ("TBIL", "µmol/L"): Decimal("17.1"),  # molar mass 584.66 g/mol
    ("CREAT", "µmol/L"): Decimal("88.4"),  # molar mass 113.12 g/mol
    ("ALB", "g/L"): Decimal(10),
    ("SODIUM", "mEq/L"): Decimal(1),  # monovalent ion
})

UNITS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    code: tuple(unit for (c, unit) in _DIVISORS if c == code) for code in SCORE_UNITS
})


class Bounds(NamedTuple):
    """Inclusive plausibility bounds in the score unit."""

    low: float
    high: float
    unit: str


# §6 "suggested hard reject" column. Sodium takes the 100–180 option (no query band here).
PLAUSIBLE: Mapping[str, Bounds] = MappingProxyType({
    "ALT": Bounds(0, 20000, "U/L"),
    "AST": Bounds(0, 20000, "U/L"),
    "ALP": Bounds(0, 5000, "U/L"),
    "TBIL": Bounds(0, 100, "mg/dL"),
    "ALB": Bounds(0.5, 7, "g/dL"),
    "CREAT": Bounds(0.1, 25, "mg/dL"),
    "INR": Bounds(0.5, 20, "ratio"),
    "SODIUM": Bounds(100, 180, "mmol/L"),
    "PT": Bounds(5, 200, "s"),
    # not a protocol analyte: patient PT − control PT, so each within PT's 5–200 s gives ±195 s
    "PT_PROLONGATION": Bounds(-195, 195, "s"),
})

_CTX = Context(prec=28)
# relative slack at the bounds: 100 mg/dL given as 100 × 17.1 µmol/L in float arithmetic converts
# to 100.00000000000001 and is still the bound
_SLACK = 1e-9


def _conversion(analyte: str, value: float, unit: str) -> tuple[str, Decimal, float]:
    """The analyte's code, the divisor from `unit` to its score unit, and the value as a number."""
    code = _known(analyte, SCORE_UNITS)
    divisor = _DIVISORS.get((code, unit)) if isinstance(unit, str) else None
    if divisor is None:
        raise Rejection("lab.unknown_unit", f"{code} is not reported in {unit!r}; its units are "
                        f"{', '.join(UNITS[code])}", field=code)
    return code, divisor, _number(value, field=code)


def to_score_units(analyte: str, value: float, unit: str) -> float:
    """`value` in `unit` expressed in the analyte's score unit (SCORE_UNITS)."""
    _, divisor, number = _conversion(analyte, value, unit)
    return float(_CTX.divide(Decimal(repr(number)), divisor))  # no context switch: this is hot


def from_score_units(analyte: str, value: float, unit: str) -> float:
    """The inverse of `to_score_units`: a score-unit value expressed in `unit`."""
    code, divisor, number = _conversion(analyte, value, unit)
    with localcontext(_CTX):
        result = Decimal(repr(number)) * divisor
    if not math.isfinite(float(result)):
        raise Rejection("lab.implausible", f"{code} = {number!r} overflows in {unit}", field=code)
    return float(result)


def check_plausible(analyte: str, value: float, *, field: str | None = None) -> float:
    """The value, as a float, if it lies within the analyte's bounds; `field` names it in refusals."""
    code = _known(analyte, PLAUSIBLE)
    name = field or code
    number = _number(value, field=name)
    low, high, unit = PLAUSIBLE[code]
    if not low - _SLACK * max(1, abs(low)) <= number <= high + _SLACK * max(1, abs(high)):
        raise Rejection("lab.implausible", f"{name} = {number!r} {unit} is outside the plausible range "
                        f"{low:g}–{high:g} {unit}", field=name)
    return number


def _known(analyte: str, table: Mapping[str, Any]) -> str:
    if not isinstance(analyte, str) or analyte not in table:
        raise Rejection("lab.unknown_analyte", f"unknown analyte {analyte!r}; known: {', '.join(table)}")
    return analyte


def _number(value: object, *, field: str) -> float:
    # bool is an int subclass, but True is no lab value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejection("lab.not_a_number", f"{field} must be a number, got {value!r}", field=field)
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise Rejection("lab.implausible", f"{field} is too large to be a lab value", field=field) from None
    if math.isnan(number):
        raise Rejection("lab.not_a_number", f"{field} is NaN", field=field)
    if math.isinf(number):
        raise Rejection("lab.implausible", f"{field} = {number} is not finite", field=field)
    return number
