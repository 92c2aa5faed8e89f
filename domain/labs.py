"""Lab results, one record per analyte (field-level audit, R5), with corrections (R3), removals
(R4) and queries (R30).

- `lab.resulted` (investigator): a visit's value for one analyte, in the unit as entered, with the
  sample time (observation time, apart from `recorded_at`, R10). Values outside plausibility
  bounds are refused (`lab.implausible`); samples outside the visit's window are accepted and
  flagged; a follow-up visit's sample never predates the infusion (R21), nor any sample the
  standing consent (R40, domain/consent.py).
- `lab.corrected` (investigator, reason required): supersedes the current value; the original
  stays in the stream. A correction driven by a query names it.
- `lab.removed` (investigator, reason required): the value leaves the participant's data; the
  history keeps it. Re-entry is a new `lab.resulted`.
- `query.opened` (data manager, monitor) on a record and field; `query.answered` (investigator);
  `query.closed` (data manager, monitor).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from .consent import check_after_consent
from .dates import plausible
from .facts import Consequence, Fact, Rejection
from .participant import ParticipantState, Payload
from .protocol import Protocol, visit_window
from .units import check_plausible, to_score_units

HASH = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class LabResulted(Payload):
    visit: Annotated[str, Field(min_length=1, max_length=32)]
    analyte: Annotated[str, Field(min_length=1, max_length=16)]
    value: float
    unit: Annotated[str, Field(min_length=1, max_length=16)]
    sampled_at: datetime
    control_pt_s: Annotated[float, Field(gt=0)] | None = None
    refusal: HASH | None = None  # the edit-check refusal this entry corrects (R9)


class EditCheckFailed(Payload):
    """`edit_check.failed` (the system): a refused submission, kept so its correction can be traced."""

    entry_type: str
    entry_digest: HASH
    submitted_by: str
    analyte: str | None = None
    value: float | None = None
    unit: str | None = None
    check: str
    message: Annotated[str, Field(max_length=500)]


class LabCorrected(Payload):
    supersedes: HASH
    value: float | None  # None clears the value (audited like any change)
    unit: Annotated[str, Field(min_length=1, max_length=16)]
    query: HASH | None = None


class LabRemoved(Payload):
    supersedes: HASH


class QueryOpened(Payload):
    record: HASH
    field: Annotated[str, Field(min_length=1, max_length=64)]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class QueryAnswered(Payload):
    query: HASH
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class QueryClosed(Payload):
    query: HASH


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("lab.resulted", 1): LabResulted, ("lab.corrected", 1): LabCorrected,
    ("lab.removed", 1): LabRemoved, ("query.opened", 1): QueryOpened,
    ("query.answered", 1): QueryAnswered, ("query.closed", 1): QueryClosed,
    ("edit_check.failed", 1): EditCheckFailed,
}
#: Checks whose refusal is recorded (R9), and expected ranges that open a query instead.
RECORDED_CHECKS = frozenset({"lab.implausible"})
_TYPES = frozenset(t for t, _ in SCHEMAS)
EXPECTED = {"SODIUM": (110.0, 160.0)}  # mmol/L; outside: a query, not a refusal (SCORES.md §6)


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    p = fact.payload
    seen = (*state.record_hashes, fact.record_hash or "")
    if fact.redacted or fact.type not in _TYPES:
        return state.model_copy(update={"record_hashes": seen})
    if fact.type == "lab.resulted":  # the common case: one new value, nothing else changes
        return state.model_copy(update={"record_hashes": seen, "labs": {
            **state.labs, f"{p['visit']}/{p['analyte']}": _result(p, fact)}})
    labs = dict(state.labs)
    queries = dict(state.queries)
    if fact.type == "edit_check.failed":
        return state.model_copy(update={"record_hashes": seen, "edit_checks": {
            **state.edit_checks, fact.record_hash or "": {**dict(p), "at": fact.recorded_text}}})
    if fact.type in ("lab.corrected", "lab.removed"):
        key = next(k for k, v in labs.items() if v["record_hash"] == p["supersedes"])
        old = labs[key]
        history = [*old["history"], {k: old[k] for k in ("value", "unit", "record_hash", "by", "at")}]
        if fact.type == "lab.removed":
            labs.pop(key)
        else:
            labs[key] = {**_lab({**old, **p}, fact, old["visit"], old["analyte"], p["value"]),
                         "history": history, "reason": fact.reason, "query": p.get("query")}
    elif fact.type == "query.opened":
        queries[fact.record_hash or ""] = {"record": p["record"], "field": p["field"], "text": p["text"],
                                           "by": fact.author, "status": "open", "answers": []}
    elif fact.type == "query.answered":
        q = queries[p["query"]]
        queries[p["query"]] = {**q, "status": "answered",
                               "answers": [*q["answers"], {"by": fact.author, "text": p["text"]}]}
    elif fact.type == "query.closed":
        queries[p["query"]] = {**queries[p["query"]], "status": "closed"}
    return state.model_copy(update={"labs": labs, "queries": queries, "record_hashes": seen})


def is_plain_result(fact: Fact) -> bool:
    """A lab result whose payload stands (not redacted): it adds one value to the lab map and
    its hash to the record hashes, and `add_results` may fold it."""
    return fact.type == "lab.resulted" and not fact.redacted


def add_results(state: ParticipantState, facts: Sequence[Fact]) -> ParticipantState:
    """`evolve` over plain lab results (`is_plain_result`) in one copy of the lab map and the
    record hashes, not one per result: a casebook holds hundreds of results, and copying both
    for each makes a participant's fold quadratic."""
    labs = dict(state.labs)
    seen = list(state.record_hashes)
    for fact in facts:
        p = fact.payload
        labs[f"{p['visit']}/{p['analyte']}"] = _result(p, fact)  # a key seen keeps its place
        seen.append(fact.record_hash or "")
    return state.model_copy(update={"record_hashes": tuple(seen), "labs": labs})


