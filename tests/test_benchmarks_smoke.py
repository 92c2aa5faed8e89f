"""The benchmark harnesses still run and say what they measure (tiny sizes, no timing asserted:
figures come from the full runs in docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_rebuild_benchmark_runs_and_both_rebuilds_agree(tmp_path: Path) -> None:
    result = _run("benchmarks/rebuild.py", "--records", "600", "--participants", "100",
                  "--workers", "2", "--db", str(tmp_path / "log.db"), "--json",
                  str(tmp_path / "out.json"))
    assert result["same_fingerprints"] is True
    for kind in ("plain", "rebuild", "rebuild_parallel"):
        figures = result[kind]
        assert isinstance(figures, dict) and figures["records"] == 602  # genesis, user, the log
        assert figures["records_per_s"] > 0 and figures["peak_rss_bytes"] > 0
    assert json.loads((tmp_path / "out.json").read_text())["rebuild_vs_plain"] > 0


def test_the_transparency_benchmark_runs(tmp_path: Path) -> None:
    result = _run("benchmarks/transparency.py", "--sizes", "64", "200", "--records", "50",
                  "--json", str(tmp_path / "out.json"))
    proofs = result["proofs"]
    assert isinstance(proofs, list) and [p["leaves"] for p in proofs] == [64, 200]
    assert "ledger" in result


def test_a_measurement_reports_its_own_peak_memory_not_its_starters() -> None:
    """A measurement started by a large process (the suite, after generating a log) reports its
    own peak RSS: on Linux `ru_maxrss` carries the starter's high-water mark across exec."""
    child = ("import sys, resource; sys.path[:0] = ['benchmarks']; import rebuild; "
             "print(rebuild.own_peak_rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)")
    starter = ("import subprocess, sys; held = b'x' * (400 << 20); "
               f"print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, "
               "text=True, check=True).stdout)")
    done = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    own, maxrss = map(int, done.stdout.split())
    assert own < 200 << 20 and maxrss >= own  # its own, not the 400 MiB its starter held
