"""The participant's baseline (protocol 1.1 on): what must be measured before treatment, and when.

The protocol in force's `baseline` names the visit, the analytes and whether the clinical
findings belong to it, the step it must be complete before (randomisation or the infusion) and
what happens when it is not. The rules apply to other parts' records, so they live in `check`
(asked after the record's own part accepted it):
- a baseline sample or baseline findings dated after the infusion started are refused
  (`baseline.after_infusion`); findings observed on the infusion day itself stand;
- at the step, an incomplete baseline (an analyte without a current value at the baseline
  visit, or the findings missing) is refused (`baseline.incomplete`, naming what is missing) or
  recorded with a system deviation `baseline_incomplete`, as the protocol says;
- a baseline sample (or the baseline findings) outside the baseline visit's window around the
  infusion day is recorded with a system deviation `baseline_out_of_window`: at the infusion for
  what was recorded before it, at the record for what is recorded after it.
Under a protocol without `baseline` (1.0) nothing here applies.

The dated rules of clinical findings (`assessment.recorded` schema 2, domain/visit_scores.py)
need the protocol and the time, which only `check` is given: they are asked from here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from . import visit_scores
from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState
from .protocol import Baseline, Protocol, visit_window

#: The record each `complete_before` step of the protocol is.
STEP = {"randomisation": "randomisation.requested", "infusion": "infusion.administered"}


def check(state: ParticipantState, fact: Fact, now: datetime,
          protocol: Protocol | None) -> list[Consequence]:
    follow = visit_scores.decide_dated(state, fact, now, protocol)
    if protocol is None or protocol.baseline is None:
        return follow
    base, p = protocol.baseline, fact.payload
    started = visit_scores.first_infusion(state)
    if fact.type == "lab.resulted" and p["visit"] == base.visit:
        sampled = datetime.fromisoformat(str(p["sampled_at"]))
        if started is not None and sampled > started:
            raise Rejection("baseline.after_infusion", f"a baseline sample taken {sampled} is after "
                            f"the infusion started ({started})", field="payload.sampled_at")
        if started is not None:
            follow += _outside(protocol, base, started.date(), fact.stream,
                               [(f"{p['analyte']} sample", sampled.date(), fact.record_hash or "")])
    elif fact.type == "assessment.recorded" and fact.schema >= 2 and p["visit"] == base.visit:
        on = date.fromisoformat(str(p["observed_on"]))
        if started is not None and on > started.date():
            raise Rejection("baseline.after_infusion", f"baseline findings observed on {on} are "
                            f"after the infusion on {started.date()}", field="payload.observed_on")
        if started is not None and base.assessment:
            follow += _outside(protocol, base, started.date(), fact.stream,
                               [("findings", on, fact.record_hash or "")])
    elif fact.type == "infusion.administered" and started is None:
        follow += _at_step(state, fact, base)
        infused = datetime.fromisoformat(str(p["started_at"])).date()
        follow += _outside(protocol, base, infused, fact.stream, _baseline_records(state, base))
    elif fact.type == "randomisation.requested":
        follow += _at_step(state, fact, base)
    return follow


def missing(state: ParticipantState, base: Baseline) -> list[str]:
    """What the baseline still lacks: analytes without a current value, and the findings."""
    lacking = [a for a in base.analytes
               if state.labs.get(f"{base.visit}/{a}", {}).get("value") is None]
    if base.assessment and base.visit not in state.assessments:
        lacking.append("assessment")
    return lacking


def _at_step(state: ParticipantState, fact: Fact, base: Baseline) -> list[Consequence]:
    if STEP[base.complete_before] != fact.type:
        return []
    lacking = missing(state, base)
    if not lacking:
        return []
    detail = f"baseline ({base.visit}) incomplete before {base.complete_before}: " \
             f"missing {', '.join(lacking)}"
    if base.if_incomplete == "refuse":
        raise Rejection("baseline.incomplete", detail, field="entry.type")
    return [Consequence(fact.stream, "deviation.recorded", {
        "kind": "baseline_incomplete", "record": fact.record_hash or "", "detail": detail},
        actor="system")]


def _baseline_records(state: ParticipantState,
                      base: Baseline) -> list[tuple[str, date, str]]:
    """The baseline's dated records standing now: (what, day, record hash)."""
    found = [(f"{lab['analyte']} sample", datetime.fromisoformat(str(lab["sampled_at"])).date(),
              str(lab["record_hash"]))
             for key, lab in state.labs.items()
             if key.startswith(f"{base.visit}/") and lab.get("value") is not None]
    findings = state.assessments.get(base.visit)
    if base.assessment and findings is not None and findings.get("observed_on") is not None:
        found.append(("findings", date.fromisoformat(str(findings["observed_on"])),
                      str(findings["record_hash"])))
    return found


def _outside(protocol: Protocol, base: Baseline, infused: date, stream: str,
             records: Iterable[tuple[str, date, str]]) -> list[Consequence]:
    low, high = visit_window(protocol, base.visit, infused)
    return [Consequence(stream, "deviation.recorded", {
        "kind": "baseline_out_of_window", "record": record,
        "detail": f"baseline {what} on {day}, window {low} to {high}"}, actor="system")
        for what, day, record in records if not low <= day <= high]


PART = Part(schemas={}, roles={}, check=check)
