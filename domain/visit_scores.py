"""Liver scores per visit, from the participant's current values (after corrections), naming the
records each score was computed from. A score whose inputs are incomplete is listed as missing.

`assessment.recorded` (investigator) holds a visit's clinical findings. Schema 2 carries the day
they were observed (`observed_on`), and the rules that need it (`decide_dated`): a protocol
visit (`visit.unknown`), a plausible day not in the future (`date.*`), on or after the standing
consent (`consent.*`), a follow-up visit not before the infusion (`visit.before_infusion`) and,
outside its window, recorded with a system deviation `assessment_out_of_window`. New schema 1
findings are refused (`assessment.observed_on_required`); those in a log still replay.

Under a protocol, the scores follow it: Child-Pugh's coagulation criterion (INR, or PT
prolongation over the control time recorded with the PT), the cholestatic bilirubin bands for
PBC and PSC, and the primary score with each visit's change from the baseline visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .consent import check_after_consent
from .dates import plausible
from .eligibility import age_in_years
from .facts import Consequence, Fact, Rejection
from .participant import ParticipantState, Payload
from .protocol import Protocol, visit_window
from .scores import ScoreResult, child_pugh, meld, meld_3, meld_na
from .units import to_score_units


class AssessmentRecorded(Payload):
    """`assessment.recorded`, schema 1 (investigator): the clinical findings of a visit."""

    visit: Annotated[str, Field(min_length=1, max_length=32)]
    ascites: Literal["none", "mild", "moderate_severe"]
    encephalopathy_grade: Annotated[int, Field(ge=0, le=4)]
    dialysis: bool  # >= 2 dialysis treatments or 24 h CVVHD in the prior 7 days
    weight_kg: Annotated[float, Field(gt=20, lt=350)] | None = None


class AssessmentObserved(AssessmentRecorded):
    """`assessment.recorded`, schema 2: schema 1 and the day the findings were observed."""

    observed_on: date


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {("assessment.recorded", 1): AssessmentRecorded,
                                                   ("assessment.recorded", 2): AssessmentObserved}
NEEDS = {"MELD": ("TBIL", "INR", "CREAT"), "MELD-Na": ("TBIL", "INR", "CREAT", "SODIUM"),
         "MELD 3.0": ("TBIL", "INR", "CREAT", "SODIUM", "ALB"), "Child-Pugh": ("TBIL", "ALB", "INR")}
CHOLESTATIC = frozenset({"pbc", "psc"})  # aetiologies scored on the cholestatic bilirubin bands
BASELINE_VISIT = "baseline"  # the baseline visit when the protocol names none


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    if fact.type != "assessment.recorded" or fact.redacted:
        return state
    return state.model_copy(update={"assessments": {**state.assessments, fact.payload["visit"]: {
        **dict(fact.payload), "record_hash": fact.record_hash}}})


def decide(state: ParticipantState, fact: Fact) -> None:
    """The rules that need neither the protocol nor the time (the rest: `decide_dated`)."""
    check_after_consent(state, None, "payload.visit")  # standing consent; its date: decide_dated
    if fact.schema < 2:
        raise Rejection("assessment.observed_on_required", "clinical findings carry the day they "
                        "were observed: record them with schema 2 and observed_on",
                        field="payload.observed_on")
    if fact.payload["visit"] in state.assessments:
        raise Rejection("assessment.recorded_already", f"visit {fact.payload['visit']} is assessed "
                        "already", field="payload.visit")


def first_infusion(state: ParticipantState) -> datetime | None:
    """When the (first) infusion started, or None before it."""
    if not state.infusions:
        return None
    return datetime.fromisoformat(str(state.infusions[0]["started_at"]))


def decide_dated(state: ParticipantState, fact: Fact, now: datetime,
                 protocol: Protocol | None) -> list[Consequence]:
    """The rules of a schema 2 assessment's visit and day; returns the deviation it needs."""
    if fact.type != "assessment.recorded" or fact.schema < 2:
        return []
    if protocol is None:
        raise Rejection("protocol.not_adopted", "no protocol is in force", field="entry.type")
    p = fact.payload
    scheduled = next((v for v in protocol.visits if v.id == p["visit"]), None)
    if scheduled is None:
        raise Rejection("visit.unknown", f"the protocol has no visit {p['visit']}", field="payload.visit")
    on = date.fromisoformat(str(p["observed_on"]))
    plausible(on, now, "payload.observed_on")
    if on > now.date():
        raise Rejection("date.in_future", f"observed_on {on} is after today ({now.date()})",
                        field="payload.observed_on")
    check_after_consent(state, on, "payload.observed_on")
    if scheduled.day <= 0:
        return []
    started = state.schedule_origin  # (for a participant never infused: the day it was not)
    if started is None:
        raise Rejection("visit.before_infusion", f"{scheduled.label} follows the infusion, and "
                        "there is none yet", field="payload.visit")
    if on < started.date():
        raise Rejection("visit.before_infusion", f"{scheduled.label} findings on {on} predate the "
                        f"infusion on {started.date()}", field="payload.observed_on")
    low, high = visit_window(protocol, scheduled.id, started.date())
    if low <= on <= high:
        return []
    return [Consequence(fact.stream, "deviation.recorded", {
        "kind": "assessment_out_of_window", "record": fact.record_hash or "",
        "detail": f"{scheduled.label} findings on {on}, window {low} to {high}"}, actor="system")]


