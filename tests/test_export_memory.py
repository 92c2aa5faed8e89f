"""The audit export streams: its peak memory stays flat from 10,000 to 100,000 audit rows.

Copies of a record are written straight into the log and the Merkle tree, and the views' runner
folds them, so the test measures the export's own streaming, not the time it takes to sign
100,000 entries. Each export runs in its own process, which reports its peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from ledger.entry import Record, format_time, parse_time
from ledger.store import RECORDS_TABLE

from .conftest import LEDGER_PASS, Trial
from .test_trial_domain import set_up

EXPORT = """
import resource, sys
from pathlib import Path
from api.services.bootstrap import bootstrap
from api.exports.audit import AuditFilter, as_csv, audit_rows, record_export
from api.services.trial_setup import load_system_actors
services = bootstrap(sys.argv[1])
load_system_actors(services, Path(sys.argv[2]), sys.argv[3])
record_export(services, what="audit_trail", fmt="csv", by="test", role="admin", filters={})
rows = 0
with open(sys.argv[4], "w", encoding="utf-8") as out:
    for chunk in as_csv(audit_rows(services, "admin", AuditFilter())):
        out.write(chunk)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _fill(trial: Trial, upto: int) -> None:
    """Copies of the last record (each recorded a microsecond apart, so each has its own hash)
    appended straight into the log and the Merkle tree, up to `upto` copies in all; the views'
    runner then folds them into the audit trail."""
    store, tree = trial.services.store, trial.services.ledger.tree
    last = list(store.iter_log())[-1]
    record = Record.from_stored(last.state, last.position)
    moment = parse_time(record.recorded_at)
    grown = None
    with store.transaction() as cur:
        cur.execute(f"SELECT COUNT(*) AS n FROM {RECORDS_TABLE} WHERE originator_id LIKE 'copy/%'")
        have = int(cur.fetchone()["n"])
        for first in range(have, upto, 10_000):
            copies = [Record.seal(record.entry, record.signature,
                                  format_time(moment + timedelta(microseconds=i + 1)),
                                  record.payload_text or "", record.salt or b"")
                      for i in range(first, min(first + 10_000, upto))]
            cur.executemany(f"INSERT INTO {RECORDS_TABLE} (originator_id, originator_version, "
                            "topic, state) VALUES (?, 1, ?, ?)",
                            [(f"copy/{first + i}", last.topic, copy.stored_bytes())
                             for i, copy in enumerate(copies)])
            cur.execute(f"SELECT rowid AS p FROM {RECORDS_TABLE} ORDER BY rowid DESC LIMIT ?",
                        (len(copies),))
            positions = sorted(int(r["p"]) for r in cur.fetchall())
            grown = tree.append(cur, [(position, copy.hash, copy.sealed)
                                      for position, copy in zip(positions, copies, strict=True)])
    if grown is not None:
        tree.committed(grown)
    trial.services.views.catch_up()


def _peak(trial: Trial, out: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", EXPORT, trial.services.store.url, str(trial.home),
                           LEDGER_PASS, str(out)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.strip().splitlines()[-1])


def test_the_audit_export_streams_with_flat_memory(sqlite_trial: Trial, tmp_path: Path) -> None:
    trial = sqlite_trial
    set_up(trial).register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    trial.services.views.catch_up()
    _fill(trial, 10_000)
    small = _peak(trial, tmp_path / "small.csv")
    _fill(trial, 100_000)
    large = _peak(trial, tmp_path / "large.csv")
    lines = (tmp_path / "large.csv").read_text(encoding="utf-8").count("\n")
    assert lines > 100_000  # header, the real rows and the 100,000 written above
    assert large < small * 1.2, json.dumps({"small_kib": small, "large_kib": large})
