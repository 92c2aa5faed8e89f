"""`trial-ledger bench` with no --scale runs the quick smoke scale, never the 1M-record one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli.main import app


def test_bench_without_scale_runs_the_smoke_scale(tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    result = CliRunner().invoke(app, ["bench", "--only", "P6", "--data", str(tmp_path / "data"),
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    measured = json.loads(out.read_text())
    assert measured["scale"] == "smoke"
    sizes = {f["figure"]: f for f in measured["figures"]}
    assert set(sizes) == {"P6", "P6b"} and "300 leaves" in sizes["P6"]["what"]  # smoke's sizes
    assert sum(p.stat().st_size for p in (tmp_path / "data").rglob("*") if p.is_file()) < 50e6
