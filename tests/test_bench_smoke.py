"""The benchmark suite (benchmarks/suite.py) runs end to end at smoke scale and reports every
figure of issue 9 beside its baseline (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {"P1", "P2", "P3", "P4", "P5", "P5b", "P6", "P6b", "P7", "P8", "P9"}


def test_the_suite_measures_every_figure_beside_its_baseline(tmp_path: Path, pg_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRIAL_LEDGER_TEST_PG"}
    env["TRIAL_LEDGER_TEST_PG"] = pg_url.split("?")[0]
    out = tmp_path / "suite.json"
    done = subprocess.run([sys.executable, "benchmarks/suite.py", "--scale", "smoke", "--data",
                           str(tmp_path / "data"), "--json", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["scale"] == "smoke" and result["machine"]["cores"]
    figures = {f["figure"]: f for f in result["figures"]}
    assert set(figures) == FIGURES
    for f in figures.values():
        assert f["ours"] > 0 and f["baseline"] > 0, f
        assert abs(f["ratio"] - f["ours"] / f["baseline"]) < 1e-9
        assert isinstance(f["met"], bool) and f["goal"] and f["baseline_is"]
    # every HTTP append was accepted (201 and nothing else) and its receipt carried a signed checkpoint
    assert set(figures["P3"]["statuses"]) == {"201"} and figures["P3"]["statuses"]["201"] > 0
    # two workers on one schema: no server error, and appends went through
    assert figures["P9"]["statuses"].get("201", 0) > 0
    assert all(int(status) < 500 for status in figures["P9"]["statuses"]), figures["P9"]["statuses"]
    assert figures["P8"]["with_checkpoint"] == figures["P8"]["appends"] == figures["P3"]["statuses"]["201"]
    assert "P1" in done.stderr and "ratio" in done.stderr  # the table


def test_bench_is_a_command() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0 and "--scale" in result.output


def test_bench_command_loads_the_suite_and_measures(tmp_path: Path) -> None:
    """`trial-ledger bench` loads benchmarks/suite.py by path: its dataclasses and the modules
    beside it must resolve as they do when the script is run."""
    out = tmp_path / "suite.json"
    result = CliRunner().invoke(app, ["bench", "--scale", "smoke", "--only", "P6", "--data",
                                      str(tmp_path / "data"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())["figures"]
    assert [f["figure"] for f in figures] == ["P6", "P6b"] and all(f["ours"] > 0 for f in figures)
