"""`verify-bundle` reports a damaged bundle as findings and never stops at a line (R1): each
record line deleted, repeated, swapped, cut or not JSON is a `bundle.*` finding with its line and
leaf, every other finding is still reported, `--json` always prints JSON, and the exit status is
1. A record sealed with a time earlier than an earlier leaf's, anywhere in the log, is
`time.order`, in the bundle and in the database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli.main import app

from .conftest import Trial


@dataclass(frozen=True)
class Exported:
    lines: list[bytes]
    root: str
    first: int  # index of the first record line

    def leaf_line(self, leaf: int) -> int:
        return self.first + leaf  # index into `lines`; the line's number is one more


def _history(trial: Trial) -> None:
    client = trial.client("inv-001")
    for n in range(6):
        client.register_participant(f"P-{n:03d}", sex="F", date_of_birth="1961-04-02",
                                    weight_kg=60.0 + n)
        client.sign_consent(f"P-{n:03d}", form_version="1.0", signed_on="2026-03-01")


def _export(trial: Trial, path: Path) -> None:
    done = CliRunner().invoke(app, ["export", "bundle", str(path), "--db", trial.services.store.url])
    assert done.exit_code == 0, done.stderr


@pytest.fixture
def exported(sqlite_trial: Trial, tmp_path: Path) -> Exported:
    _history(sqlite_trial)
    path = tmp_path / "trial.bundle"
    _export(sqlite_trial, path)
    lines = path.read_bytes().splitlines(keepends=True)
    first = 1 + int(re.search(rb'"checkpoints": (\d+)', lines[0]).group(1))  # type: ignore[union-attr]
    return Exported(lines, sqlite_trial.info.root_fingerprint, first)


def _verify(path: Path, root: str, *more: str) -> tuple[int, dict[str, Any]]:
    done = CliRunner().invoke(app, ["verify-bundle", str(path), "--root", root, "--json", *more])
    assert "Traceback" not in done.stdout + done.stderr
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done.exit_code, json.loads(done.stdout)


def _write(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "damaged.bundle"
    path.write_bytes(b"".join(lines))
    return path


def _weighed(e: Exported, after: int) -> int:
    """A line after `after` holding a participant's weight (to alter its payload)."""
    return next(n for n in range(after + 3, len(e.lines)) if b"weight_kg" in e.lines[n])


def _heavier(line: bytes) -> bytes:
    return re.sub(rb'(weight_kg\\+":)(\d)', lambda m: m.group(1) + str((int(m.group(2)) + 1) % 10)
                  .encode(), line, count=1)


def _stream_version(line: bytes) -> tuple[str, int]:
    value = json.loads(line)
    return value["stream"], value["version"]


def _delete(lines: list[bytes], at: int) -> None:
    del lines[at]


def _duplicate(lines: list[bytes], at: int) -> None:
    lines.insert(at + 1, lines[at])


def _swap(lines: list[bytes], at: int) -> None:
    lines[at], lines[at + 1] = lines[at + 1], lines[at]


