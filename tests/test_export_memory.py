"""The audit export streams: its peak memory stays flat from 10,000 to 100,000 audit rows.

The rows are written straight into the stored audit view (the export reads nothing else), in
the shape the fold writes them, so the test measures the export's own streaming, not the time it
takes to sign 100,000 entries. Each export runs in its own process, which reports its peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from projections import audit_trail

from .conftest import LEDGER_PASS, Trial
from .test_trial_domain import set_up

EXPORT = """
import resource, sys
from pathlib import Path
from api.bootstrap import bootstrap
from api.exports import AuditFilter, as_csv, audit_rows, record_export
from api.trial_setup import load_system_actors
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
    views = trial.services.views
    template = views.docs(audit_trail.NAME, 0, 1)[0]
    start = trial.services.ledger.tree.size() + 1_000_000  # far beyond the real leaves
    have = len(views.docs(audit_trail.NAME, 0, 10**9))
    with trial.services.store.transaction() as cur:
        for first in range(have, upto, 10_000):
            docs = {audit_trail.key(start + i): {**template, "leaf_index": start + i,
                                                 "reason": f"row {i} of a long trial"}
                    for i in range(first, min(first + 10_000, upto))}
            views.tables.write(cur, views.active(cur), {audit_trail.NAME: docs})


def _peak(trial: Trial, out: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", EXPORT, trial.services.store.url, str(trial.home),
                           LEDGER_PASS, str(out)], capture_output=True, text=True, env=env,
                          check=True)
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