def baseline_visit(protocol: Protocol | None) -> str:
    """The visit scores change from: the protocol's baseline visit, else `baseline`."""
    if protocol is None or protocol.baseline is None:
        return BASELINE_VISIT
    return protocol.baseline.visit


def scores_by_visit(state: ParticipantState,
                    protocol: Protocol | None = None) -> dict[str, dict[str, Any]]:
    """Every visit with a lab value or an assessment, and its scores. Each score with a value at
    a visit and at the baseline visit carries `change_from_baseline`; under a protocol with a
    primary score, that algorithm's entries carry `primary: true`. Without a protocol, the
    scores are those of protocol 1.0 (INR, no cholestatic bands, no primary score)."""
    visits = sorted({key.split("/")[0] for key in state.labs} | set(state.assessments))
    out = {visit: visit_scores(state, visit, protocol) for visit in visits}
    base_id = baseline_visit(protocol)
    base = out.get(base_id, {})
    primary = None if protocol is None else protocol.primary_score
    for visit, algorithms in out.items():
        for algorithm, score in algorithms.items():
            if algorithm == primary:
                score["primary"] = True
            start = base.get(algorithm, {})
            if visit != base_id and "value" in score and "value" in start:
                score["change_from_baseline"] = score["value"] - start["value"]
    return out


def visit_scores(state: ParticipantState, visit: str,
                 protocol: Protocol | None = None) -> dict[str, Any]:
    """Every algorithm for one visit: the result with its input records, or what is missing."""
    prefix = f"{visit}/"
    labs = {v["analyte"]: v for k, v in state.labs.items()
            if k.startswith(prefix) and v.get("value") is not None}
    assessment = state.assessments.get(visit)
    by_pt = protocol is not None and protocol.child_pugh_coagulation == "PT"
    history = state.medical_history if protocol is not None and protocol.cholestatic_cutoffs \
        else None
    # In score units only when a score can be computed: a visit without its assessment (most,
    # until it is recorded) lists what is missing and needs no conversion.
    value = {} if assessment is None else \
        {a: to_score_units(a, float(v["value"]), str(v["unit"])) for a, v in labs.items()}
    out: dict[str, Any] = {}
    for algorithm, needed in NEEDS.items():
        if algorithm == "Child-Pugh" and by_pt:
            needed = ("TBIL", "ALB", "PT")
        missing = [a for a in needed if a not in labs]
        if algorithm == "Child-Pugh" and by_pt and "PT" in labs and \
                labs["PT"].get("control_pt_s") is None:
            missing.append("PT control")
        if assessment is None:  # dialysis (MELD family) and the clinical findings (Child-Pugh)
            missing.append("assessment")
        if algorithm == "MELD 3.0" and (state.sex is None or state.date_of_birth is None):
            missing.append("sex and date of birth")
        cholestatic_rule = algorithm == "Child-Pugh" and protocol is not None and \
            protocol.cholestatic_cutoffs
        if cholestatic_rule and (history is None or history.get("aetiology") is None):
            missing.append("medical history")  # the aetiology decides the bilirubin bands
        if missing:
            out[algorithm] = {"missing": missing}
            continue
        assert assessment is not None
        try:
            result = _score(algorithm, value, assessment, state, labs, by_pt,
                            history is not None and history.get("aetiology") in CHOLESTATIC)
        except Rejection as exc:
            out[algorithm] = {"refused": exc.rule, "detail": exc.message}
            continue
        records = [labs[a]["record_hash"] for a in needed] + [assessment["record_hash"]]
        if cholestatic_rule and history is not None:
            records.append(history["record_hash"])
        out[algorithm] = {**_plain(result), "input_records": records}
    return out


def _score(algorithm: str, v: dict[str, float], a: dict[str, Any], state: ParticipantState,
           labs: dict[str, dict[str, Any]], by_pt: bool, cholestatic: bool) -> ScoreResult:
    common = {"bilirubin_mg_dl": v["TBIL"], "inr": v["INR"]} if "INR" in v else {}
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
    if by_pt:  # PT prolongation over the control time the lab reported with the PT
        control = Decimal(repr(float(labs["PT"]["control_pt_s"])))
        prolongation = float(Decimal(repr(v["PT"])) - control)
        return child_pugh(bilirubin_mg_dl=v["TBIL"], albumin_g_dl=v["ALB"],
                          pt_prolongation_s=prolongation, ascites=a["ascites"],
                          encephalopathy_grade=a["encephalopathy_grade"], cholestatic=cholestatic)
    return child_pugh(bilirubin_mg_dl=v["TBIL"], albumin_g_dl=v["ALB"], inr=v["INR"],
                      ascites=a["ascites"], encephalopathy_grade=a["encephalopathy_grade"],
                      cholestatic=cholestatic)


def _plain(result: ScoreResult) -> dict[str, Any]:
    """The result as plain JSON-ready data (its mappings are read-only views)."""
    return {f.name: dict(v) if isinstance(v, Mapping) else v
            for f in fields(result) for v in [getattr(result, f.name)]}
