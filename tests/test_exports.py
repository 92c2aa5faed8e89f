"""Audit trail export (R35): streamed CSV or JSON Lines, filtered, masked for blinded roles, and
every export recorded before it leaves."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app

from .conftest import LEDGER_PASS, Trial
from .test_labs import WEEK_4, treated


def test_r35_audit_trail_exports_filtered_masked_and_recorded(trial: Trial) -> None:
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                       reason="transcription error")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    _, token = trial.user("insp-001", role="inspector", site="fda")
    inspector = {"Authorization": f"Bearer {token}"}

    whole = trial.http.get("/v1/export/audit", headers=inspector)
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(whole.text)))
    assert len(rows) == trial.services.ledger.tree.size()
    assert rows[-1]["type"] == "export.made" and rows[-1]["author"] == "system"  # itself, first
    assert [int(r["leaf_index"]) for r in rows] == sorted(int(r["leaf_index"]) for r in rows)
    corrected = [r for r in rows if r["type"] == "lab.corrected"]
    assert len(corrected) == 1 and corrected[0]["field"] == "week_4/ALT"
    assert json.loads(corrected[0]["previous"]) == {"unit": "U/L", "value": 560.0}
    assert json.loads(corrected[0]["new"]) == {"unit": "U/L", "value": 56.0}
    assert corrected[0]["reason"] == "transcription error" and corrected[0]["author"] == "inv-001"

    only = trial.http.get("/v1/export/audit", headers=inspector,
                          params={"participant": "P-002", "format": "jsonl"})
    lines = [json.loads(line) for line in only.text.splitlines()]
    assert [r["type"] for r in lines] == ["participant.registered"]
    by_type = trial.http.get("/v1/export/audit", headers=inspector,
                             params={"type": "lab.resulted", "author": "inv-001", "site": "site-01",
                                     "format": "jsonl"}).text.splitlines()
    assert [json.loads(line)["type"] for line in by_type] == ["lab.resulted"]
    later = trial.http.get("/v1/export/audit", headers=inspector,
                           params={"since": corrected[0]["recorded_at"], "format": "jsonl"})
    assert all(json.loads(line)["recorded_at"] >= corrected[0]["recorded_at"]
               for line in later.text.splitlines())

    blinded = monitor.http.get("/v1/export/audit", params={"format": "jsonl"}).text
    seen = [json.loads(line) for line in blinded.splitlines()]
    assert not any(r["stream"] == "allocation" for r in seen)
    infusion = next(r for r in seen if r["type"] == "infusion.administered")
    assert infusion["new"] is None  # the dose reveals the arm
    leaks = [r for r in seen if r["stream"] != "protocol"  # the protocol names its arms: public
             and ('"arm"' in json.dumps(r) or "cells_per_kg" in json.dumps(r))]
    assert not leaks, leaks

    made = [r.payload() for r in trial.services.ledger.stream("exports")]
    assert [(m["by"], m["format"], m["filters"]["participant"]) for m in made] == [
        ("insp-001", "csv", None), ("insp-001", "jsonl", "P-002"), ("insp-001", "jsonl", None),
        ("insp-001", "jsonl", None), ("mon-001", "jsonl", None)]
    assert made[2]["filters"]["type"] == "lab.resulted"
    assert trial.services.ledger.stream("exports")[0].entry.fields["author"] == "system"


def test_r35_the_cli_writes_the_same_export_and_records_it(trial: Trial, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = treated(trial)
    client.record_lab("P-001", visit="week_4", analyte="ALT", value=56.0, unit="U/L",
                      sampled_at=WEEK_4)
    monkeypatch.setenv("TRIAL_LEDGER_LEDGER_PASSPHRASE", LEDGER_PASS)
    out = tmp_path / "audit.jsonl"
    done = CliRunner().invoke(app, ["export", "audit", str(out), "--format", "jsonl", "--participant",
                                    "P-001", "--db", trial.services.store.url, "--home",
                                    str(trial.home)])
    assert done.exit_code == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines and all(r["stream"] == "participant/P-001" for r in lines)
    assert lines[-1]["type"] == "lab.resulted"
    made = trial.services.ledger.stream("exports")[-1].payload()
    assert made["by"].startswith("cli:") and made["filters"]["participant"] == "P-001"
    bad = CliRunner().invoke(app, ["export", "audit", str(out), "--format", "xml", "--db",
                                   trial.services.store.url])
    assert bad.exit_code == 1 and "csv or jsonl" in bad.stderr
