"""verify-bundle's fast paths give exactly what the plain code gives: the views folded by worker
processes (projections/bundle_fold.py) have the single fold's fingerprints, rows and safety
table, and rows checked in workers come back with the entry fields the replay reads, as the
entry bytes say."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.cli.audit import _bundle_views
from ledger.bundle import BundleReader
from ledger.entry import Record
from ledger.store import Row
from ledger.verify_work import REPLAY_FIELDS, Worker, from_wire
from projections import bundle_fold

from .conftest import Trial
from .test_trial_domain import enrol
from .test_verify_bundle_safety import _bundle, _serious_events
from .test_views_protocol import PANEL, _document


def _busy_trial(trial: Trial) -> None:
    """Serious adverse events and scores for P-001, five more participants randomised, one
    randomisation invalidated, and a protocol amendment that rescores P-001 (whose stream is not
    worker 0's when three share the fold)."""
    _serious_events(trial)
    client = trial.client("inv-001")
    sampled = trial.clock.now - timedelta(hours=3)
    for analyte, (value, unit) in PANEL.items():
        client.record_lab("P-001", visit="week_4", analyte=analyte, value=value, unit=unit,
                          sampled_at=sampled)
    client.record_assessment("P-001", visit="week_4", ascites="mild", encephalopathy_grade=1,
                             dialysis=False, observed_on=sampled.date())
    for n in range(2, 7):
        enrol(client, f"P-00{n}", randomise=True)
    client.invalidate_randomisation("P-003", what="wrong participant randomised",
                                    reason="request entered for the wrong participant")
    admin = trial.client("sponsor-admin", role="admin", site="sponsor")
    admin.append("protocol", "protocol.amended", {"document": _document("1.1")},
                 reason="baseline, primary score and concomitant medications defined")
    client.register_participant("P-007", sex="M", date_of_birth="1958-11-23", weight_kg=70.0)


@pytest.fixture
def busy_bundle(sqlite_trial: Trial, tmp_path: Path) -> tuple[Path, int]:
    _busy_trial(sqlite_trial)
    path = _bundle(sqlite_trial, tmp_path)
    reader = BundleReader(path)
    try:
        return path, reader.header.records
    finally:
        reader.close()


def _as_dict(views: Any) -> dict[str, Any]:
    return {"projections": views.projections, "safety": views.safety}


def test_views_folded_by_workers_equal_the_single_fold(busy_bundle: tuple[Path, int]) -> None:
    path, size = busy_bundle
    single = _as_dict(_bundle_views(path, size, "r" * 64, workers=0))
    assert single["safety"]["clocks"] and single["safety"]["protocol"] == "1.1"
    rows = {view["name"]: view["rows"] for view in single["projections"]}
    assert rows["allocation"] >= 6 and rows["audit_trail"] == size
    for workers in (1, 2, 3):  # with 3, the shares split the participants three ways
        told: list[int] = []
        assert _as_dict(_bundle_views(path, size, "r" * 64, told.append, workers=workers)) == single
        assert sum(told) == size


def test_the_workers_fold_itself_not_a_fallback(busy_bundle: tuple[Path, int]) -> None:
    path, size = busy_bundle
    fold = bundle_fold.fold_bundle(path, 2)  # raises if a worker fails (no fallback here)
    single = _bundle_views(path, size, "r" * 64, workers=0)
    assert fold.fingerprints == {v["name"]: v["fingerprint"] for v in single.projections}
    assert fold.last_position == single.projections[0]["position"]
    assert fold.last_recorded_at == single.safety["as_of"]
    assert any(state.adverse_events for state in fold.states.values())


def test_a_failing_fold_worker_is_named(tmp_path: Path) -> None:
    with pytest.raises(Exception) as caught:
        bundle_fold.fold_bundle(tmp_path / "missing.jsonl", 2)
    assert "view fold worker 0 failed" in str(caught.value)


def test_a_row_checked_in_a_worker_carries_its_entry_fields(busy_bundle: tuple[Path, int]) -> None:
    path, _ = busy_bundle
    reader = BundleReader(path)
    try:
        rows: list[Row] = list(reader.rows())
    finally:
        reader.close()
    keys = Worker([])
    compact = 0
    for row in rows:
        wire = keys.wire(row)  # learns keys from the keys stream as the log goes
        if len(wire) in (5, 6):
            continue
        compact += 1
        item = from_wire(wire)
        record = Record.from_stored(row.state, row.position)
        fields = orjson.loads(record.entry.raw)
        assert item.entry.fields == {name: fields[name] for name in REPLAY_FIELDS}
        assert item.entry.raw == record.entry.raw and item.hash == record.hash
    assert compact > len(rows) // 2


VECTORS = Path(__file__).resolve().parent / "vectors"


@pytest.mark.parametrize("vector", sorted(VECTORS.glob("*.bundle")), ids=lambda p: p.stem)
def test_every_vector_gives_the_same_report_read_by_workers(vector: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Bundle lines read by `read_line` in workers (spans of a few records) give what the
    reader gives in this process, damaged lines included: every finding, line and leaf."""
    import json

    from ledger import verify_parallel
    from ledger.verify import verify_log
    from ledger.verify_sources import BundleRows

    monkeypatch.setattr(verify_parallel, "CHUNK", 3)
    monkeypatch.setattr("ledger.verify_sources.MIN_SPAN_BYTES", 1)
    root = {v["file"]: v["root"] for v in json.loads((VECTORS / "vectors.json").read_text())
            ["vectors"]}[vector.name]

    def report(workers: int) -> Any:
        try:
            reader = BundleReader(vector, lenient=True)
        except Exception as exc:  # no header: refused alike either way
            return repr(exc)
        try:
            found = verify_log(BundleRows(reader), checkpoints=reader.checkpoints, root=root,
                               workers=workers)
        finally:
            reader.close()
        return found.as_dict(), [f.extra for f in found.findings]

    assert report(2) == report(0)
