"""The floors benchmark (benchmarks/floors.py) runs at its tiny size, times every step on real
records, gives each figure a ceiling, and the ledgers it built verify (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEPS = (
    "ed25519_baseline", "ed25519_raw", "ed25519_verify", "prepare", "entry_parse", "payload_parse",
    "payload_digest", "canonical_entry", "seal", "stored_bytes", "record_hash", "leaf_hash", "tree_nodes",
    "decide_registration", "decide_consent", "decide_lab", "initial_state", "state_dump", "head_lookup",
    "state_lookup", "decide_ledger", "insert", "tree_append", "commit", "raw_insert", "raw_commit",
    "checkpoint_sign", "append_batch", "append_batch_gc_paused", "read_rows", "plain_read_json",
    "json_loads", "from_stored", "read_trusted", "verify_record_hash", "verify_leaf_hash",
    "verify_digest", "verify_ed25519", "worker_wire", "worker_ipc", "from_wire", "replay",
    "verify_in_process", "bundle_line", "payload_parse_trusted", "fold_apply", "view_documents",
    "view_rows", "fold_into", "rebuild_share",
)


def test_the_floors_benchmark_times_every_step_and_its_ledgers_verify(tmp_path: Path) -> None:
    out = tmp_path / "floors.json"
    done = subprocess.run([sys.executable, "benchmarks/floors.py", "--quick", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    steps = result["steps"]
    assert set(steps) == set(STEPS)
    table = {line.split()[0]: line for line in done.stdout.splitlines() if line.split()}
    for name in STEPS:
        assert name in table, f"{name} is not in the printed table"
        assert steps[name]["wall_us"] > 0 and steps[name]["cpu_us"] > 0 and steps[name]["records"] > 0
    assert result["checks"] == {"log_verifies": True, "trial_verifies": True, "bundle_verifies": True}
    for clock in ("figures", "figures_by_wall"):
        figures = result[clock]
        assert set(figures) == {"P2", "P4", "P5", "P5b"}
        for figure in figures.values():
            assert figure["floor_us"] == sum(figure["floor"].values()) > 0
            assert 0 < figure["ceiling_1core"] <= figure["ceiling_2core"]
            assert all(value > 0 for value in figure["floor"].values())
