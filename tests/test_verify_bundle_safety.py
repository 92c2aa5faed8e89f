"""`verify-bundle` shows every serious adverse event's clocks from the bundle alone (R43, R44):
the same rows and statuses as `GET /v1/safety`, read as of the bundle's last record, so that the
bundle answers the same on any machine, any day."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from api.cli.main import app

from .conftest import Trial
from .test_safety_http import SAE, report_to_authority, safety, treated_trial


def _serious_events(trial: Trial) -> dict[str, str]:
    """An SAE reported on time, one 30 hours after awareness, a SUSAR reported to the authority
    and one not yet reported; their record hashes by name."""
    client, _ = treated_trial(trial)
    officer = trial.client("safety-001", role="safety", site="sponsor")
    now = trial.clock.now
    day = (now - timedelta(days=2)).date()
    events = {
        "on_time": client.report_adverse_event("P-001", term="variceal bleeding", onset_on=day,
                                               aware_at=now - timedelta(hours=2), **SAE),
        "late": client.report_adverse_event("P-001", term="spontaneous bacterial peritonitis",
                                            onset_on=day, aware_at=now - timedelta(hours=30),
                                            **SAE),
        "reported": client.report_adverse_event(
            "P-001", term="acute liver failure", onset_on=day, aware_at=now - timedelta(hours=1),
            **{**SAE, "grade": 4, "criteria": ["life_threatening"],
               "relationship_cells": "probable"}, expected=False),
        "open": client.report_adverse_event(
            "P-001", term="cholangitis", onset_on=day, aware_at=now - timedelta(hours=1),
            **{**SAE, "relationship_procedure": "possible"}, expected=False),
    }
    hashes = {name: receipt["record_hash"] for name, receipt in events.items()}
    trial.clock.step(days=1)
    report_to_authority(officer, "P-001", hashes["reported"])
    return hashes


def _bundle(trial: Trial, tmp_path: Path) -> Path:
    bundle = tmp_path / "trial.jsonl"
    done = CliRunner().invoke(app, ["export", "bundle", str(bundle), "--db",
                                    trial.services.store.url])
    assert done.exit_code == 0, done.stdout
    return bundle


def _verify(trial: Trial, bundle: Path, *extra: str) -> Any:
    return CliRunner().invoke(app, ["verify-bundle", str(bundle), "--root",
                                    trial.info.root_fingerprint, *extra])


def test_r43_r44_the_bundles_sae_table_equals_the_apis_clocks(sqlite_trial: Trial,
                                                               tmp_path: Path) -> None:
    trial = sqlite_trial
    events = _serious_events(trial)
    live = safety(trial.client("stat-001", role="unblinded_statistician", site="sponsor"))
    bundle = _bundle(trial, tmp_path)
    checked = _verify(trial, bundle, "--json")
    assert checked.exit_code == 0, checked.stdout
    offline = json.loads(checked.stdout)["safety"]
    assert offline["as_of"] == list(trial.services.ledger.records())[-1].recorded_at
    assert offline["clocks"] == live["clocks"]  # the same rows, the same statuses
    by_event = {c["event"]: c for c in offline["clocks"]}
    assert set(by_event) == set(events.values())
    status = {name: (by_event[h]["report_status"], by_event[h]["expedited_status"])
              for name, h in events.items()}
    assert status == {"on_time": ("met", None), "late": ("late", None),
                      "reported": ("met", "met"), "open": ("met", "open")}
    assert by_event[events["late"]]["report_late_hours"] == 6.0
    assert (by_event[events["reported"]]["expedited_days"],
            by_event[events["open"]]["expedited_days"]) == (7, 15)


def test_r44_the_bundle_answers_as_of_its_last_record_whatever_the_day(
        sqlite_trial: Trial, tmp_path: Path) -> None:
    trial = sqlite_trial
    events = _serious_events(trial)
    bundle = _bundle(trial, tmp_path)
    trial.clock.step(days=20)  # the SUSAR's 15 days pass on the server, not in the bundle
    live = safety(trial.client("stat-001", role="unblinded_statistician", site="sponsor"))
    (overdue,) = [c for c in live["clocks"] if c["event"] == events["open"]]
    assert overdue["expedited_status"] == "overdue"
    offline = json.loads(_verify(trial, bundle, "--json").stdout)["safety"]["clocks"]
    (still_open,) = [c for c in offline if c["event"] == events["open"]]
    assert still_open["expedited_status"] == "open"
    text = _verify(trial, bundle)
    assert text.exit_code == 0, text.stdout
    assert "Serious adverse events as of" in text.stdout
    for term in ("variceal bleeding", "acute liver failure", "cholangitis"):
        assert term in text.stdout
    assert "late by 6 h" in text.stdout and "SUSAR, 7 days: met" in text.stdout
    assert "SUSAR, 15 days: open" in text.stdout  # the bundle's own time, not today's
