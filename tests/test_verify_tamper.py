"""`trial-ledger verify`: exit 0 on an intact ledger; after an attacker with file access edits
or deletes a record (triggers dropped first), exit non-zero naming stream, version and check."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app

from .conftest import Trial, make_trial

Tamper = Callable[[sqlite3.Connection], None]


def _ledger_with_history(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "ledger.db"
    trial = make_trial(f"sqlite:///{db}", tmp_path / "home")
    client = trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    client.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    fingerprint = trial.info.root_fingerprint
    trial.services.close()
    return db, fingerprint


def _verify(db: Path, *extra: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(app, ["verify", "--db", f"sqlite:///{db}", "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def _state(conn: sqlite3.Connection, stream: str, version: int) -> str:
    row = conn.execute("SELECT state FROM stored_events WHERE originator_id=? AND "
                       "originator_version=?", (stream, version)).fetchone()
    return bytes(row[0]).decode("utf-8")


def _set_state(conn: sqlite3.Connection, stream: str, version: int, state: str) -> None:
    conn.execute("UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
                 (state.encode("utf-8"), stream, version))


def _edit(stream: str, version: int, pattern: str, repl: Callable[[re.Match[str]], str]) -> Tamper:
    def tamper(conn: sqlite3.Connection) -> None:
        state = _state(conn, stream, version)
        changed = re.sub(pattern, repl, state, count=1)
        assert changed != state, f"pattern {pattern} not found"
        _set_state(conn, stream, version, changed)
    return tamper


def _flip_base64_char(m: re.Match[str]) -> str:
    sig = m.group(1)
    return m.group(0).replace(sig, ("B" if sig[0] != "B" else "C") + sig[1:])


def _bump_digit(m: re.Match[str]) -> str:
    return m.group(1) + str((int(m.group(2)) + 1) % 10)


def _replace_whole(conn: sqlite3.Connection) -> None:
    _set_state(conn, "participant/P-001", 2, _state(conn, "participant/P-002", 1))


def _delete(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM stored_events WHERE originator_id='participant/P-001' "
                 "AND originator_version=2")


CASES: dict[str, tuple[Tamper, int, set[str]]] = {
    # name: (tamper, version that must be named, checks of which one must be reported there)
    "payload byte": (_edit("participant/P-001", 1, r'(\\"weight_kg\\":6)(4)', _bump_digit), 1,
                     {"payload.digest"}),
    "signature": (_edit("participant/P-001", 2, r'\\"signature\\":\\"([A-Za-z0-9+/]+)',
                        _flip_base64_char), 2, {"signature"}),
    "recorded_at": (_edit("participant/P-001", 2, r'(\\"recorded_at\\":\\"2026-03-0)(\d)',
                          _bump_digit), 2, {"record.altered"}),
    "whole record": (_replace_whole, 2, {"record.position", "record.altered"}),
    "deleted record": (_delete, 3, {"chain.version", "chain.prev"}),
}


def test_r01_verify_passes_on_an_intact_ledger(tmp_path: Path) -> None:
    db, root = _ledger_with_history(tmp_path)
    code, report = _verify(db, "--root", root)
    assert code == 0 and report["ok"] is True and report["records"] == 6 and report["findings"] == []


@pytest.mark.parametrize("case", list(CASES))
def test_r01_verify_names_stream_version_and_check_after_tampering(tmp_path: Path, case: str) -> None:
    db, root = _ledger_with_history(tmp_path)
    tamper, version, checks = CASES[case]
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute("DROP TRIGGER stored_events_no_delete")
        tamper(conn)
    code, report = _verify(db, "--root", root)
    assert code == 1 and report["ok"] is False
    named = {(f["stream"], f["version"], f["check"]) for f in report["findings"]}  # type: ignore[union-attr]
    assert any(("participant/P-001", version, c) in named for c in checks), named


def test_verify_text_report_names_the_failure(tmp_path: Path) -> None:
    db, _ = _ledger_with_history(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        _edit("participant/P-001", 1, r'(\\"weight_kg\\":6)(4)', _bump_digit)(conn)
    result = CliRunner().invoke(app, ["verify", "--db", f"sqlite:///{db}"])
    assert result.exit_code == 1
    assert "participant/P-001" in result.stdout and "payload.digest" in result.stdout


def test_verify_refuses_a_ledger_rooted_in_another_key(tmp_path: Path) -> None:
    db, _ = _ledger_with_history(tmp_path)
    code, report = _verify(db, "--root", "0" * 64)
    assert code == 1
    assert [f["check"] for f in report["findings"]] == ["root.fingerprint"]  # type: ignore[union-attr]


def test_r01_records_table_refuses_update_and_delete(trial: Trial) -> None:
    store = trial.services.store
    for statement in ("UPDATE {t} SET state = state", "DELETE FROM {t}"):
        with pytest.raises(Exception, match="append-only"), store.transaction() as cur:
            cur.execute(statement.format(t=store.qualify("stored_events")))
    assert store.max_position() == 1
