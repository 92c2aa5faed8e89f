"""Each kind of tampering is detected and localised by both `verify` (database) and
`verify-bundle` (the exported file, with no database)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from ledger.entry import Record, Submission
from ledger.errors import Head
from ledger.keys import generate
from ledger.signer import Signer
from ledger.tree import node_key

from .conftest import make_trial

P1, P2 = "participant/P-001", "participant/P-002"


@dataclass
class Baseline:
    db: Path
    root: str
    origin: str
    checkpoint_file: Path  # the latest checkpoint, as a regulator would have saved it


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    folder = tmp_path_factory.mktemp("baseline")
    trial = make_trial(f"sqlite:///{folder / 'ledger.db'}", folder / "home")
    client = trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    client.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")
    client.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    latest = trial.services.ledger.tree.latest_checkpoint()
    assert latest is not None and latest.size == 7
    (folder / "saved.checkpoint").write_text(latest.note)
    trial.services.close()
    return Baseline(folder / "ledger.db", trial.info.root_fingerprint, trial.info.origin,
                    folder / "saved.checkpoint")


def cli(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.stdout.strip(), result.stderr
    return result.exit_code, json.loads(result.stdout)


def fresh_db(baseline: Baseline, tmp_path: Path, name: str = "ledger.db") -> Path:
    db = tmp_path / name
    shutil.copy(baseline.db, db)
    with sqlite3.connect(db) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")  # as an attacker with file access would
    return db


def export(db: Path, tmp_path: Path) -> list[dict[str, object]]:
    out = tmp_path / "bundle.jsonl"
    result = CliRunner().invoke(app, ["export", "bundle", str(out), "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def write_bundle(lines: list[dict[str, object]], tmp_path: Path) -> Path:
    path = tmp_path / "tampered.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


# -- the same tampering, applied to a database and to a bundle ----------------------------
def state_of(conn: sqlite3.Connection, stream: str, version: int) -> str:
    return bytes(conn.execute("SELECT state FROM stored_events WHERE originator_id=? AND "
                              "originator_version=?", (stream, version)).fetchone()[0]).decode()


def set_state(conn: sqlite3.Connection, stream: str, version: int, state: str) -> None:
    conn.execute("UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
                 (state.encode(), stream, version))


def record_line(lines: list[dict[str, object]], stream: str, version: int) -> dict[str, object]:
    return next(x for x in lines if x.get("stream") == stream and x.get("version") == version)


def edit(stream: str, version: int, old: str, new: str) -> Callable[[str], str]:
    def change(state: str) -> str:
        assert old in state, f"{old} not in {stream} v{version}"
        return state.replace(old, new, 1)
    return change


def forged_record(origin: str, stream: str, version: int, prev: str) -> str:
    """A validly signed record by a key the registry never saw."""
    signer = Signer(generate(), "inv-001", "investigator", "site-01", "forger")
    sub: Submission = signer.sign(ledger=origin, head=Head(stream, version - 1, prev),
                                  type="consent.signed", occurred_at=datetime.now(UTC),
                                  payload={"form_version": "9.9", "signed_on": "2026-03-03"})
    from ledger.canonical import b64decode
    from ledger.entry import Entry

    record = Record.seal(Entry.parse(sub.entry), b64decode(sub.signature, "s"),
                         "2026-03-03T00:00:00.000000Z", sub.payload, b64decode(sub.salt, "salt"))
    return record.stored_bytes().decode()


def head_hash(state: str) -> str:
    return Record.from_stored(state.encode()).hash


Case = tuple[Callable[[sqlite3.Connection, Baseline], None],
             Callable[[list[dict[str, object]], Baseline], None],
             Callable[[dict[str, object]], bool]]


def _payload(conn: sqlite3.Connection, b: Baseline) -> None:
    set_state(conn, P1, 1, edit(P1, 1, '\\"weight_kg\\":64', '\\"weight_kg\\":65')(state_of(conn, P1, 1)))


def _payload_b(lines: list[dict[str, object]], b: Baseline) -> None:
    line = record_line(lines, P1, 1)
    line["stored"] = edit(P1, 1, '\\"weight_kg\\":64', '\\"weight_kg\\":65')(str(line["stored"]))


RECORDED = ('\\"recorded_at\\":\\"2026-03-02T09:00:00.0', '\\"recorded_at\\":\\"2026-03-01T09:00:00.0')


def _recorded(conn: sqlite3.Connection, b: Baseline) -> None:
    set_state(conn, P1, 3, edit(P1, 3, *RECORDED)(state_of(conn, P1, 3)))


def _recorded_b(lines: list[dict[str, object]], b: Baseline) -> None:
    line = record_line(lines, P1, 3)
    line["stored"] = edit(P1, 3, *RECORDED)(str(line["stored"]))


def _delete(conn: sqlite3.Connection, b: Baseline) -> None:
    conn.execute("DELETE FROM stored_events WHERE originator_id=? AND originator_version=2", (P1,))


def _delete_b(lines: list[dict[str, object]], b: Baseline) -> None:
    lines.remove(record_line(lines, P1, 2))
    _renumber(lines)


def _swap(conn: sqlite3.Connection, b: Baseline) -> None:
    one, two = state_of(conn, P1, 2), state_of(conn, P2, 1)
    set_state(conn, P1, 2, two)
    set_state(conn, P2, 1, one)


def _swap_b(lines: list[dict[str, object]], b: Baseline) -> None:
    one, two = record_line(lines, P1, 2), record_line(lines, P2, 1)
    i, j = lines.index(one), lines.index(two)
    lines[i], lines[j] = two, one
    _renumber(lines)


def _forge(conn: sqlite3.Connection, b: Baseline) -> None:
    state = forged_record(b.origin, P2, 3, head_hash(state_of(conn, P2, 2)))
    conn.execute("INSERT INTO stored_events VALUES (?,?,?,?)", (P2, 3, "consent.signed", state.encode()))


def _forge_b(lines: list[dict[str, object]], b: Baseline) -> None:
    prev = head_hash(str(record_line(lines, P2, 2)["stored"]))
    lines.append({"position": 99, "stream": P2, "version": 3, "type": "consent.signed",
                  "stored": forged_record(b.origin, P2, 3, prev)})
    _renumber(lines)


def _resign(conn: sqlite3.Connection, b: Baseline) -> None:
    other = json.loads(json.loads(state_of(conn, P2, 1))["sealed"])["signature"]
    state = state_of(conn, P1, 2)
    mine = json.loads(json.loads(state)["sealed"])["signature"]
    set_state(conn, P1, 2, state.replace(mine, other))


def _resign_b(lines: list[dict[str, object]], b: Baseline) -> None:
    other = json.loads(json.loads(str(record_line(lines, P2, 1)["stored"]))["sealed"])["signature"]
    line = record_line(lines, P1, 2)
    mine = json.loads(json.loads(str(line["stored"]))["sealed"])["signature"]
    line["stored"] = str(line["stored"]).replace(mine, other)


ROLE = ('\\"role\\":\\"investigator\\"', '\\"role\\":\\"monitor\\"')


def _registry(conn: sqlite3.Connection, b: Baseline) -> None:
    set_state(conn, "keys", 2, edit("keys", 2, *ROLE)(state_of(conn, "keys", 2)))


def _registry_b(lines: list[dict[str, object]], b: Baseline) -> None:
    line = record_line(lines, "keys", 2)
    line["stored"] = edit("keys", 2, *ROLE)(str(line["stored"]))


def _truncate(conn: sqlite3.Connection, b: Baseline) -> None:
    conn.execute("DELETE FROM stored_events WHERE rowid > 5")
    conn.execute("DELETE FROM merkle_leaves WHERE leaf_index >= 5")


def _truncate_b(lines: list[dict[str, object]], b: Baseline) -> None:
    del lines[-2:]
    _renumber(lines)


def _forge_checkpoint(conn: sqlite3.Connection, b: Baseline) -> None:
    (note,) = conn.execute("SELECT note FROM checkpoints WHERE size = 7").fetchone()
    conn.execute("UPDATE checkpoints SET note = ? WHERE size = 7", (_reroot(note),))


def _forge_checkpoint_b(lines: list[dict[str, object]], b: Baseline) -> None:
    line = next(x for x in lines if "checkpoint" in x and str(x["checkpoint"]).split("\n")[1] == "7")
    line["checkpoint"] = _reroot(str(line["checkpoint"]))


def _reroot(note: str) -> str:
    origin, size, root, rest = note.split("\n", 3)
    return "\n".join([origin, size, ("A" if root[0] != "A" else "B") + root[1:], rest])


def _renumber(lines: list[dict[str, object]]) -> None:
    records = [x for x in lines if "stored" in x]
    for i, line in enumerate(records):
        line["leaf_index"] = i
    lines[0]["records"] = lines[0]["tree_size"] = len(records)


def at(check: str, stream: str | None = None, version: int | None = None,
       leaf: int | None = None) -> Callable[[dict[str, object]], bool]:
    def match(f: dict[str, object]) -> bool:
        return (f["check"] == check and (stream is None or f["stream"] == stream)
                and (version is None or f["version"] == version)
                and (leaf is None or f["leaf_index"] == leaf))
    return match


def either(*tests: Callable[[dict[str, object]], bool]) -> Callable[[dict[str, object]], bool]:
    return lambda f: any(t(f) for t in tests)


CASES: dict[str, Case] = {
    "payload byte": (_payload, _payload_b, at("payload.digest", P1, 1)),
    "recorded_at": (_recorded, _recorded_b, at("checkpoint.root", P1, 3, leaf=6)),
    "deleted record": (_delete, _delete_b, at("chain.version", P1, 3)),
    # In the database the rows swap contents; in the bundle the lines swap places, which leaves
    # each stream's chain intact, and only the recomputed tree shows it.
    "two records swapped": (_swap, _swap_b, either(at("record.position", P1, 2),
                                                    at("checkpoint.root", P2, 1, leaf=3))),
    "forged record by an unregistered key": (_forge, _forge_b, at("signature", P2, 3)),
    "signature replaced": (_resign, _resign_b, at("signature", P1, 2)),
    "key registry record altered": (_registry, _registry_b, at("payload.digest", "keys", 2)),
    "tail truncated": (_truncate, _truncate_b, at("checkpoint.size", leaf=5)),
    "forged checkpoint": (_forge_checkpoint, _forge_checkpoint_b, at("checkpoint.signature", leaf=6)),
}


def test_r01_intact_ledger_and_its_bundle_verify(baseline: Baseline, tmp_path: Path) -> None:
    db = f"sqlite:///{baseline.db}"
    code, report = cli("verify", "--db", db, "--root", baseline.root,
                       "--checkpoint", str(baseline.checkpoint_file))
    assert code == 0, report
    assert report["tree_size"] == 7 and report["checkpoints"] == 7
    lines = export(baseline.db, tmp_path)
    code, report = cli("verify-bundle", str(write_bundle(lines, tmp_path)), "--root", baseline.root,
                       "--checkpoint", str(baseline.checkpoint_file))
    assert code == 0, report


@pytest.mark.parametrize("case", list(CASES))
def test_r01_verify_detects_and_localises(baseline: Baseline, tmp_path: Path, case: str) -> None:
    tamper_db, _, expected = CASES[case]
    db = fresh_db(baseline, tmp_path)
    with sqlite3.connect(db) as conn:
        tamper_db(conn, baseline)
    code, report = cli("verify", "--db", f"sqlite:///{db}", "--root", baseline.root)
    assert code == 1
    assert any(expected(f) for f in report["findings"]), report["findings"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", list(CASES))
def test_r01_verify_bundle_detects_and_localises(baseline: Baseline, tmp_path: Path, case: str) -> None:
    _, tamper_bundle, expected = CASES[case]
    lines = export(baseline.db, tmp_path)
    tamper_bundle(lines, baseline)
    code, report = cli("verify-bundle", str(write_bundle(lines, tmp_path)), "--root", baseline.root)
    assert code == 1
    assert any(expected(f) for f in report["findings"]), report["findings"]  # type: ignore[attr-defined]


def test_rollback_to_an_older_copy_is_caught_against_a_saved_checkpoint(
        baseline: Baseline, tmp_path: Path) -> None:
    # The older copy: the first five records, with the leaves and checkpoints it had then.
    older = fresh_db(baseline, tmp_path, "older.db")
    with sqlite3.connect(older) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid > 5")
        conn.execute("DELETE FROM merkle_leaves WHERE leaf_index >= 5")
        conn.executemany("DELETE FROM merkle_nodes WHERE node = ?",
                         [(node_key(level, idx),) for level, idx in ((0, 5), (0, 6), (1, 2), (2, 1))])
        conn.execute("DELETE FROM checkpoints WHERE size > 5")
    code, report = cli("verify", "--db", f"sqlite:///{older}", "--root", baseline.root)
    assert code == 0, report  # on its own the older copy is a consistent ledger
    code, report = cli("verify", "--db", f"sqlite:///{older}", "--root", baseline.root,
                       "--checkpoint", str(baseline.checkpoint_file))
    assert code == 1 and [f["check"] for f in report["findings"]] == ["saved.rolled_back"]  # type: ignore[attr-defined]
    lines = export(older, tmp_path)
    code, report = cli("verify-bundle", str(write_bundle(lines, tmp_path)), "--root", baseline.root,
                       "--checkpoint", str(baseline.checkpoint_file))
    assert code == 1 and [f["check"] for f in report["findings"]] == ["saved.rolled_back"]  # type: ignore[attr-defined]
