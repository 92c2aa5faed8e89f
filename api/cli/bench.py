"""`trial-ledger bench`: the benchmark suite of a source checkout (benchmarks/suite.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail
from api.cli.help import LedgerTyper

# The checkout's root holds api/ and benchmarks/; an installed package has no suite beside it.
SUITE = Path(__file__).resolve().parents[1].parent / "benchmarks" / "suite.py"


def bench(scale: Annotated[str, typer.Option(help="smoke (seconds; the default) or full (the "
                                             "published figures; generates a 1M-record log "
                                             "once, then runs for a long while).")] = "smoke",
          only: Annotated[str | None, typer.Option(help="Figures to run, e.g. P1,P3.")] = None,
          data: Annotated[Path | None, typer.Option(metavar="FOLDER",
                                                    help="Where generated logs are kept.")] = None,
          json_out: Annotated[Path | None, typer.Option("--json", metavar="FILE", help=(
              "Where to write the results (default at full scale: "
              "benchmarks/results/suite.json)."))] = None) -> None:
    """Measure each performance figure beside its baseline; print the table, write JSON.

    Runs the quick smoke scale unless --scale full is asked for."""
    if not SUITE.exists():
        fail(f"{SUITE} not found: the benchmark suite runs from a source checkout")
    spec = importlib.util.spec_from_file_location("trial_ledger_bench_suite", SUITE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and worker processes look their module up
    spec.loader.exec_module(module)
    args = ["--scale", scale]
    for flag, value in (("--only", only), ("--data", data), ("--json", json_out)):
        if value is not None:
            args += [flag, str(value)]
    module.main(args)


def register(app: LedgerTyper) -> None:
    app.command("bench")(bench)
