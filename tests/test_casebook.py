"""Casebook PDF (R37, and R13 for PDF): data per visit, scores, signatures and the audit trail,
each with record hashes, and the checkpoint it was made from; masked for blinded readers."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pypdf
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app
from api.demo.simulation import PASSPHRASE
from api.http.app import create_app

from .conftest import DemoTrial


def _text(pdf: bytes) -> str:
    """The book's text with whitespace normalised and the page footers taken out."""
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    text = " ".join(" ".join(page.extract_text() for page in pages).split())
    return re.sub(r" ?\S+ · [^·]+ · checkpoint \d+ [0-9a-f]{16}… · page \d+/\d+", "", text)


def _get(demo: DemoTrial, who: str, pid: str) -> tuple[int, bytes, dict[str, str]]:
    with TestClient(create_app(demo.services)) as http:
        got = http.get(f"/v1/export/casebook/{pid}",
                       headers={"Authorization": f"Bearer {demo.tokens[who]}"})
    return got.status_code, got.content, dict(got.headers)


def _corrected(demo: DemoTrial) -> str:
    """A participant whose labs carry a correction."""
    for pid, state in demo.services.views.participants().items():
        if any(lab.get("history") for lab in state.labs.values()):
            return pid
    raise AssertionError("the demo trial corrects a lab value")


@pytest.fixture(scope="module")
def inspected(demo: DemoTrial) -> tuple[str, str, dict[str, str]]:
    pid = _corrected(demo)
    status, pdf, headers = _get(demo, "insp-01", pid)
    assert status == 200 and headers["content-type"] == "application/pdf"
    assert pdf.startswith(b"%PDF-")
    return pid, _text(pdf), headers


def test_r37_the_casebook_holds_data_per_visit_scores_signatures_and_the_audit_trail(
        demo: DemoTrial, inspected: tuple[str, str, dict[str, str]]) -> None:
    pid, text, _ = inspected
    state = demo.services.views.participant(pid)
    assert state is not None
    assert f"Casebook — participant {pid}" in text
    for lab in state.labs.values():  # data per visit, each value with its record hash
        assert f"{lab['analyte']}: {lab['value']} {lab['unit']}" in text
        assert lab["record_hash"] in text
        for before in lab["history"]:  # the original beside its correction
            assert f"corrected; was {before['value']} {before['unit']}" in text
            assert before["record_hash"] in text
    scores = demo.services.views.scores(pid) or {}
    for visit, algorithms in scores.items():
        for name, score in algorithms.items():
            primary = " (primary)" if score.get("primary") else ""  # the protocol's primary score
            assert f"{visit} · {name}{primary} ({score['version']}): {score['value']}" in text
            if "change_from_baseline" in score:
                assert f"change from baseline {score['change_from_baseline']:+g}" in text
    for record in demo.services.ledger.stream(f"participant/{pid}"):  # the whole audit trail
        assert record.hash in text
    for signoff in state.signoffs:
        assert f"{signoff['printed_name']} — {signoff['at']} UTC — meaning: {signoff['meaning']}" in text
    checkpoint = demo.services.ledger.tree.latest_checkpoint()
    assert checkpoint is not None
    # the checkpoint it was made from (the export's own record came after it)
    made_from = text.split("tree size ", 1)[1].split(",", 1)[0]
    assert demo.services.ledger.tree.checkpoint(int(made_from)).root.hex() in text


def test_r13_the_casebook_shows_printed_name_utc_time_and_meaning_of_every_signature(
        demo: DemoTrial, inspected: tuple[str, str, dict[str, str]]) -> None:
    pid, text, _ = inspected
    names = {k.author: k.name for k in demo.services.ledger.registry().keys.values()}
    for record in demo.services.ledger.stream(f"participant/{pid}"):
        e = record.entry.fields
        assert (f"#{e['version']} {e['type']} — signed by {names[e['author']]} ({e['author']}, "
                f"{e['role']}, {e['site']}) at {record.recorded_at}, meaning: {e['meaning']}") in text


def test_r37_a_blinded_monitor_gets_a_masked_casebook(demo: DemoTrial) -> None:
    pid = next(p for p, s in demo.services.views.participants().items() if s.arm and s.infusions)
    state = demo.services.views.participant(pid)
    assert state is not None
    status, pdf, _ = _get(demo, "insp-01", pid)
    open_text = _text(pdf)
    assert f"Arm: {state.arm}" in open_text and "cells/kg" in open_text
    status, pdf, _ = _get(demo, "mon-01", pid)
    assert status == 200
    text = _text(pdf)
    assert "Arm: masked" in text and f"Arm: {state.arm}" not in text
    dose = str(state.infusions[0]["cells_per_kg"])
    assert dose in open_text and dose not in text
    assert "(withheld: blinded)" in text


def test_r37_casebook_refusals_are_problems_and_each_casebook_is_recorded(demo: DemoTrial) -> None:
    other = next(p for p, s in demo.services.views.participants().items() if s.site != "site-01")
    status, body, headers = _get(demo, "inv-01", other)
    # another site's participant answers as an unknown one (no existence oracle)
    assert status == 404 and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["detail"] == f"no participant {other}"
    status, body, headers = _get(demo, "insp-01", "P-999")
    assert status == 404 and b"participant_id" in body
    mine = next(p for p, s in demo.services.views.participants().items() if s.site == "site-01")
    status, _, headers = _get(demo, "inv-01", mine)
    assert status == 200
    made = [r for r in demo.services.ledger.stream("exports") if r.hash == headers["x-export-record"]]
    assert made and made[0].payload()["what"] == "casebook"
    assert made[0].payload()["filters"]["participant"] == mine


def test_export_casebook_on_the_cli(demo: DemoTrial, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_LEDGER_PASSPHRASE", PASSPHRASE)
    out = tmp_path / "book.pdf"
    pid = _corrected(demo)
    done = CliRunner().invoke(app, ["export", "casebook", pid, str(out), "--db", demo.url,
                                    "--home", str(demo.home)])
    assert done.exit_code == 0, done.stdout + done.stderr
    assert f"Casebook — participant {pid}" in _text(out.read_bytes())
    missing = CliRunner().invoke(app, ["export", "casebook", "P-999", str(out), "--db", demo.url,
                                       "--home", str(demo.home)])
    assert missing.exit_code == 1 and "no participant P-999" in missing.stderr
