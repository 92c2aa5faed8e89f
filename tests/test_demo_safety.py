"""The demo tells the safety story (R42–R45): adverse events of several grades, serious ones
reported on time and late, a suspected SUSAR with its expedited report, a death with its fatal
event, a liver transplant; and the safety view and the bundle's offline SAE table agree on it."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.demo.safety import AUTHORITY, DEATH_CAUSE, OFFICER
from api.http.app import create_app
from api.services.blinding import protocol
from api.services.bootstrap import Services, bootstrap
from domain.participant import ParticipantState
from domain.protocol import Protocol
from domain.safety import sae_clocks
from ledger.entry import Record
from projections.flow import participant_flow

pytestmark = pytest.mark.slow  # simulates sixteen participants over two years

PARTICIPANTS = 16  # every safety turn is taken by the sixteenth participant


@dataclass(frozen=True)
class Demo:
    services: Services
    states: dict[str, ParticipantState]
    records: list[Record]
    protocol: Protocol
    bundle: Path
    root: str
    officer_token: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo-safety")
    bundle, db = folder / "demo.bundle", f"sqlite:///{folder / 'demo.db'}"
    done = CliRunner().invoke(app, ["demo", "--db", db, "--home", str(folder / "home"), "--seed",
                                    "1", "--participants", str(PARTICIPANTS), "--bundle",
                                    str(bundle)])
    assert done.exit_code == 0, done.stdout + done.stderr
    root = done.stdout.split("root fingerprint", 1)[1].split()[0]
    token = next(line.rsplit(" ", 1)[1] for line in done.stdout.splitlines()
                 if line.startswith(f"{OFFICER} (safety) API token:"))
    services = bootstrap(db)
    services.views.catch_up()
    in_force = protocol(services)
    assert in_force is not None
    yield Demo(services, dict(services.views.participants()), list(services.ledger.records()),
               in_force, bundle, root, token)
    services.close()


def _events(state: ParticipantState) -> list[dict[str, Any]]:
    return list(state.adverse_events.values())


def test_r42_the_demo_holds_adverse_events_of_several_grades_most_resolved(demo: Demo) -> None:
    events = [e for s in demo.states.values() for e in _events(s)]
    mild = [e for e in events if not e["serious"]]
    assert {e["grade"] for e in mild} == {1, 2, 3}
    assert {e["special_interest"] for e in mild if e.get("special_interest")} == {
        "ascites", "hepatic_encephalopathy"}
    fever, = [e for e in mild if e["term"] == "fever"]  # listed in the reference information
    assert fever["expected"] is True and fever["term"] in demo.protocol.reference_safety_information
    resolved = sum(e["status"] == "resolved" for e in events)
    assert resolved > len(events) / 2 and resolved < len(events)  # most, not all
    for pid, state in demo.states.items():  # every event begins on or after consent
        consented = next(c.on for c in state.consent_history if c.action == "signed")
        for event in _events(state):
            assert consented is not None and \
                date.fromisoformat(event["onset_on"]) >= consented, (pid, event["term"])


def test_r43_the_demo_has_an_sae_reported_on_time_and_one_late(demo: Demo) -> None:
    clocks = {(pid, c["term"]): c for pid, s in demo.states.items()
              for c in sae_clocks(s, demo.protocol, None)}
    statuses = {key: c["report_status"] for key, c in clocks.items()}
    assert statuses[("P-004", "spontaneous bacterial peritonitis")] == "late"
    assert (clocks[("P-004", "spontaneous bacterial peritonitis")]["report_late_hours"] or 0) > 24
    on_time = [key for key, status in statuses.items() if status == "met"]
    assert ("P-007", "upper gastrointestinal bleeding from oesophageal varices") in on_time
    assert len(on_time) >= 3 and list(statuses.values()).count("late") == 1


def test_r44_the_demos_susar_is_reported_by_the_safety_officer_in_time(demo: Demo) -> None:
    rows = [(pid, c) for pid, s in demo.states.items() for c in sae_clocks(s, demo.protocol, None)
            if c["susar"]]
    (pid, clock), = rows
    event = demo.states[pid].adverse_events[clock["event"]]
    assert event["term"] not in demo.protocol.reference_safety_information
    assert event["relationship_cells"] == "possible" and event["serious"]
    assert (clock["expedited_days"], clock["expedited_status"]) == (15, "met")
    report = next(r for r in demo.records if r.hash == clock["expedited_record"])
    fields, payload = report.entry.fields, report.payload() or {}
    assert (report.type, fields["author"], fields["role"]) == (
        "safety_report.submitted", OFFICER, "safety")
    assert (payload["to"], payload["kind"], payload["event"]) == (AUTHORITY, "initial",
                                                                  clock["event"])


def test_r45_the_demos_death_names_its_fatal_event_and_nothing_follows_it(demo: Demo) -> None:
    died = [(pid, s) for pid, s in demo.states.items() if s.stage == "died"]
    (pid, state), = died
    death = state.death
    assert death is not None and pid not in {f"P-00{i}" for i in range(1, 6)}
    assert (death["cause"], death["liver_related"], death["autopsy"]) == (DEATH_CAUSE, True, False)
    fatal = state.adverse_events[death["event"]]
    assert (fatal["grade"], fatal["outcome"], fatal["serious"]) == (5, "fatal", True)
    assert "death" in fatal["criteria"]
    died_on = date.fromisoformat(death["died_on"])
    infused = datetime.fromisoformat(str(state.infusions[0]["started_at"])).date()
    assert infused < died_on < date.fromordinal(infused.toordinal() + 336)  # before week 48
    assert all(date.fromisoformat(str(v["on"])) <= died_on for v in state.visits)
    assert all(date.fromisoformat(e["onset_on"]) <= died_on and
               date.fromisoformat(e.get("end_on") or death["died_on"]) <= died_on
               for e in _events(state))
    recorded = next(i for i, r in enumerate(demo.records) if r.hash == death["record_hash"])
    after = [r.type for r in demo.records[recorded + 1:]
             if r.entry.fields["stream"] == f"participant/{pid}"]
    assert set(after) <= {"lock.applied"}  # the casebook lock at database lock, nothing new


def test_r45_the_demos_transplant_ends_follow_up(demo: Demo) -> None:
    state, = [s for s in demo.states.values() if s.stage == "transplanted"]
    transplant = state.transplant
    assert transplant is not None and transplant["graft"] == "deceased_donor" and state.death is None
    on = date.fromisoformat(transplant["transplanted_on"])
    visits = {v["visit"]: date.fromisoformat(str(v["on"])) for v in state.visits}
    assert "week_24" in visits and "week_48" not in visits
    assert max(visits.values()) < on


def test_the_demos_flow_counts_the_death_and_the_transplant(demo: Demo) -> None:
    flow = participant_flow(demo.states, protocol=demo.protocol, show_arms=True)["flow"]
    ends = flow["end_states"]
    assert (ends["died"], ends["transplanted"]) == (1, 1)
    assert flow["randomised"] <= demo.protocol.target_enrolment
    counted = [ends["completed"], ends["withdrawn"]["count"], ends["lost_to_follow_up"],
               ends["died"], ends["transplanted"], ends["in_follow_up"]]
    assert sum(counted) == flow["randomised"]  # each randomised participant in one end state
    for pid, state in demo.states.items():  # a death or transplant is no exit (no disposition)
        assert state.disposition is None or state.disposition["kind"] == state.stage, pid
        assert state.stage not in ("died", "transplanted") or state.disposition is None, pid


def test_r43_r44_the_safety_view_and_the_bundles_sae_table_agree_row_for_row(demo: Demo) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about its httpx transport
        from fastapi.testclient import TestClient

        http = TestClient(create_app(demo.services))
    answer = http.get("/v1/safety", headers={"Authorization": f"Bearer {demo.officer_token}"})
    assert answer.status_code == 200, answer.text
    live = answer.json()["clocks"]
    checked = CliRunner().invoke(app, ["verify-bundle", str(demo.bundle), "--root", demo.root,
                                       "--json"])
    assert checked.exit_code == 0, checked.stdout
    offline = json.loads(checked.stdout)["safety"]
    assert offline["as_of"] == demo.records[-1].recorded_at
    assert offline["clocks"] == live  # the same rows, the same statuses
    assert {(c["participant_id"], c["report_status"], c["expedited_status"]) for c in live} == {
        ("P-004", "late", None), ("P-007", "met", None), ("P-011", "met", "met"),
        ("P-012", "met", None)}
