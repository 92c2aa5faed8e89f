"""The protocol as data: arms, allocation, visits, analytes, eligibility and blinding.

One JSON document per protocol version (`domain/protocols/`) is validated here; the rules in the
other modules read it instead of hard-coding the trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .facts import Rejection

IDENT = r"^[a-z][a-z0-9_]*$"
CRITERION_ID = r"^(inc|exc)-[1-9][0-9]*$"


class _Part(BaseModel):
    """Immutable, no unknown fields, strict types: a typo in the protocol file must fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Arm(_Part):
    id: Annotated[str, Field(pattern=IDENT)]
    label: Annotated[str, Field(min_length=1)]
    cells_per_kg: Annotated[float, Field(gt=0, description="cells per kg body weight per infusion")]


class Visit(_Part):
    """A scheduled visit, `day` days after the infusion (negative: before it).

    The window is inclusive: from `day - window_before_days` to `day + window_after_days`.
    Version 1.0 of NCT06167473: baseline day -7 ± 7 (the 14 days up to the infusion day),
    infusion day 0 exactly, week 1 ± 2 days, weeks 4, 8 and 12 ± 7, weeks 24 and 48 ± 14: windows
    widen with the distance from the infusion, and no two follow-up windows overlap.
    """

    id: Annotated[str, Field(pattern=IDENT)]
    label: Annotated[str, Field(min_length=1)]
    day: int
    window_before_days: Annotated[int, Field(ge=0)]
    window_after_days: Annotated[int, Field(ge=0)]


class Analyte(_Part):
    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*$")]
    label: Annotated[str, Field(min_length=1)]
    units: Annotated[list[str], Field(min_length=1)]  # the first is the unit the trial reports in


class Criterion(_Part):
    id: Annotated[str, Field(pattern=CRITERION_ID)]
    text: Annotated[str, Field(min_length=1)]


class Eligibility(_Part):
    inclusion: Annotated[list[Criterion], Field(min_length=1)]
    exclusion: list[Criterion]

    @model_validator(mode="after")
    def _ids(self) -> Eligibility:
        ids = [c.id for c in (*self.inclusion, *self.exclusion)]
        _unique(ids, "criterion ids")
        wrong = [c.id for c in self.inclusion if not c.id.startswith("inc-")]
        wrong += [c.id for c in self.exclusion if not c.id.startswith("exc-")]
        if wrong:
            raise ValueError(f"inclusion ids start with inc-, exclusion ids with exc-: {wrong}")
        return self

    @property
    def criteria(self) -> list[Criterion]:
        """All criteria in protocol order: inclusion first, then exclusion."""
        return [*self.inclusion, *self.exclusion]


class Stratification(_Part):
    factor: Annotated[str, Field(min_length=1)]
    levels: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> Stratification:
        _unique(self.levels, "stratification levels")
        return self


class Baseline(_Part):
    """What a participant's baseline is (protocol 1.1 on): the visit, the labs and findings it
    needs, before which step it must be complete, and what happens when it is not."""

    visit: Annotated[str, Field(pattern=IDENT)]
    analytes: Annotated[list[str], Field(min_length=1)]
    assessment: bool  # the clinical findings (ascites, encephalopathy) belong to the baseline too
    complete_before: Literal["randomisation", "infusion"]
    if_incomplete: Literal["refuse", "deviation"]


class MedicationExclusion(_Part):
    """An exclusion criterion a medication course can meet: a course of one of `categories`
    overlapping the `days_before_eligibility` days up to the eligibility assessment opens a
    query on the criterion."""

    criterion: Annotated[str, Field(pattern=CRITERION_ID)]
    categories: Annotated[list[Annotated[str, Field(pattern=IDENT)]], Field(min_length=1)]
    days_before_eligibility: Annotated[int, Field(ge=1)]


ScoreName = Literal["MELD", "MELD-Na", "MELD 3.0", "Child-Pugh"]