def _truncate(lines: list[bytes], at: int) -> None:
    lines[at] = lines[at][: len(lines[at]) // 2] + b"\n"


def _not_json(lines: list[bytes], at: int) -> None:
    lines[at] = lines[at][:-2] + b"\n"  # the closing brace gone


# damage, the check it gives, the line (1-based) it names relative to the damaged line's own
DAMAGE: dict[str, tuple[Callable[[list[bytes], int], None], str, int]] = {
    "record line deleted": (_delete, "bundle.leaf_missing", 1),  # the next line holds a later leaf
    "record line duplicated": (_duplicate, "bundle.leaf_duplicated", 2),
    "two record lines swapped": (_swap, "bundle.leaf_out_of_order", 2),
    "record line cut short": (_truncate, "bundle.line_unreadable", 1),
    "record line not JSON": (_not_json, "bundle.line_unreadable", 1),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_r01_a_damaged_record_line_is_a_finding_and_the_rest_is_still_checked(
        exported: Exported, tmp_path: Path, case: str) -> None:
    damage, check, line = DAMAGE[case]
    leaf = (len(exported.lines) - exported.first) // 2
    at = exported.leaf_line(leaf)
    stream, version = _stream_version(exported.lines[at])
    later = _weighed(exported, at)  # a second, unrelated tampering further on
    altered_stream, altered_version = _stream_version(exported.lines[later])
    lines = list(exported.lines)
    lines[later] = _heavier(lines[later])
    damage(lines, at)
    code, report = _verify(_write(tmp_path, lines), exported.root)
    assert code == 1 and report["ok"] is False
    named = [f for f in report["findings"] if f["check"] == check]
    assert len(named) == 1, report["findings"]
    assert named[0]["leaf_index"] == leaf and named[0]["line"] == at + line, named
    # What the line still tells: a missing leaf's line is gone; a line cut inside its stored record
    # lost its stream and version (written after it), not its leaf index and position.
    told = {"bundle.leaf_missing": (None, None), "bundle.line_unreadable": (None, None)}
    if case != "record line cut short":
        told.pop("bundle.line_unreadable")
    assert (named[0]["stream"], named[0]["version"]) == told.get(check, (stream, version)), named
    checks = {f["check"] for f in report["findings"]}
    assert "checkpoint.root" in checks  # the recomputed tree differs: a finding, not an abort
    assert any(f["check"] == "payload.digest" and (f["stream"], f["version"]) ==
               (altered_stream, altered_version) for f in report["findings"]), report["findings"]


def test_a_line_moved_far_back_is_one_finding_not_one_a_line(exported: Exported, tmp_path: Path) -> None:
    lines = list(exported.lines)
    last = lines.pop()
    lines.insert(exported.leaf_line(3), last)
    code, report = _verify(_write(tmp_path, lines), exported.root)
    assert code == 1
    bundle = [f for f in report["findings"] if f["check"].startswith("bundle.")]
    total = len(exported.lines) - exported.first
    assert [(f["check"], f["leaf_index"]) for f in bundle] == [("bundle.leaf_out_of_order", 3)], bundle
    assert f"leaves 3…{total - 2}" in bundle[0]["detail"]


def test_records_missing_at_the_end_are_counted(exported: Exported, tmp_path: Path) -> None:
    code, report = _verify(_write(tmp_path, exported.lines[:-2]), exported.root)
    assert code == 1
    total = len(exported.lines) - exported.first
    found = {f["check"]: f for f in report["findings"]}
    assert found["bundle.leaf_missing"]["leaf_index"] == total - 2
    assert "bundle.record_count" in found and "checkpoint.size" in found


def test_an_unreadable_header_is_a_json_finding(exported: Exported, tmp_path: Path) -> None:
    code, report = _verify(_write(tmp_path, [b"{not a header\n", *exported.lines[1:]]), exported.root)
    assert code == 1 and [f["check"] for f in report["findings"]] == ["bundle.header"]
    code, report = _verify(tmp_path / "no such.bundle", exported.root)
    assert code == 1 and [f["check"] for f in report["findings"]] == ["bundle.unreadable"]
    bundle = _write(tmp_path, exported.lines)
    code, report = _verify(bundle, exported.root, "--checkpoint", str(tmp_path / "absent.checkpoint"))
    assert code == 1 and [f["check"] for f in report["findings"]] == ["saved.unreadable"]


def test_an_unreadable_checkpoint_line_is_a_finding(exported: Exported, tmp_path: Path) -> None:
    lines = list(exported.lines)
    lines[1] = b"\xff\xfe not a checkpoint\n"
    code, report = _verify(_write(tmp_path, lines), exported.root)
    assert code == 1
    assert [(f["check"], f["line"]) for f in report["findings"]
            if f["check"].startswith("bundle.")] == [("bundle.checkpoint_unreadable", 2)]


def test_a_checkpoint_line_deleted_leaves_every_record_read(exported: Exported, tmp_path: Path) -> None:
    lines = list(exported.lines)
    del lines[exported.first - 1]  # the last checkpoint
    code, report = _verify(_write(tmp_path, lines), exported.root)
    assert code == 1 and report["records"] == len(exported.lines) - exported.first
    assert [(f["check"], f["line"]) for f in report["findings"]] == \
        [("bundle.checkpoint_unreadable", exported.first)]


def test_r01_an_intact_bundle_has_no_finding(exported: Exported, tmp_path: Path) -> None:
    code, report = _verify(_write(tmp_path, exported.lines), exported.root)
    assert code == 0 and report["ok"] is True and report["findings"] == []


def test_r10_a_back_dated_record_sealed_with_the_ledger_key_is_time_order(
        sqlite_trial: Trial, tmp_path: Path) -> None:
    """Whoever holds the ledger key and the database can seal a record with an earlier time and
    sign checkpoints over it; every signature holds, and only the log-wide time order shows it."""
    trial = sqlite_trial
    signer, _ = trial.user("inv-001")
    trial.register_directly(signer, "P-001")
    middle = trial.clock.now
    trial.clock.step(minutes=5)
    trial.register_directly(signer, "P-002")
    latest = trial.services.ledger.head("participant/P-002").recorded_at
    trial.clock.now = middle + (trial.clock.now - middle) / 2  # back, but after P-001 and the key
    trial.services.ledger._latest = ""  # the ledger's own floor, as such an attacker removes it
    trial.register_directly(signer, "P-003", at=trial.clock.now)
    back = trial.services.ledger.head("participant/P-003").recorded_at
    assert back is not None and latest is not None and back < latest
    code, report = _verify_db(trial)
    assert code == 1
    assert [(f["check"], f["stream"]) for f in report["findings"]] == [("time.order", "participant/P-003")]
    assert latest in report["findings"][0]["detail"]
    bundle = tmp_path / "back-dated.bundle"
    _export(trial, bundle)
    code, report = _verify(bundle, trial.info.root_fingerprint)
    assert code == 1
    assert [(f["check"], f["stream"]) for f in report["findings"]] == [("time.order", "participant/P-003")]


def _verify_db(trial: Trial) -> tuple[int, dict[str, Any]]:
    done = CliRunner().invoke(app, ["verify", "--db", trial.services.store.url, "--root",
                                    trial.info.root_fingerprint, "--json"])
    assert "Traceback" not in done.stdout + done.stderr
    return done.exit_code, json.loads(done.stdout)
