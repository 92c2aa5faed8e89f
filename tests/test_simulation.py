"""The demo trial: deterministic for a seed (byte-identical bundles), verifiable, and the story
the protocol tells (a screen failure, a withdrawal, corrections, queries, SDV, locks, sign-offs,
an emergency unblinding, the reveal)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.demo.clinical import AMENDMENT_REASON
from api.services.blinding import protocol
from api.services.bootstrap import bootstrap
from domain.participant import ParticipantState
from domain.protocol import Protocol, visit_window
from domain.visit_scores import scores_by_visit
from ledger.entry import Record
from projections.flow import participant_flow


def _demo(folder: Path, seed: int, participants: int | None = None) -> tuple[Path, str]:
    folder.mkdir()
    bundle = folder / "demo.bundle"
    sized = [] if participants is None else ["--participants", str(participants)]
    done = CliRunner().invoke(app, ["demo", "--db", f"sqlite:///{folder / 'demo.db'}", "--home",
                                    str(folder / "home"), "--seed", str(seed), *sized,
                                    "--bundle", str(bundle)])
    assert done.exit_code == 0, done.stdout + done.stderr
    root = done.stdout.split("root fingerprint", 1)[1].split()[0]
    return bundle, root


def test_the_same_seed_gives_a_byte_identical_bundle_that_verifies(tmp_path: Path) -> None:
    first, root = _demo(tmp_path / "a", seed=1)  # the whole trial: 22 participants
    second, _ = _demo(tmp_path / "b", seed=1)
    other, _ = _demo(tmp_path / "c", seed=2, participants=4)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    checked = CliRunner().invoke(app, ["verify-bundle", str(first), "--root", root, "--json"])
    assert checked.exit_code == 0, checked.stdout
    assert json.loads(checked.stdout)["ok"] is True
    again = CliRunner().invoke(app, ["demo", "--db", f"sqlite:///{tmp_path / 'a' / 'demo.db'}",
                                     "--home", str(tmp_path / "a" / "home")])
    assert again.exit_code == 1 and "holds a ledger already" in again.stderr


@dataclass(frozen=True)
class Story:
    """The seed-1 demo of nine participants (every turn of the story), as the views hold it."""

    states: dict[str, ParticipantState]
    records: list[Record]
    protocol: Protocol


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    folder = tmp_path_factory.mktemp("story")
    _demo(folder / "d", seed=1, participants=9)
    services = bootstrap(f"sqlite:///{folder / 'd' / 'demo.db'}")
    try:
        services.views.catch_up()
        in_force = protocol(services)
        assert in_force is not None
        return Story(dict(services.views.participants()), list(services.ledger.records()), in_force)
    finally:
        services.close()


def test_the_demo_tells_the_protocols_story(story: Story) -> None:
    states, types = story.states, Counter(r.type for r in story.records)
    assert Counter(s.stage for s in states.values()) == {
        "completed": 4, "screen_failed": 2, "withdrawn": 1, "lost_to_follow_up": 1,
        "randomised": 1}  # P-007: randomised, not infused, in follow-up
    assert {s.arm for s in states.values()} == {"low", "medium_high", None}
    assert all(q["status"] == "closed" for s in states.values() for q in s.queries.values())
    assert types["lab.corrected"] >= 1 and types["query.closed"] >= 1 and types["sdv.recorded"] == 6
    assert types["signoff.signed"] == 4 and types["participant.unblinded"] == 1
    assert types["allocation.revealed"] == 1
    assert all("casebook" in s.locks for s in states.values())


def test_the_demo_amends_the_protocol_to_1_1_before_the_first_randomisation(story: Story) -> None:
    amended = [r for r in story.records if r.type == "protocol.amended"]
    assert [(r.entry.fields["role"], r.entry.fields["reason"]) for r in amended] == [
        ("admin", AMENDMENT_REASON)]
    assert story.protocol.version == "1.1" and story.protocol.baseline is not None
    first = min(i for i, r in enumerate(story.records) if r.type == "participant.randomised")
    assert story.records.index(amended[0]) < first
    assessed = [r.payload() or {} for r in story.records if r.type == "eligibility.assessed"]
    assert {p["protocol_version"] for p in assessed} == {"1.1"}


def test_r47_the_demo_records_history_and_medications_and_queries_exclusion_6(story: Story) -> None:
    causes = Counter(str((s.medical_history or {})["aetiology"]) for s in story.states.values())
    assert causes["hbv"] >= 4 and set(causes) <= {"hbv", "alcohol", "hcv", "autoimmune_hepatitis",
                                                  "pbc", "cryptogenic"}
    categories = {"diuretic", "beta_blocker", "antiviral", "albumin", "lactulose_rifaximin"}
    for pid, state in story.states.items():
        courses = [c for c in state.medications.values() if c["category"] != "glucocorticoid"]
        assert 1 <= len(courses) <= 3 and {c["category"] for c in courses} <= categories, pid
        cause = (state.medical_history or {})["aetiology"]
        assert all(c["category"] != "antiviral" or cause == "hbv" for c in courses), pid
    steroid = story.states["P-009"]
    course, = [(h, c) for h, c in steroid.medications.items() if c["category"] == "glucocorticoid"]
    assert steroid.stage == "screen_failed" and steroid.failed_criteria == ("exc-6",)
    assessed = steroid.assessed_on
    assert assessed is not None and 200 <= (assessed - date.fromisoformat(course[1]["stop"])).days <= 270
    query, = steroid.queries.values()
    assert query["record"] == course[0] and query["field"] == "start"
    assert query["text"].startswith("exc-6 ") and query["status"] == "closed"
    assert "exclusion 6 applies" in query["answers"][-1]["text"]


def test_the_demo_baseline_precedes_each_infusion_within_its_window(story: Story) -> None:
    base = story.protocol.baseline
    assert base is not None
    infused = {pid: s for pid, s in story.states.items() if s.infusions}
    assert len(infused) == 6
    for pid, state in infused.items():
        started = datetime.fromisoformat(str(state.infusions[0]["started_at"]))
        low, high = visit_window(story.protocol, base.visit, started.date())
        for analyte in base.analytes:
            sampled = datetime.fromisoformat(str(state.labs[f"{base.visit}/{analyte}"]["sampled_at"]))
            assert sampled < started and low <= sampled.date() <= high, (pid, analyte)
        observed = date.fromisoformat(str(state.assessments[base.visit]["observed_on"]))
        assert observed <= started.date() and low <= observed
        assert state.deviations == ()  # no baseline, sample, visit or findings out of window
        scores = scores_by_visit(state, story.protocol)
        week_12 = scores["week_12"]["MELD"]
        assert week_12["primary"] is True and week_12["change_from_baseline"] == \
            week_12["value"] - scores[base.visit]["MELD"]["value"]
    findings = [r for r in story.records if r.type == "assessment.recorded"]
    assert findings and all(r.entry.fields["schema"] == 2 and "observed_on" in (r.payload() or {})
                            for r in findings)


def test_r46_the_demo_reports_deviations_and_a_missed_visit(story: Story) -> None:
    reported = {pid: list(s.reported_deviations.values()) for pid, s in story.states.items()
                if s.reported_deviations}
    assert {pid: [(d["category"], d["severity"], d["status"]) for d in found]
            for pid, found in reported.items()} == {
        "P-002": [("procedure", "minor", "resolved")],
        "P-004": [("safety_reporting", "major", "resolved")]}
    minor, = reported["P-002"]
    assert minor["corrective_action"] and minor["record"] in story.states["P-002"].record_hashes
    missed, = [(pid, m) for pid, s in story.states.items() for m in s.missed_visits]
    assert missed[0] == "P-001" and missed[1]["visit"] == "week_24" and missed[1]["reason"]
    assert "week_24" not in {v["visit"] for v in story.states["P-001"].visits}
    major, = reported["P-004"]  # the serious adverse event the site reported 6 days late
    event = story.states["P-004"].adverse_events[major["record"]]
    assert event["serious"] and event["status"] == "resolved"
    recorded = next(r.recorded_at for r in story.records if r.hash == major["record"])
    late = datetime.fromisoformat(recorded) - datetime.fromisoformat(event["aware_at"])
    assert late > timedelta(days=5) and major["occurred_on"] == event["onset_on"]


def test_the_demo_codes_every_discontinuation(story: Story) -> None:
    withdrawn, lost, untreated = (story.states[p] for p in ("P-008", "P-006", "P-007"))
    assert withdrawn.disposition is not None and withdrawn.disposition["reason"] == \
        "withdrawal_by_subject" and withdrawn.follow_up == "vital_status"
    status, = withdrawn.vital_status
    assert status["status"] == "alive" and status["on"] > withdrawn.disposition["on"]
    assert lost.disposition is not None and lost.disposition["attempts"] >= 1
    assert lost.disposition["on"] == next(v["on"] for v in lost.visits if v["visit"] == "week_12")
    assert lost.disposition["last_attempt_on"] > lost.disposition["on"]
    assert untreated.treatment_discontinued is not None and not untreated.infusions
    assert untreated.treatment_discontinued["reason"] == "adverse_event"
    assert untreated.stage == "randomised" and untreated.disposition is None
    bleed, = untreated.adverse_events.values()  # why the infusion was not given
    assert (bleed["special_interest"], bleed["action_taken"], bleed["status"]) == (
        "variceal_bleeding", "drug_withdrawn", "resolved")
    assert bleed["onset_on"] == untreated.treatment_discontinued["on"]


def test_the_demos_participants_each_end_in_exactly_one_stage(story: Story) -> None:
    flow = participant_flow(story.states, protocol=story.protocol, show_arms=True)["flow"]
    ends = flow["end_states"]
    assert (flow["registered"], flow["screen_failed"]["count"], flow["randomised"]) == (9, 2, 7)
    assert flow["randomised"] <= story.protocol.target_enrolment
    assert flow["not_treated"] == {"count": 1, "reasons": {"adverse_event": 1}}
    assert (ends["completed"], ends["withdrawn"]["reasons"], ends["lost_to_follow_up"],
            ends["in_follow_up"]) == (4, {"withdrawal_by_subject": 1}, 1, 1)
    for pid, state in story.states.items():  # one box each: screen failed, or one end state
        ended = state.stage in ("died", "transplanted")  # their own end states, not an exit
        boxes = [state.stage == "screen_failed", state.disposition is not None,
                 ended and state.disposition is None,
                 state.arm is not None and state.disposition is None and not ended]
        assert boxes.count(True) == 1, (pid, state.stage)
        assert state.disposition is None or state.disposition["kind"] == state.stage


def test_the_demo_never_randomises_more_than_the_protocols_target(tmp_path: Path) -> None:
    _demo(tmp_path / "e", seed=1, participants=25)  # 2 screen failures: 23 would be eligible
    services = bootstrap(f"sqlite:///{tmp_path / 'e' / 'demo.db'}")
    try:
        services.views.catch_up()
        states = services.views.participants()
        in_force = protocol(services)
    finally:
        services.close()
    assert in_force is not None and in_force.target_enrolment == 22
    assert sum(s.arm is not None for s in states.values()) == 22
    assert states["P-025"].stage == "eligible" and states["P-025"].arm is None
