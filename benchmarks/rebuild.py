"""Rebuild all views from a generated log, beside plain eventsourcing read + decode of the same log.

    .venv/bin/python benchmarks/rebuild.py --records 1000000 [--db PATH] [--json out.json]

Measured, each in its own process, in one run: the baseline (eventsourcing's notification log
read and each stored state decoded by `json.loads`), the rebuild of every view (participants,
score histories, allocation table, audit trail) in one process, and the rebuild shared between
one process per core (`--workers`, default: the machine's cores), then the fingerprints of the
rebuilt views, then the baseline again: ratios are to the mean of the two baseline runs.

The log is generated once into an SQLite file (reused when it exists): 10,000 participants, each
registered, consented and given lab results, signed by a registered investigator and appended in
batches of ten consecutive entries for each of 500 participants (the trial's rules are not
consulted while generating; the views fold whatever is logged). Each rebuild starts from empty
views. Each measurement runs in its own process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chained_log import LogAnything, append_chained, participant_payloads

ANALYTES = [("ALT", "U/L", 40.0), ("AST", "U/L", 50.0), ("ALP", "U/L", 120.0), ("TBIL", "µmol/L", 30.0),
            ("ALB", "g/L", 32.0), ("INR", "ratio", 1.3), ("CREAT", "mg/dL", 1.1),
            ("SODIUM", "mmol/L", 136.0)]
VISITS = ["week_1", "week_4", "week_8", "week_12", "week_24", "week_48"]


payload_for = participant_payloads(ANALYTES, lambda step: VISITS[step % len(VISITS)])


def generate(path: Path, records: int, participants: int = 10_000, steps: int = 10) -> None:
    """Sign and append the log, `steps` consecutive records per participant per batch
    (benchmarks/chained_log.py)."""
    from api.services.bootstrap import bootstrap, initialise, register_user, root_signer
    from ledger.keys import generate as new_key
    from ledger.keys import public_b64
    from ledger.signer import Signer

    services = bootstrap(f"sqlite:///{path}")
    home = path.with_suffix(".home")
    initialise(services, home=home, root_passphrase="bench-pass-1", ledger_passphrase="bench-pass-2")
    key = new_key()
    register_user(services, root_signer(home, "bench-pass-1"), author="inv-001", name="Bench",
                  role="investigator", site="site-01", public_key_b64=public_b64(key.public_key()),
                  token=False)
    ledger = services.ledger
    ledger.rules = LogAnything()
    signer = Signer(key, "inv-001", "investigator", "site-01", "bench")
    append_chained(ledger, signer, participants=participants, per_stream=max(2, records // participants),
                   pid="P-{:05d}", payload_for=payload_for, steps=steps,
                   group=max(1, min(participants, 5000 // steps)),
                   progress=lambda n: print(f"  generated {n:,} records", file=sys.stderr, flush=True))
    services.close()


def measure(kind: str, path: Path) -> dict[str, Any]:
    """Run one measurement in this process (called in a child process)."""
    import resource

    from api.services.bootstrap import bootstrap

    services = bootstrap(f"sqlite:///{path}")
    total = services.store.max_position()
    extra: dict[str, Any] = {}
    if kind.startswith("rebuild"):
        # Every rebuild starts from empty views: dropping an earlier measurement's tables (the
        # old version a rebuild drops at its end) is not put on this one's clock.
        services.views.create_table()
        views = services.views
        with services.store.transaction() as cur:
            active = views.active(cur)
            views.tables.drop(cur, active)
            views.tables.create(cur, active)
    cpu_before = _cpu()
    start = time.perf_counter()
    if kind == "plain":
        # Baseline: eventsourcing's notification log read and each state decoded from JSON.
        position = 1
        while notes := services.store.recorder.select_notifications(start=position, limit=1000):
            for note in notes:
                json.loads(note.state)
            position = notes[-1].id + 1
    elif kind == "fingerprints":
        extra = {"fingerprints": {name: fp for name, (fp, _) in services.views.fingerprints().items()}}
    else:
        workers = 1 if kind == "rebuild" else int(kind.split(":")[1])
        services.views.rebuild(workers=workers)
        extra = {"workers": workers}
    elapsed = time.perf_counter() - start
    services.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"records": total, "seconds": elapsed, "records_per_s": total / elapsed,
            "cpu_seconds": _cpu() - cpu_before, "peak_rss_bytes": own_peak_rss(),
            "largest_child_rss_bytes": children.ru_maxrss * 1024, **extra}


def own_peak_rss() -> int:
    """This process's own peak RSS in bytes. Not `ru_maxrss` where /proc tells: Linux keeps the
    high-water mark of the process that started this one across exec (the suite, holding the
    log it had just generated, made a measurement report 439 MiB; the same command from a
    shell, 76 MiB). VmHWM is this program's own. (The workers are started by the measurement,
    whose own peak is small, so theirs are as reported.)"""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_apart(kind: str, db: Path,
                  wrap: Callable[[list[str], str], list[str]] | None = None) -> dict[str, Any]:
    """`measure(kind, db)` in a fresh process, so that its peak RSS is its own; `wrap` may
    change the command (benchmarks/profiling.py runs it under a profiler)."""
    argv = [sys.executable, __file__, "--db", str(db), "--measure", kind]
    done = subprocess.run(argv if wrap is None else wrap(argv, kind.replace(":", "-")),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rebuild measurement {kind} failed: {done.stderr[-2000:]}")
    # The measurement is the one JSON line (a profiler may print lines of its own).
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))


def warm(db: Path) -> None:
    """Read the database file, untimed, so that a measurement does not pay for bringing it from
    disk into the OS page cache. Before each measurement, not once: after another large file
    pushed it out, a first plain read took 13.1 CPU seconds against 8.8 for the one after the
    rebuilds; and these machines' page cache drains while nothing reads (seen: 2.93 GB cached
    after a read of the file, 2.63 GB a minute later), which costs a rebuild, reading a stream
    at a time, far more than the plain read in log order (a parallel rebuild 30 s after its
    file was last read: 76,164 records/s; at once after: 89,020)."""
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            with path.open("rb") as file:
                while file.read(1 << 24):
                    pass


def _cpu() -> float:
    """CPU seconds of this process and its finished workers: unlike wall time, they do not grow
    when other processes share the cores."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/trial-ledger-bench-log.db"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--participants", type=int, default=10_000, help="when generating the log")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.db)))
        return
    if not args.db.exists():
        generate(args.db, args.records, args.participants)
    results: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cores, "
                               f"Python {platform.python_version()}"}
    kinds = {"plain": "plain", "rebuild": "rebuild", "fingerprint_single": "fingerprints",
             "rebuild_parallel": f"rebuild:{args.workers}", "fingerprint_parallel": "fingerprints",
             "plain_after": "plain"}
    for name, kind in kinds.items():
        warm(args.db)  # each measurement starts with the file in the page cache (see `warm`)
        results[name] = measure_apart(kind, args.db)
    # The baseline is the mean of the plain read before and after the rebuilds, so that a change
    # in the machine's load (or in what its page cache holds) during the run moves both sides.
    plain = (results["plain"]["records_per_s"] + results["plain_after"]["records_per_s"]) / 2
    plain_cpu = (results["plain"]["cpu_seconds"] + results["plain_after"]["cpu_seconds"]) / 2
    results["plain_records_per_s_mean"] = plain
    results["rebuild_vs_plain"] = results["rebuild"]["records_per_s"] / plain
    results["rebuild_parallel_vs_plain"] = results["rebuild_parallel"]["records_per_s"] / plain
    for name in ("rebuild", "rebuild_parallel"):  # the same ratios in CPU time spent
        results[f"{name}_cpu_vs_plain"] = plain_cpu / results[name]["cpu_seconds"]
    results["same_fingerprints"] = (results["fingerprint_single"]["fingerprints"]
                                    == results["fingerprint_parallel"]["fingerprints"])
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
