"""The baseline of protocol 1.1 and clinical findings with their observation date, pure: every
record is decided through domain.streams.decide after the ones before it, as the ledger does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import streams, trial
from domain.facts import Consequence, Fact, Rejection
from domain.protocol import Protocol, load_protocol
from domain.visit_scores import scores_by_visit
from projections import score_history
from projections.fold import Batch
from tests.domain_stream import P10, P11, ParticipantStream, protocol_document

V10, V11 = protocol_document("nct06167473.json"), protocol_document("nct06167473-1.1.json")
NOW = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
PARTICIPANT = ParticipantStream(P11, now=NOW)
fact, refusal, state_of = PARTICIPANT.fact, PARTICIPANT.refusal, PARTICIPANT.state_of
run = PARTICIPANT.follow  # decided in order: the records the last one requires

# A baseline panel in score units: bilirubin 2.0 mg/dL, albumin 3.0 g/dL, INR 1.5, creatinine
# 1.0 mg/dL, sodium 135; week 4 worse: 4.0, 2.5, 2.0, 1.5, 130.
BASELINE_PANEL = {"TBIL": (2.0, "mg/dL"), "ALB": (3.0, "g/dL"), "INR": (1.5, "ratio"),
                  "CREAT": (1.0, "mg/dL"), "SODIUM": (135.0, "mmol/L")}
WEEK_4_PANEL = {"TBIL": (4.0, "mg/dL"), "ALB": (2.5, "g/dL"), "INR": (2.0, "ratio"),
                "CREAT": (1.5, "mg/dL"), "SODIUM": (130.0, "mmol/L")}


def enrolled(protocol: Protocol = P11, aetiology: str = "hbv") -> tuple[Fact, ...]:
    return (*PARTICIPANT.enrolled("2026-02-10", "2026-02-11", protocol.version),
            fact("medical_history.recorded", {"taken_on": "2026-02-11", "aetiology": aetiology,
                                              "conditions": []}))


def lab(visit: str, analyte: str, value: float, unit: str, on: str, **extra: Any) -> Fact:
    return fact("lab.resulted", {"visit": visit, "analyte": analyte, "value": value, "unit": unit,
                                 "sampled_at": f"{on}T08:00:00+00:00", **extra})


def panel(visit: str, values: Mapping[str, tuple[float, str]], on: str) -> tuple[Fact, ...]:
    return tuple(lab(visit, a, v, u, on) for a, (v, u) in values.items())


def findings(visit: str, on: str | None, ascites: str = "none", grade: int = 0) -> Fact:
    payload: dict[str, Any] = {"visit": visit, "ascites": ascites, "encephalopathy_grade": grade,
                               "dialysis": False}
    if on is None:
        return fact("assessment.recorded", payload)
    return fact("assessment.recorded", {**payload, "observed_on": on}, schema=2)


REQUEST, RANDOMISED = PARTICIPANT.request(), PARTICIPANT.randomised()
INFUSION = PARTICIPANT.infusion("2026-03-10")
BASELINE = (*panel("baseline", BASELINE_PANEL, "2026-03-05"), findings("baseline", "2026-03-05"))
TREATED = (*enrolled(), *BASELINE, REQUEST, RANDOMISED, INFUSION)


def with_baseline(**changes: Any) -> Protocol:
    return load_protocol({**V11, "version": "1.1-test", "baseline": {**V11["baseline"], **changes}})


def kinds(follow: list[Consequence]) -> list[tuple[str, str]]:
    return [(c.type, c.payload["kind"]) for c in follow if c.type == "deviation.recorded"]


def test_a_complete_baseline_within_its_window_lets_the_infusion_through() -> None:
    assert kinds(run(*TREATED)) == []


def test_a_baseline_sample_after_the_infusion_started_is_refused() -> None:
    late = lab("baseline", "ALT", 30.0, "U/L", "2026-03-11")
    rejection = refusal(*TREATED, late)
    assert (rejection.rule, rejection.field) == ("baseline.after_infusion", "payload.sampled_at")
    # Under protocol 1.0 (no baseline), the same sample is accepted as before.
    v10 = (*enrolled(P10), *BASELINE[:-1], REQUEST, RANDOMISED, INFUSION, late)
    assert run(*v10, protocol=P10) == []


def test_baseline_findings_observed_after_the_infusion_day_are_refused() -> None:
    deviating = with_baseline(if_incomplete="deviation")  # so the infusion goes ahead without them
    infused = (*enrolled(deviating), *BASELINE[:-1], REQUEST, RANDOMISED, INFUSION)
    after = refusal(*infused, findings("baseline", "2026-03-11"), protocol=deviating)
    assert (after.rule, after.field) == ("baseline.after_infusion", "payload.observed_on")
    assert run(*infused, findings("baseline", "2026-03-10"), protocol=deviating) == []  # same day


def test_an_infusion_without_a_complete_baseline_is_refused_naming_what_is_missing() -> None:
    incomplete = (*enrolled(), *BASELINE[:3], REQUEST, RANDOMISED, INFUSION)  # no CREAT, SODIUM
    rejection = refusal(*incomplete)
    assert rejection.rule == "baseline.incomplete" and rejection.field == "entry.type"
    assert "CREAT, SODIUM, assessment" in rejection.message


def test_an_incomplete_baseline_under_deviation_is_a_system_deviation_on_the_infusion() -> None:
    protocol = with_baseline(if_incomplete="deviation")
    incomplete = (*enrolled(protocol), *BASELINE[:3], REQUEST, RANDOMISED, INFUSION)
    (deviation,) = run(*incomplete, protocol=protocol)
    assert (deviation.type, deviation.actor) == ("deviation.recorded", "system")
    assert deviation.payload["kind"] == "baseline_incomplete"
    assert deviation.payload["record"] == INFUSION.record_hash
    assert "CREAT, SODIUM, assessment" in deviation.payload["detail"]


def test_a_baseline_complete_before_randomisation_is_asked_at_the_request() -> None:
    protocol = with_baseline(complete_before="randomisation")
    early = (*enrolled(protocol), *BASELINE[:3], REQUEST)
    assert refusal(*early, protocol=protocol).rule == "baseline.incomplete"
    assert run(*enrolled(protocol), *BASELINE, REQUEST, protocol=protocol) == []


def test_baseline_samples_outside_the_window_are_recorded_with_a_deviation_at_the_infusion() -> None:
    # The baseline window is day -7 ± 7: 2026-02-24 to the infusion day, 2026-03-10.
    old = lab("baseline", "TBIL", 2.0, "mg/dL", "2026-03-02")  # inside: the window opens 02-24
    stale = (*enrolled(), lab("baseline", "ALB", 3.0, "g/dL", "2026-03-01"), *BASELINE[2:])
    assert kinds(run(*stale[:5], old, *stale[5:], REQUEST, RANDOMISED, INFUSION)) == []
    moved = dict(INFUSION.payload, started_at="2026-03-16T10:00:00+00:00",
                 ended_at="2026-03-16T10:45:00+00:00")  # window now opens 2026-03-02
    follow = run(*stale[:5], old, *stale[5:], REQUEST, RANDOMISED,
                 fact("infusion.administered", moved))
    (deviation,) = follow
    assert deviation.payload["kind"] == "baseline_out_of_window"
    assert deviation.payload["record"] == stale[5].record_hash  # the albumin of 1 March
    assert "2026-03-01" in deviation.payload["detail"]


def test_a_baseline_sample_entered_after_the_infusion_but_dated_out_of_window_is_flagged() -> None:
    entered_late = lab("baseline", "ALT", 30.0, "U/L", "2026-02-20")
    (deviation,) = run(*TREATED, entered_late)
    assert deviation.payload == {"kind": "baseline_out_of_window",
                                 "record": entered_late.record_hash,
                                 "detail": "baseline ALT sample on 2026-02-20, window 2026-02-24 to "
                                           "2026-03-10"}


def test_new_findings_without_observed_on_are_refused() -> None:
    rejection = refusal(*enrolled(), findings("baseline", None))
    assert (rejection.rule, rejection.field) == ("assessment.observed_on_required",
                                                 "payload.observed_on")


def test_findings_in_a_log_without_observed_on_still_replay() -> None:
    old = findings("baseline", None)
    state = state_of(*enrolled(), old)
    assert state.assessments["baseline"]["ascites"] == "none"


@pytest.mark.parametrize(("visit", "on", "rule", "field"), [
    ("week_3", "2026-03-05", "visit.unknown", "payload.visit"),
    ("baseline", "2026-04-21", "date.in_future", "payload.observed_on"),
    ("baseline", "1899-12-31", "date.implausible", "payload.observed_on"),
    ("baseline", "2026-02-09", "consent.procedure_before_consent", "payload.observed_on"),
    ("week_1", "2026-03-05", "visit.before_infusion", "payload.visit"),
])
def test_r40_findings_are_dated_on_a_protocol_visit_after_consent_and_not_in_the_future(
        visit: str, on: str, rule: str, field: str) -> None:
    rejection = refusal(*enrolled(), findings(visit, on))
    assert (rejection.rule, rejection.field) == (rule, field)


def test_follow_up_findings_never_predate_the_infusion_and_off_window_are_a_deviation() -> None:
    early = refusal(*TREATED, findings("week_1", "2026-03-09"))
    assert (early.rule, early.field) == ("visit.before_infusion", "payload.observed_on")
    assert run(*TREATED, findings("week_1", "2026-03-17")) == []  # day 7, window ± 2
    late = findings("week_1", "2026-03-20")
    (deviation,) = run(*TREATED, late)
    assert (deviation.actor, deviation.payload["kind"], deviation.payload["record"]) == \
        ("system", "assessment_out_of_window", late.record_hash)
    # The same rules hold under protocol 1.0, which has no baseline.
    v10 = (*enrolled(P10), REQUEST, RANDOMISED, INFUSION)
    assert kinds(run(*v10, late, protocol=P10)) == [("deviation.recorded",
                                                     "assessment_out_of_window")]


def test_a_visit_is_assessed_once() -> None:
    assert refusal(*enrolled(), findings("baseline", "2026-03-05"),
                   findings("baseline", "2026-03-06")).rule == "assessment.recorded_already"


def scored(protocol: Protocol, aetiology: str = "hbv") -> dict[str, dict[str, Any]]:
    facts = (*enrolled(protocol, aetiology), *BASELINE, REQUEST, RANDOMISED, INFUSION,
             *panel("week_4", WEEK_4_PANEL, "2026-04-07"),
             findings("week_4", "2026-04-07", ascites="mild", grade=1))
    run(*facts, protocol=protocol)
    return scores_by_visit(state_of(*facts), protocol)


def test_scores_change_from_baseline_and_the_primary_score_is_marked() -> None:
    scores = scored(P11)
    # MELD by hand: 10 × (0.957 ln 1.0 + 0.378 ln 2.0 + 1.120 ln 1.5 + 0.643) = 13.59…, 14;
    # week 4: 10 × (0.957 ln 1.5 + 0.378 ln 4.0 + 1.120 ln 2.0 + 0.643) = 23.31…, 23.
    assert (scores["baseline"]["MELD"]["value"], scores["week_4"]["MELD"]["value"]) == (14, 23)
    assert scores["week_4"]["MELD"]["change_from_baseline"] == 9
    assert "change_from_baseline" not in scores["baseline"]["MELD"]
    assert scores["week_4"]["MELD"]["primary"] is True and scores["baseline"]["MELD"]["primary"]
    assert not any("primary" in scores["week_4"][a] for a in ("MELD-Na", "MELD 3.0", "Child-Pugh"))
    # Child-Pugh: baseline bilirubin 2.0 → 2, albumin 3.0 → 2, INR 1.5 → 1, no ascites 1, HE 0 → 1
    # = 7; week 4: 4.0 → 3, 2.5 → 3, 2.0 → 2, mild 2, grade 1 → 2 = 12.
    assert scores["week_4"]["Child-Pugh"]["change_from_baseline"] == 12 - 7
    changes = {a: s["value"] - scores["baseline"][a]["value"] for a, s in scores["week_4"].items()}
    assert {a: s["change_from_baseline"] for a, s in scores["week_4"].items()} == changes


def test_cholestatic_aetiologies_score_bilirubin_on_the_cholestatic_bands() -> None:
    scores = scored(P11, aetiology="pbc")
    # PBC bands 4 and 10 mg/dL: 2.0 → 1 and 4.0 → 2, one point fewer at each visit than for HBV.
    assert scores["baseline"]["Child-Pugh"]["points"]["bilirubin"] == 1
    assert (scores["baseline"]["Child-Pugh"]["value"], scores["week_4"]["Child-Pugh"]["value"]) == \
        (6, 11)
    assert scores["week_4"]["Child-Pugh"]["clamped"]["cholestatic"] is True
    assert scored(P10, aetiology="pbc")["baseline"]["Child-Pugh"]["value"] == 7  # 1.0: no bands


def test_child_pugh_by_pt_prolongation_over_the_control_time() -> None:
    protocol = load_protocol({**V11, "version": "1.1-pt", "child_pugh_coagulation": "PT"})
    facts = (*enrolled(protocol), *BASELINE,
             lab("baseline", "PT", 18.2, "s", "2026-03-05", control_pt_s=13.0))
    run(*facts, protocol=protocol)
    pugh = scores_by_visit(state_of(*facts), protocol)["baseline"]["Child-Pugh"]
    # PT 18.2 s over a control of 13.0 s: 5.2 s prolonged → 2 points (4–6 s), not INR's 1.
    assert pugh["points"]["pt_prolongation"] == 2 and pugh["clamped"]["pt_prolongation_s"] == 5.2
    assert pugh["value"] == 8
    without_control = (*enrolled(protocol), *BASELINE, lab("baseline", "PT", 18.2, "s", "2026-03-05"))
    assert scores_by_visit(state_of(*without_control), protocol)["baseline"]["Child-Pugh"] == \
        {"missing": ["PT control"]}


def test_scores_without_a_protocol_are_as_before() -> None:
    scores = scores_by_visit(state_of(*enrolled(), *BASELINE, *panel("week_4", WEEK_4_PANEL,
                                                                     "2026-04-07"),
                                      findings("week_4", "2026-04-07", "mild", 1)))
    assert scores["week_4"]["MELD"]["change_from_baseline"] == 9
    assert not any("primary" in s for visit in scores.values() for s in visit.values())


def test_an_amendment_to_1_1_brings_the_baseline_rules_into_force() -> None:
    protocol_stream: list[Fact] = []
    for entry in (fact("protocol.adopted", {"document": V10}, role="admin", stream="protocol"),
                  fact("protocol.amended", {"document": V11}, role="admin", stream="protocol",
                       reason="amendment 1: baseline, primary score")):
        streams.decide(protocol_stream, entry, json.dumps(dict(entry.payload)),
                       trial.protocol_in_force(protocol_stream))
        protocol_stream.append(entry)
    in_force = trial.protocol_in_force(protocol_stream)
    assert in_force is not None and in_force.version == "1.1" and in_force.baseline is not None
    # Enrolled under 1.0, infused under 1.1: the baseline the amendment names is asked for.
    history = (*enrolled(P10), *BASELINE[:3], REQUEST, RANDOMISED)
    assert run(*history, INFUSION, protocol=P10) == []
    with pytest.raises(Rejection) as caught:
        streams.decide(history, INFUSION, json.dumps(dict(INFUSION.payload)), in_force)
    assert caught.value.rule == "baseline.incomplete"


def test_the_score_history_view_follows_the_protocol_it_is_given() -> None:
    facts = (*enrolled(), *BASELINE, *panel("week_4", WEEK_4_PANEL, "2026-04-07"),
             findings("week_4", "2026-04-07", ascites="mild", grade=1))
    batch = Batch()
    batch.set_participant("P-001", state_of(*facts))
    score_history.finish(batch, ["P-001"], P11)
    week_4 = batch.docs[score_history.NAME]["P-001"]["week_4"]
    assert (week_4["MELD"]["change_from_baseline"], week_4["MELD"]["primary"]) == (9, True)