class Protocol(_Part):
    trial: Annotated[str, Field(pattern=r"^NCT[0-9]{8}$")]
    version: Annotated[str, Field(min_length=1, max_length=32)]
    title: Annotated[str, Field(min_length=1)]
    arms: Annotated[list[Arm], Field(min_length=2)]
    allocation_ratio: list[Annotated[int, Field(ge=1)]]
    block_sizes: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    stratification: Stratification | None = None
    infusions_per_participant: Annotated[int, Field(ge=1)]
    route: Annotated[str, Field(min_length=1)]
    # an infusion within ±dose_tolerance of arm cells/kg × recorded weight is on protocol (R29)
    dose_tolerance: Annotated[float, Field(ge=0, lt=1)]
    visits: Annotated[list[Visit], Field(min_length=1)]
    analytes: Annotated[list[Analyte], Field(min_length=1)]
    eligibility: Eligibility
    age_min: Annotated[int, Field(ge=0)]
    age_max: Annotated[int, Field(ge=0)]
    # Roles that must never see the arm; every other role is unblinded. NCT06167473 is
    # single-blind: the participant is blinded (and is no user of the ledger); investigators
    # record the dose they infuse, so they see the arm of a randomised participant, but no role
    # but the randomiser's side ever sees a slot number or the list (allocation concealment).
    blinded_roles: list[Annotated[str, Field(pattern=IDENT)]]
    # payload fields that reveal the arm, withheld from blinded roles (R27)
    masked_fields: list[Annotated[str, Field(min_length=1)]]
    target_enrolment: Annotated[int, Field(ge=1)]
    # From version 1.1 (each optional, so earlier versions load as they were adopted):
    baseline: Baseline | None = None
    primary_score: ScoreName | None = None  # the score whose change from baseline is primary
    child_pugh_coagulation: Literal["INR", "PT"] = "INR"  # INR, or PT prolongation over control
    cholestatic_cutoffs: bool = False  # PBC/PSC bilirubin cut-offs for cholestatic aetiologies
    medication_exclusions: list[MedicationExclusion] = []
    # The events the investigator's brochure expects of the product (reference safety
    # information): a serious related event whose term is listed is no SUSAR (domain/safety.py).
    reference_safety_information: list[Annotated[str, Field(min_length=1, max_length=200)]] = []

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        _unique([a.id for a in self.arms], "arm ids")
        _unique([v.id for v in self.visits], "visit ids")
        _unique([a.code for a in self.analytes], "analyte codes")
        _unique(self.block_sizes, "block sizes")
        if len(self.allocation_ratio) != len(self.arms):
            raise ValueError(f"allocation_ratio has {len(self.allocation_ratio)} parts "
                             f"for {len(self.arms)} arms")
        per_round = sum(self.allocation_ratio)
        uneven = [b for b in self.block_sizes if b % per_round]
        if uneven:
            # only whole multiples of the ratio can be balanced at the end of each block (R24)
            raise ValueError(f"block sizes {uneven} are not multiples of {per_round}, "
                             f"the sum of the allocation ratio")
        visits = {v.id: v for v in self.visits}
        if self.baseline is not None:
            base = visits.get(self.baseline.visit)
            if base is None or base.day > 0:
                raise ValueError(f"baseline visit {self.baseline.visit!r} is no visit on or before "
                                 "the infusion")
            codes = {a.code for a in self.analytes}
            unknown = [a for a in self.baseline.analytes if a not in codes]
            if unknown:
                raise ValueError(f"baseline analytes the protocol does not measure: {unknown}")
        criteria = {c.id for c in self.eligibility.exclusion}
        strays = [m.criterion for m in self.medication_exclusions if m.criterion not in criteria]
        if strays:
            raise ValueError(f"medication exclusions name no exclusion criterion: {strays}")
        if self.age_min > self.age_max:
            raise ValueError(f"age_min {self.age_min} is above age_max {self.age_max}")
        early = [v.id for v in self.visits if v.day > 0 and v.day - v.window_before_days <= 0]
        if early:
            # a follow-up visit may never be done on or before the infusion day (R21)
            raise ValueError(f"visit windows open on or before the infusion day: {early}")
        return self


def _unique(values: Sequence[str | int], what: str) -> None:
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{what} must be unique, repeated: {twice}")


def load_protocol(data: Mapping[str, Any]) -> Protocol:
    """Validate a parsed protocol document; a faulty one is refused with every problem listed."""
    try:
        return Protocol.model_validate(dict(data))
    except ValidationError as exc:
        errors = [{"field": ".".join(str(x) for x in e["loc"]) or "protocol", "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        first = errors[0] if errors else {"field": "protocol", "message": "invalid"}
        raise Rejection("protocol.invalid", f"{first['field']}: {first['message']}",
                        field=first["field"], errors=errors) from None


def arm(protocol: Protocol, arm_id: str) -> Arm:
    for candidate in protocol.arms:
        if candidate.id == arm_id:
            return candidate
    raise Rejection("protocol.unknown_arm", f"protocol {protocol.version} has no arm {arm_id!r}",
                    field="arm")


def visit(protocol: Protocol, visit_id: str) -> Visit:
    for candidate in protocol.visits:
        if candidate.id == visit_id:
            return candidate
    raise Rejection("protocol.unknown_visit", f"protocol {protocol.version} has no visit {visit_id!r}",
                    field="visit")


def is_blinded(protocol: Protocol, role: str) -> bool:
    return role in protocol.blinded_roles


def visit_window(protocol: Protocol, visit_id: str, infusion_day: date) -> tuple[date, date]:
    """First and last day (both inclusive) on which the visit may take place."""
    v = visit(protocol, visit_id)
    nominal = infusion_day + timedelta(days=v.day)
    return nominal - timedelta(days=v.window_before_days), nominal + timedelta(days=v.window_after_days)