def _result(p: Any, fact: Fact) -> dict[str, Any]:
    lab = _lab(p, fact, p["visit"], p["analyte"], p["value"])
    lab["refusal"] = p.get("refusal")
    return lab


def _lab(p: Any, fact: Fact, visit: str, analyte: str, value: Any) -> dict[str, Any]:
    return {"visit": visit, "analyte": analyte, "value": value, "unit": p["unit"],
            "sampled_at": p["sampled_at"], "control_pt_s": p.get("control_pt_s"),
            "record_hash": fact.record_hash,
            "by": fact.author, "at": fact.recorded_text, "history": []}


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    p = fact.payload
    if fact.type.startswith("query."):
        _decide_query(state, fact)
        return []
    if fact.type == "edit_check.failed":
        return []
    if protocol is None:
        raise Rejection("protocol.not_adopted", "no protocol is in force", field="entry.type")
    if fact.type == "lab.resulted":
        _check_value(protocol, p["analyte"], p["value"], p["unit"])
        _check_visit(state, protocol, p["visit"], datetime.fromisoformat(p["sampled_at"]), now)
        if f"{p['visit']}/{p['analyte']}" in state.labs:
            raise Rejection("lab.recorded_already", f"{p['analyte']} at {p['visit']} has a value; "
                            "correct it instead", field="payload.analyte")
        if p.get("refusal") is not None and p["refusal"] not in state.edit_checks:
            raise Rejection("lab.unknown_refusal", "refusal names no edit-check refusal of this "
                            "participant", field="payload.refusal")
        follow: list[Consequence] = []
        window = out_of_window(state, protocol, p["visit"], datetime.fromisoformat(p["sampled_at"]))
        if window is not None:
            follow.append(Consequence(fact.stream, "deviation.recorded", {
                "kind": "sample_out_of_window", "record": fact.record_hash or "", "detail": window},
                actor="system"))
        expected = EXPECTED.get(p["analyte"])
        value = to_score_units(p["analyte"], p["value"], p["unit"])
        if expected is not None and not expected[0] <= value <= expected[1]:
            follow.append(Consequence(fact.stream, "query.opened", {
                "record": fact.record_hash or "", "field": "value",
                "text": f"{p['analyte']} {p['value']} {p['unit']} is outside the expected "
                        f"{expected[0]:g}–{expected[1]:g}: please confirm"}, actor="system"))
        return follow
    current = [v for v in state.labs.values() if v["record_hash"] == p["supersedes"]]
    if not current:
        raise Rejection("lab.not_current", "supersedes names no current lab value of this participant",
                        field="payload.supersedes")
    if fact.reason is None:
        raise Rejection("lab.reason_required", f"{fact.type} needs a reason", field="entry.reason")
    if fact.type == "lab.corrected":
        if p["value"] is not None:
            _check_value(protocol, current[0]["analyte"], p["value"], p["unit"])
        query = p.get("query")
        if query is not None and state.queries.get(query, {}).get("record") != p["supersedes"]:
            raise Rejection("query.unknown", "the correction names no query on this value",
                            field="payload.query")
    return []


