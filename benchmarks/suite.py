"""Issue 9's benchmark suite: each figure beside its baseline, measured in the same run.

    .venv/bin/python benchmarks/suite.py [--scale smoke|full] [--only P1,P2] [--json out.json]
    trial-ledger bench [--scale smoke|full] [--only P1,P2] [--json out.json]

Prints a table of figure, ours, baseline, ratio, goal, met, and writes it as JSON (by default
`benchmarks/results/suite.json` at full scale). Figures:

- P1 in-process signed append, 1 entry per call, SQLite. Baseline: an eventsourcing Application
  on SQLite saving 1 event per call (unsigned). Measured in alternating rounds.
- P2 batch import, 1,000 signed entries per `append_batch` call. Baseline: one core's Ed25519
  verify rate of libsodium (PyNaCl), and of `cryptography` (what the ledger uses), in the notes.
- P3 HTTP appends from concurrent clients (`trial-ledger serve` over SQLite): entries/s and p99.
  Baseline: P1's in-process rate (the ratio is what HTTP keeps of it).
- P4 rebuild of every view from the large generated log, one worker process per core
  (benchmarks/rebuild.py, which also measures one process and compares fingerprints), records/s
  and peak RSS. Baseline: eventsourcing's notification log read of the same log with each
  stored state decoded, before and after, each measurement in its own process.
- P5 `trial-ledger verify` and `verify-bundle` (subprocesses, as a user runs them) of the large
  generated log, records/s. Baseline: the 2-core Ed25519 verify limit (two processes verifying
  at once, the faster library).
- P6 inclusion and consistency proofs at the large size (benchmarks/transparency.py). Baseline:
  the same proofs at the small size (flatness).
- P7 append rate (1 entry per call, to existing participant streams) on the large log.
  Baseline: the same on the small log; both logs hold the same number of records per stream.
- P8 append → covered by a signed checkpoint, p99, under P3's load (every receipt carries its
  checkpoint, so it is the request latency of receipts that carry one).
- P9 HTTP appends through two `trial-ledger serve` workers on one PostgreSQL schema. Baseline:
  an eventsourcing Application on the same PostgreSQL saving 1 event per call, one caller.

Generated logs are kept in `--data` (default /tmp/trial-ledger-suite) and reused: generating 1M
records takes minutes. They are appended to in batches (one `append_batch` of 10 consecutive
entries for each of 500 participants), 20 records per participant, rules that accept anything
and, as the trial's rules do, decide participant streams from a kept state (a count: the log's
content is plausible; the decider is not what is being generated).
"""

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# The figures live beside this script, one concern a module: suite_fixtures (sizes, ledgers,
# generated logs, result rows), suite_baselines, suite_append (P1, P2, P7), suite_http (P3, P8,
# P9) and suite_logs (P4, P5, P6).
import profiling  # noqa: E402  (beside this script)
from suite_append import p1, p2, p7  # noqa: E402
from suite_fixtures import Bench, Scale, figure, generated_log, new_ledger, open_ledger  # noqa: E402
from suite_http import p3, p9  # noqa: E402
from suite_logs import p4, p5, p6  # noqa: E402

# Re-exported for code that imports the suite (they lived here before the split).
__all__ = ["FIGURES", "SCALES", "Bench", "Scale", "figure", "generated_log", "machine", "main",
           "new_ledger", "open_ledger", "run", "table"]

SCALES = {
    "smoke": Scale(p1_appends=60, p2_batches=1, http_clients=4, http_seconds=1.5, http_entries=200,
                   small_log=400, large_log=1_200, p6_sizes=(64, 300), p7_appends=30,
                   crypto_seconds=0.2, p9_baseline=50),
    "full": Scale(p1_appends=3_000, p2_batches=6, http_clients=32, http_seconds=20.0,
                  http_entries=80_000, small_log=10_000, large_log=1_000_000,
                  p6_sizes=(10_000, 1_000_000), p7_appends=4_500, crypto_seconds=2.0,
                  p9_baseline=3_000),
}


FIGURES: dict[str, Callable[[Scale, Path, dict[str, Any]], list[dict[str, Any]]]] = {
    "P1": p1, "P2": p2, "P3": p3, "P4": p4, "P5": p5, "P6": p6, "P7": p7, "P9": p9}


def machine() -> dict[str, Any]:
    return {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "system": platform.platform()}


def run(scale_name: str, only: list[str] | None = None, data: Path | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    scale = SCALES[scale_name]
    context: dict[str, Any] = {"data": str(data or Path(tempfile.gettempdir()) / "trial-ledger-suite")}
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in FIGURES.items():
            if only and name not in only:
                continue
            if progress:
                progress(name)
            t0 = time.perf_counter()
            with profiling.figure(name):
                rows = fn(scale, Path(tmp), context)
            for row in rows:
                row["seconds"] = time.perf_counter() - t0
            if name == "P1":
                context["p1_rate"] = rows[0]["ours"]
            results.extend(rows)
    return {"scale": scale_name, "machine": machine(), "ran_at": datetime.now(UTC).isoformat(),
            "seconds": time.perf_counter() - started, "figures": results,
            "verify_1core": context.get("verify_1core"), "verify_2core": context.get("verify_2core")}


def table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title=f"trial-ledger benchmark suite ({result['scale']}): "
                    f"{result['machine']['machine']} {result['machine']['cores']} cores, "
                    f"Python {result['machine']['python']}, SQLite {result['machine']['sqlite']}")
    for col in ("figure", "what", "ours", "baseline", "ratio", "goal", "met"):
        t.add_column(col, overflow="fold")
    for f in result["figures"]:
        t.add_row(f["figure"], f["what"], f"{f['ours']:,.1f} {f['unit']}", f"{f['baseline']:,.1f}",
                  "" if f["ratio"] is None else f"{f['ratio']:.2f}", f["goal"],
                  "[green]yes[/green]" if f["met"] else "[red]no[/red]")
    return t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--only", help="comma-separated figures, e.g. P1,P3 (default: all)")
    parser.add_argument("--data", type=Path, help="where generated logs are kept")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles of each figure "
                        "(benchmarks/profiling.py); the figures are slower while sampled")
    parser.add_argument("--json", type=Path, help="where to write the results (default at full scale: "
                        "benchmarks/results/suite.json)")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console(stderr=True, width=150)
    only = [s.strip().upper() for s in args.only.split(",")] if args.only else None
    profiling.start(args.profile)
    result = run(args.scale, only, args.data, progress=lambda n: console.print(f"measuring {n} …"))
    console.print(table(result))
    for f in result["figures"]:
        console.print(f"{f['figure']}: baseline = {f['baseline_is']}. {f['notes']}", highlight=False)
    target = args.json or (ROOT / "benchmarks" / "results" / "suite.json" if args.scale == "full" else None)
    if target:
        target.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"wrote {target}")


if __name__ == "__main__":
    main()
