"""The analysis sets and the participant flow (projections/flow.py, `GET /v1/flow`): each set's
definition, every end state and its invariant, per-protocol exclusion by a major deviation, and
a blinded role's answer that names no arm anywhere."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from importlib import resources
from itertools import product
from typing import Any

from domain.participant import ParticipantState
from domain.protocol import load_protocol
from projections.flow import END_STATES, flow_rows, participant_flow

from .conftest import Trial
from .test_trial_domain import DOSE, enrol, infuse, set_up

PROTOCOL = load_protocol(json.loads(resources.files("domain.protocols").joinpath(
    "nct06167473-1.1.json").read_text(encoding="utf-8")))
ARMS = ("low", "medium_high")
ARM = re.compile(r"(?<![0-9A-Za-z+/_-])(low|medium_high)(?![0-9A-Za-z+/_-])")
H = "ab" * 32  # a record hash


def person(pid: str, **fields: Any) -> ParticipantState:
    return ParticipantState(participant_id=pid, site="site-01", sex="F",
                            date_of_birth=date(1961, 4, 2), weight_kg=64.0, status="consented",
                            **fields)


def screened(pid: str, *, eligible: bool, failed: tuple[str, ...] = ()) -> ParticipantState:
    return person(pid, eligible=eligible, failed_criteria=failed, assessed_on=date(2026, 3, 2),
                  stage="eligible" if eligible else "screen_failed")


def primary_at(visit: str) -> dict[str, Any]:
    """What MELD needs at `visit`: bilirubin, INR, creatinine and the clinical findings."""
    labs = {f"{visit}/{a}": {"analyte": a, "value": v, "unit": u, "record_hash": H,
                             "sampled_at": "2027-02-01T09:00:00+00:00"}
            for a, v, u in (("TBIL", 2.0, "mg/dL"), ("INR", 1.5, "ratio"), ("CREAT", 1.1, "mg/dL"))}
    findings = {visit: {"visit": visit, "ascites": "none", "encephalopathy_grade": 0,
                        "dialysis": False, "record_hash": H}}
    return {"labs": labs, "assessments": findings}


def randomised(pid: str, arm: str, *, infused: bool = True, stage: str = "treated",
               primary: bool = False, **fields: Any) -> ParticipantState:
    extra = primary_at("week_48") if primary else {}
    infusions = ({"infusion_number": 1, "record_hash": H},) if infused else ()
    return person(pid, eligible=True, assessed_on=date(2026, 3, 2), stratum="all", slot=1,
                  arm=arm, infusions=infusions, stage=stage, **extra, **fields)


def completed() -> dict[str, Any]:
    return {"stage": "completed", "disposition": {"kind": "completed", "on": "2027-02-01"}}


def population() -> dict[str, ParticipantState]:
    people = [
        person("S-NEW"),
        screened("S-FAIL", eligible=False, failed=("inc-1", "exc-2")),
        screened("S-WAIT", eligible=True),
        randomised("R-DONE", "low", primary=True, **completed()),
        randomised("R-DEV", "medium_high", primary=True,
                   deviations=({"kind": "dose_mismatch", "record": H},), **completed()),
        randomised("R-REP", "low", primary=True, **completed(), reported_deviations={H: {
            "category": "dosing", "severity": "major", "status": "resolved"}}),
        randomised("R-MINOR", "medium_high", primary=True,
                   deviations=({"kind": "visit_out_of_window", "record": H},)),
        randomised("R-WD", "low", infused=False, stage="withdrawn",
                   treatment_discontinued={"on": "2026-03-04", "reason": "adverse_event"},
                   disposition={"kind": "withdrawn", "reason": "withdrawal_by_subject"}),
        randomised("R-LOST", "medium_high", stage="lost_to_follow_up",
                   disposition={"kind": "lost_to_follow_up", "attempts": 3}),
        randomised("R-OLD", "low", stage="withdrawn"),  # a schema 1 exit: no coded reason
    ]
    return {str(p.participant_id): p for p in people}


def ids(answer: dict[str, Any], name: str) -> list[str]:
    return list(answer["sets"][name]["participants"])


def arms_named(answer: Any) -> list[str]:
    """Every arm id in the answer, as a key or a value, at any depth."""
    return ARM.findall(json.dumps(answer))


def test_each_analysis_set_as_defined() -> None:
    answer = participant_flow(population(), protocol=PROTOCOL, show_arms=True)
    assert answer["primary_score"] == "MELD" and answer["last_visit"] == "week_48"
    assert ids(answer, "randomised") == ["R-DEV", "R-DONE", "R-LOST", "R-MINOR", "R-OLD", "R-REP",
                                         "R-WD"]
    assert ids(answer, "safety") == ["R-DEV", "R-DONE", "R-LOST", "R-MINOR", "R-OLD", "R-REP"]
    assert ids(answer, "completers") == ["R-DEV", "R-DONE", "R-REP"]
    # R-DEV (system dose mismatch) and R-REP (reported major, resolved since) are out; a minor
    # deviation keeps R-MINOR in; R-LOST and R-OLD have no week-48 MELD
    assert ids(answer, "per_protocol") == ["R-DONE", "R-MINOR"]
    per_arm = answer["sets"]["safety"]["per_arm"]
    assert per_arm["low"] == {"count": 3, "participants": ["R-DONE", "R-OLD", "R-REP"]}
    assert per_arm["medium_high"]["count"] == 3
    assert answer["arms"] == list(ARMS)


def test_r46_a_major_deviation_alone_takes_a_participant_out_of_the_per_protocol_set() -> None:
    clean = randomised("P-1", "low", primary=True)
    assert ids(participant_flow({"P-1": clean}, protocol=PROTOCOL, show_arms=False),
               "per_protocol") == ["P-1"]
    for deviated in (
            clean.model_copy(update={"deviations": ({"kind": "dose_mismatch"},)}),
            clean.model_copy(update={"deviations": ({"kind": "baseline_incomplete"},)}),
            clean.model_copy(update={"reported_deviations": {H: {"severity": "major",
                                                                 "status": "open"}}})):
        answer = participant_flow({"P-1": deviated}, protocol=PROTOCOL, show_arms=False)
        assert ids(answer, "per_protocol") == [] and ids(answer, "safety") == ["P-1"]
    minor = clean.model_copy(update={"reported_deviations": {H: {"severity": "minor"}}})
    assert ids(participant_flow({"P-1": minor}, protocol=PROTOCOL, show_arms=False),
               "per_protocol") == ["P-1"]


def test_the_primary_score_is_read_at_the_protocols_last_visit() -> None:
    early = randomised("P-1", "low").model_copy(update=primary_at("week_24"))
    assert ids(participant_flow({"P-1": early}, protocol=PROTOCOL, show_arms=False),
               "per_protocol") == []
    uninfused = randomised("P-2", "low", infused=False, primary=True)
    assert ids(participant_flow({"P-2": uninfused}, protocol=PROTOCOL, show_arms=False),
               "per_protocol") == []


def test_every_end_state_and_the_flow_boxes() -> None:
    flow = participant_flow(population(), protocol=PROTOCOL, show_arms=True)["flow"]
    assert (flow["registered"], flow["assessed"], flow["not_assessed"]) == (10, 9, 1)
    assert flow["screen_failed"] == {"count": 1, "criteria": {"exc-2": 1, "inc-1": 1}}
    assert (flow["eligible_not_randomised"], flow["awaiting_eligibility"]) == (1, 0)
    assert (flow["randomised"], flow["treated"]) == (7, 6)
    assert flow["not_treated"] == {"count": 1, "reasons": {"adverse_event": 1}}
    assert flow["end_states"] == {
        "completed": 3, "lost_to_follow_up": 1, "in_follow_up": 1, "died": 0, "transplanted": 0,
        "withdrawn": {"count": 2, "reasons": {"not_coded": 1, "withdrawal_by_subject": 1}}}
    low, high = flow["per_arm"]["low"], flow["per_arm"]["medium_high"]
    assert (low["randomised"], high["randomised"]) == (4, 3)
    assert low["end_states"]["withdrawn"]["count"] == 2 and high["end_states"]["completed"] == 1
    assert high["not_treated"] == {"count": 0, "reasons": {}}


def _ended(ends: dict[str, Any]) -> int:
    return sum(ends[e]["count"] if e == "withdrawn" else ends[e] for e in END_STATES)


DEATH = {"died_on": "2026-07-01", "cause": "liver failure", "liver_related": True,
         "autopsy": False, "event": H, "record_hash": H}
GRAFT = {"transplanted_on": "2026-06-01", "graft": "deceased_donor", "record_hash": H}


def test_every_randomised_participant_is_in_exactly_one_end_state() -> None:
    stages = ("randomised", "treated", "completed", "withdrawn", "lost_to_follow_up", "died",
              "transplanted")
    kinds = (None, "completed", "withdrawn", "lost_to_follow_up")
    outcomes: tuple[dict[str, Any], ...] = (
        {}, {"death": DEATH}, {"transplant": GRAFT}, {"transplant": GRAFT, "death": DEATH})
    people = {}
    for n, (stage, kind, outcome, arm) in enumerate(product(stages, kinds, outcomes, ARMS)):
        disposition = None if kind is None else {"kind": kind, "reason": "death",
                                                 "on": "2026-06-15"}
        people[f"P-{n:03d}"] = randomised(f"P-{n:03d}", arm, stage=stage, disposition=disposition,
                                          **outcome)
    answer = participant_flow(people, protocol=PROTOCOL, show_arms=True)
    flow = answer["flow"]
    assert flow["randomised"] == len(people) == _ended(flow["end_states"])
    for arm in ARMS:
        assert _ended(flow["per_arm"][arm]["end_states"]) == flow["per_arm"][arm]["randomised"] \
            == len(people) // 2
    ends = flow["end_states"]
    # with no record of death or transplant, the coded disposition decides where there is one,
    # the stage where there is none; the stages died and transplanted on their own (a redacted
    # record) count as those end states
    assert ends["in_follow_up"] == 2 * 2  # no disposition, no outcome, stage randomised/treated
    # a transplant record (1 June) comes before every exit (15 June): 7 stages × 4 kinds × 2
    # outcomes × 2 arms; the stage transplanted with no transplant record: 4 kinds × 2 × 2
    assert ends["transplanted"] == 7 * 4 * 2 * 2 + 4 * 2 * 2
    # a death alone (1 July) with no dated exit: 6 stages × 2 arms; the stage died, no record: 4 × 2
    assert ends["died"] == 6 * 2 + 4 * 2
    # the kind completed (5 stages; 6 when the death came after the exit), or the stage alone
    assert ends["completed"] == 5 * 2 + 6 * 2 + 2
    assert answer["sets"]["completers"]["count"] == ends["completed"]


def test_r45_a_death_or_a_transplant_is_an_end_state_of_its_own_unless_an_exit_came_first() -> None:
    people = {p.participant_id or "": p for p in (
        randomised("R-DIED", "low", stage="died", death=DEATH),
        # the transplant ended follow-up; the later death does not move the participant
        randomised("R-GRAFT", "medium_high", stage="died", transplant=GRAFT, death=DEATH),
        randomised("R-REDACTED", "low", stage="transplanted"),  # the record's date is gone
        # completed at week 48, died later in safety follow-up: a completer
        randomised("R-DONE", "low", stage="completed", death=DEATH,
                   disposition={"kind": "completed", "on": "2026-06-20"}),
        # withdrawn, the death known later through vital status follow-up
        randomised("R-WD", "medium_high", stage="withdrawn", death=DEATH,
                   disposition={"kind": "withdrawn", "on": "2026-05-01",
                                "reason": "withdrawal_by_subject"}),
        # an exit on the day of death is the death's
        randomised("R-SAME", "medium_high", stage="withdrawn", death=DEATH,
                   disposition={"kind": "withdrawn", "on": "2026-07-01", "reason": "death"}),
        randomised("R-ON", "low"),
    )}
    answer = participant_flow(people, protocol=PROTOCOL, show_arms=True)
    flow = answer["flow"]
    assert flow["end_states"] == {
        "completed": 1, "withdrawn": {"count": 1, "reasons": {"withdrawal_by_subject": 1}},
        "lost_to_follow_up": 0, "died": 2, "transplanted": 2, "in_follow_up": 1}
    assert _ended(flow["end_states"]) == flow["randomised"] == 7
    low, high = flow["per_arm"]["low"]["end_states"], flow["per_arm"]["medium_high"]["end_states"]
    assert (low["died"], low["transplanted"], high["died"], high["transplanted"]) == (1, 1, 1, 1)
    assert ids(answer, "completers") == ["R-DONE"]
    rows = {(step, arm): n for step, detail, arm, n in flow_rows(flow) if not detail}
    assert (rows[("died", "all")], rows[("transplanted", "medium_high")]) == (2, 1)
    blinded = participant_flow(people, protocol=PROTOCOL, show_arms=False)
    assert arms_named(blinded) == [] and blinded["flow"]["end_states"] == flow["end_states"]


def test_r27_a_blinded_answer_is_pooled_and_names_no_arm() -> None:
    answer = participant_flow(population(), protocol=PROTOCOL, show_arms=False)
    assert arms_named(answer) == []
    text = json.dumps(answer)
    assert '"per_arm"' not in text and '"arms"' not in text and '"arm"' not in text
    unblinded = participant_flow(population(), protocol=PROTOCOL, show_arms=True)
    assert answer["flow"] == {k: v for k, v in unblinded["flow"].items() if k != "per_arm"}
    assert answer["sets"]["safety"]["participants"] == sorted(ids(answer, "safety"))


def test_no_protocol_yet_gives_counts_and_no_per_protocol_set() -> None:
    answer = participant_flow(population(), protocol=None, show_arms=True)
    assert answer["last_visit"] is None and ids(answer, "per_protocol") == []
    assert answer["arms"] == list(ARMS)  # the arms the participants hold


# -- over HTTP ---------------------------------------------------------------------------------

def _trial(trial: Trial) -> dict[str, str]:
    """P-001 infused as allocated, P-002 infused off its dose (a dose mismatch), P-003 screen
    failed, P-004 randomised, not infused and withdrawn; the tokens of the readers."""
    client = set_up(trial)
    for pid in ("P-001", "P-002", "P-004"):
        enrol(client, pid, randomise=True)
    enrol(client, "P-003", eligible=False)
    trial.clock.step(days=2)
    arms = {pid: client.participant(pid)["arm"] for pid in ("P-001", "P-002")}
    infuse(client, trial, "P-001", DOSE[arms["P-001"]])
    infuse(client, trial, "P-002", DOSE[arms["P-002"]] * 2)
    today = trial.clock.now.date()
    client.discontinue_treatment("P-004", reason="adverse_event", on=today)
    client.withdraw("P-004", reason="withdrawal_by_subject", on=today)
    tokens = {}
    for author, role, site in (("inv-002", "investigator", "site-01"),
                               ("mon-001", "monitor", "sponsor"),
                               ("stat-001", "unblinded_statistician", "sponsor"),
                               ("lab-001", "lab_interface", "site-01")):
        tokens[author] = trial.user(author, role=role, site=site)[1]
    return tokens


def _get(trial: Trial, token: str, **params: str) -> Any:
    return trial.http.get("/v1/flow", params=params, headers={"Authorization": f"Bearer {token}"})


def test_the_flow_over_http_per_arm_for_the_unblinded_pooled_for_a_blinded_monitor(
        sqlite_trial: Trial) -> None:
    tokens = _trial(sqlite_trial)
    answer = _get(sqlite_trial, tokens["stat-001"]).json()
    assert ids(answer, "randomised") == ["P-001", "P-002", "P-004"]
    assert ids(answer, "safety") == ["P-001", "P-002"]
    assert ids(answer, "per_protocol") == []  # nobody is at week 48 yet; P-002 deviated too
    flow = answer["flow"]
    assert flow["screen_failed"]["count"] == 1 and flow["randomised"] == 3
    assert flow["not_treated"] == {"count": 1, "reasons": {"adverse_event": 1}}
    assert flow["end_states"]["withdrawn"] == {"count": 1, "reasons": {"withdrawal_by_subject": 1}}
    assert _ended(flow["end_states"]) == flow["randomised"]
    assert sum(part["randomised"] for part in flow["per_arm"].values()) == 3
    assert set(answer["arms"]) == set(ARMS)

    blinded = _get(sqlite_trial, tokens["mon-001"])
    assert blinded.status_code == 200
    assert arms_named(blinded.json()) == [] and "per_arm" not in blinded.text
    assert ids(blinded.json(), "safety") == ["P-001", "P-002"]
    assert blinded.json()["flow"]["end_states"] == flow["end_states"]
    assert _get(sqlite_trial, tokens["inv-002"]).json()["arms"] == answer["arms"]  # single-blind
    assert _get(sqlite_trial, tokens["lab-001"]).status_code == 403
    assert sqlite_trial.http.get("/v1/flow").status_code == 401


def test_the_flow_counts_as_csv_and_a_bad_format_refused(sqlite_trial: Trial) -> None:
    tokens = _trial(sqlite_trial)
    pooled = _get(sqlite_trial, tokens["mon-001"], format="csv")
    assert pooled.status_code == 200 and pooled.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(pooled.text)))
    assert {r["arm"] for r in rows} == {"all"} and arms_named(pooled.text) == []
    counts = {(r["section"], r["step"], r["detail"]): int(r["count"]) for r in rows}
    assert counts[("flow", "randomised", "")] == 3 and counts[("analysis_set", "safety", "")] == 2
    assert counts[("flow", "withdrawn", "withdrawal_by_subject")] == 1
    per_arm = _get(sqlite_trial, tokens["stat-001"], format="csv").text
    assert {r["arm"] for r in csv.DictReader(io.StringIO(per_arm))} == {"all", *ARMS}
    refused = _get(sqlite_trial, tokens["mon-001"], format="xml")
    assert refused.status_code == 422 and refused.json()["field"] == "query.format"


def test_the_flow_as_of_a_cut(sqlite_trial: Trial) -> None:
    tokens = _trial(sqlite_trial)
    before = _get(sqlite_trial, tokens["stat-001"], as_of="2026-03-01").json()
    assert before["flow"]["registered"] == 0 and before["as_of"] == "2026-03-01"
    bad = _get(sqlite_trial, tokens["stat-001"], as_of="yesterday")
    assert bad.status_code == 422


def test_the_route_is_in_the_openapi_document_with_its_csv(sqlite_trial: Trial) -> None:
    ok = sqlite_trial.http.get("/openapi.json").json()["paths"]["/v1/flow"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ParticipantFlow"}
    assert ok["content"]["text/csv"]["schema"] == {"type": "string"}