def _check_value(protocol: Protocol, analyte: str, value: float, unit: str) -> None:
    known = {a.code: a for a in protocol.analytes}
    if analyte not in known:
        raise Rejection("lab.unknown_analyte", f"the protocol measures no {analyte}", field="payload.analyte")
    if unit not in known[analyte].units:
        raise Rejection("lab.unknown_unit", f"{analyte} is given in {', '.join(known[analyte].units)}",
                        field="payload.unit")
    check_plausible(analyte, to_score_units(analyte, value, unit), field="payload.value")


def _check_visit(state: ParticipantState, protocol: Protocol, visit_id: str, sampled: datetime,
                 now: datetime) -> None:
    scheduled = next((v for v in protocol.visits if v.id == visit_id), None)
    if scheduled is None:
        raise Rejection("visit.unknown", f"the protocol has no visit {visit_id}", field="payload.visit")
    plausible(sampled, now, "payload.sampled_at")
    if sampled.tzinfo is None or sampled > now:
        raise Rejection("lab.sampled_at", "the sample time needs a UTC offset and cannot be in the "
                        "future", field="payload.sampled_at")
    check_after_consent(state, sampled.date(), "payload.sampled_at")
    if scheduled.day > 0:
        infused = state.schedule_origin
        if infused is None:
            raise Rejection("visit.before_infusion", f"{scheduled.label} follows the infusion, and "
                            "there is none yet", field="payload.visit")
        if sampled < infused:
            raise Rejection("visit.before_infusion", f"a {scheduled.label} sample predates the "
                            "infusion", field="payload.sampled_at")


def out_of_window(state: ParticipantState, protocol: Protocol, visit_id: str,
                  sampled: datetime) -> str | None:
    """Why a follow-up sample falls outside its visit's window, or None when it does not."""
    scheduled = next(v for v in protocol.visits if v.id == visit_id)
    origin = state.schedule_origin
    if scheduled.day <= 0 or origin is None:
        return None
    low, high = visit_window(protocol, visit_id, origin.date())
    if low <= sampled.date() <= high:
        return None
    return f"{scheduled.label} sample on {sampled.date()}, window {low} to {high}"


def _decide_query(state: ParticipantState, fact: Fact) -> None:
    p = fact.payload
    if fact.type == "query.opened":
        if p["record"] not in state.record_hashes:
            raise Rejection("query.unknown_record", "the query names no record of this participant",
                            field="payload.record")
        return
    query = state.queries.get(p["query"])
    if query is None:
        raise Rejection("query.unknown", "no such query on this participant", field="payload.query")
    if query["status"] == "closed":
        raise Rejection("query.closed", "the query is closed", field="payload.query")
