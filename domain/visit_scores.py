"""Liver scores per visit, from the participant's current values (after corrections), naming the
records each score was computed from. A score whose inputs are incomplete is listed as missing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .consent import check_after_consent
from .eligibility import age_in_years
from .facts import Fact, Rejection
from .participant import ParticipantState, Payload
from .scores import ScoreResult, child_pugh, meld, meld_3, meld_na
from .units import to_score_units


class AssessmentRecorded(Payload):
    """`assessment.recorded`, schema 1 (investigator): the clinical findings of a visit."""

    visit: Annotated[str, Field(min_length=1, max_length=32)]
    ascites: Literal["none", "mild", "moderate_severe"]
    encephalopathy_grade: Annotated[int, Field(ge=0, le=4)]
    dialysis: bool  # >= 2 dialysis treatments or 24 h CVVHD in the prior 7 days
    weight_kg: Annotated[float, Field(gt=20, lt=350)] | None = None


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("assessment.recorded", 1): AssessmentRecorded}
NEEDS = {"MELD": ("TBIL", "INR", "CREAT"), "MELD-Na": ("TBIL", "INR", "CREAT", "SODIUM"),
         "MELD 3.0": ("TBIL", "INR", "CREAT", "SODIUM", "ALB"), "Child-Pugh": ("TBIL", "ALB", "INR")}


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    if fact.type != "assessment.recorded" or fact.redacted:
        return state
    return state.model_copy(update={"assessments": {**state.assessments, fact.payload["visit"]: {
        **dict(fact.payload), "record_hash": fact.record_hash}}})


def decide(state: ParticipantState, fact: Fact) -> None:
    check_after_consent(state, None, "payload.visit")  # the findings carry no date of their own
    if fact.payload["visit"] in state.assessments:
        raise Rejection("assessment.recorded_already", f"visit {fact.payload['visit']} is assessed "
                        "already", field="payload.visit")


def scores_by_visit(state: ParticipantState) -> dict[str, dict[str, Any]]:
    """Every visit with a lab value or an assessment, and its scores."""
    visits = sorted({key.split("/")[0] for key in state.labs} | set(state.assessments))
    return {visit: visit_scores(state, visit) for visit in visits}


def visit_scores(state: ParticipantState, visit: str) -> dict[str, Any]:
    """Every algorithm for one visit: the result with its input records, or what is missing."""
    prefix = f"{visit}/"
    labs = {v["analyte"]: v for k, v in state.labs.items()
            if k.startswith(prefix) and v.get("value") is not None}
    assessment = state.assessments.get(visit)
    # In score units only when a score can be computed: a visit without its assessment (most,
    # until it is recorded) lists what is missing and needs no conversion.
    value = {} if assessment is None else \
        {a: to_score_units(a, float(v["value"]), str(v["unit"])) for a, v in labs.items()}
    out: dict[str, Any] = {}
    for algorithm, needed in NEEDS.items():
        missing = [a for a in needed if a not in labs]
        if assessment is None:  # dialysis (MELD family) and the clinical findings (Child-Pugh)
            missing.append("assessment")
        if algorithm == "MELD 3.0" and (state.sex is None or state.date_of_birth is None):
            missing.append("sex and date of birth")
        if missing:
            out[algorithm] = {"missing": missing}
            continue
        assert assessment is not None
        try:
            result = _score(algorithm, value, assessment, state, labs)
        except Rejection as exc:
            out[algorithm] = {"refused": exc.rule, "detail": exc.message}
            continue
        records = [labs[a]["record_hash"] for a in needed] + [assessment["record_hash"]]
        out[algorithm] = {**_plain(result), "input_records": records}
    return out


def _score(algorithm: str, v: dict[str, float], a: dict[str, Any], state: ParticipantState,
           labs: dict[str, dict[str, Any]]) -> ScoreResult:
    common = {"bilirubin_mg_dl": v["TBIL"], "inr": v["INR"]}
    if algorithm == "MELD":
        return meld(**common, creatinine_mg_dl=v["CREAT"], dialysis=a["dialysis"])
    if algorithm == "MELD-Na":
        return meld_na(**common, creatinine_mg_dl=v["CREAT"], sodium_mmol_l=v["SODIUM"],
                       dialysis=a["dialysis"])
    if algorithm == "MELD 3.0":
        sampled = datetime.fromisoformat(str(labs["TBIL"]["sampled_at"])).date()
        sex: Literal["F", "M"] = "F" if state.sex == "F" else "M"
        return meld_3(sex=sex, age_years=age_in_years(state.date_of_birth or date.min, sampled),
                      bilirubin_mg_dl=v["TBIL"], inr=v["INR"], creatinine_mg_dl=v["CREAT"],
                      sodium_mmol_l=v["SODIUM"], albumin_g_dl=v["ALB"], dialysis=a["dialysis"])
    return child_pugh(bilirubin_mg_dl=v["TBIL"], albumin_g_dl=v["ALB"], inr=v["INR"],
                      ascites=a["ascites"], encephalopathy_grade=a["encephalopathy_grade"])


def _plain(result: ScoreResult) -> dict[str, Any]:
    """The result as plain JSON-ready data (its mappings are read-only views)."""
    return {f.name: dict(v) if isinstance(v, Mapping) else v
            for f in fields(result) for v in [getattr(result, f.name)]}
