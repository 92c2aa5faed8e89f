"""Floors: the per-record cost of each step the formats and the rules oblige, side by side in one
run, and the ceiling ratio they allow P2, P4, P5 and P5b.

    .venv/bin/python benchmarks/floors.py [--quick] [--count N] [--rounds R] [--json FILE]

Method. A temporary folder gets two ledgers made by the project's own code with the suite's
fixtures (floors_fixture.py): a trial ledger with the trial set up and the trial's rules, with
`--count` registrations signed for it as P2 signs them; and a log of about `--count` records
made by the suite's recipe for the P4/P5 logs (20 records per participant), exported as a
bundle. Each step (floors_steps.py, floors_reading.py) is a call of the project's code, or of the library it
calls, over those records, timed by `time.perf_counter` and `time.process_time` for `--rounds`
rounds; the median per record, in microseconds. A step that needs a transaction, a fresh
database or fresh entries gets them before its clock starts.

A figure's floor is the sum of the steps it cannot do without: for P2, parsing the entry and
payload with their canonical-form checks and the payload digest, the Ed25519 check, the trial's
rules deciding a registration from its stream's state, the sealed record's RFC 8785 text, the
record and leaf hashes and the tree's interior nodes, a plain `executemany` of the rows and
its commit, a signed checkpoint per 1,000; for P5, reading the rows, parsing them with every
check, the hashes and digest, the Ed25519 check and the replay (chains, time order, key
registry, tree); P5b as P5 but reading bundle lines, plus folding the views (the command
prints their fingerprints); for P4, reading the rows, decoding them (the trusted reader), and
the views' fold from zero with its documents and rows. Everything else the code does (the
stored layer's JSON text, leaf and node rows, stream states, the workers' frames) is shown
beside it as the path as built, with the measured whole where one step is the whole.

The ceiling is the suite's ratio (our rate / baseline rate) the floor allows: the baselines are
measured in the same run (one core's libsodium verify as the suite calls it; two processes
verifying at once; eventsourcing's read + `json.loads` of the same rows). With two cores the
work can at best be shared: the time per record is at least half the sum, and at least the
part that must run in order in one process (P2: everything but the signature check; P5: the
replay). The figures are given twice: by CPU time (commits by the wall clock: their wait is
their cost), with the 2-core verify limit taken as twice one core's, the steadier on a shared
machine; and by the wall clock, with the two processes' measured rate, as the suite measures.

What a floor is not: each step is timed on its own, over a list of records, warm; inside the
real path the same calls meet colder caches and the collector's passes over the batch's
objects, and cost more (`decide_ledger` against its parts shows how much). A floor is a lower
bound on the work, so its ceiling is an upper bound on the ratio. Compare the steps of one run
with each other, not across runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from floors_fixture import Fixture, build  # noqa: E402  (beside this script)
from floors_reading import read_steps  # noqa: E402
from floors_steps import Timed, append_steps, sized  # noqa: E402

#: step -> what it is (the table's second column).
WHAT = {
    "ed25519_baseline": "libsodium verify as the suite's baseline calls it (PyNaCl)",
    "ed25519_raw": "libsodium crypto_sign_open, raw key bytes kept",
    "ed25519_verify": "ledger.keys.signature_valid (what the ledger calls)",
    "prepare": "ledger.prepared.prepare: entry + payload parse, checks, digest",
    "entry_parse": "  of which Entry.parse with its field checks",
    "payload_parse": "  of which parse_canonical of the payload",
    "payload_digest": "  of which SHA-256(salt + payload)",
    "canonical_entry": "RFC 8785 text of an entry's fields (signer's side)",
    "seal": "Record.seal: RFC 8785 text of the sealed record",
    "stored_bytes": "Record.stored_bytes: RFC 8785 text of the stored layer",
    "record_hash": "SHA-256 of the sealed bytes (record hash)",
    "leaf_hash": "RFC 9162 leaf hash of the sealed bytes",
    "tree_nodes": "RFC 9162 interior nodes as leaves are added",
    "decide_registration": "TrialRules.decide_on, a registration",
    "decide_consent": "TrialRules.decide_on, a consent",
    "decide_lab": "TrialRules.decide_on, a lab result",
    "initial_state": "TrialRules.fold of no history (a new stream's state)",
    "head_lookup": "Store.last_row of a new stream, in the write transaction",
    "state_lookup": "Store.stream_state of a new stream, the same",
    "state_dump": "TrialRules.dump_state of a decided state (kept states)",
    "decide_ledger": "Deciding.decide: head, state, key, seal, rules",
    "insert": "SQLiteStore.insert of a batch's rows",
    "tree_append": "Tree.append: leaf hash, nodes, leaf and node rows",
    "commit": "the batch's commit",
    "raw_insert": "plain sqlite3 executemany, same rows and table",
    "raw_commit": "  its commit",
    "checkpoint_sign": "a signed checkpoint (per checkpoint, not per record)",
    "append_batch": "Ledger.append_batch, whole (P2 as built)",
    "append_batch_gc_paused": "the same, the cyclic GC paused for the call",
    "read_rows": "Store.log_rows, pages of 1,000",
    "plain_read_json": "eventsourcing read + json.loads (P4's baseline)",
    "json_loads": "json.loads of the stored bytes",
    "from_stored": "Record.from_stored with every check",
    "read_trusted": "ledger.trusted.read_trusted",
    "verify_record_hash": "SHA-256 of the sealed bytes, stored records",
    "verify_leaf_hash": "leaf hash, stored records",
    "verify_digest": "payload digest check, stored records",
    "verify_ed25519": "signature_valid over stored records",
    "worker_wire": "Worker.wire: a verify worker's whole per-row work",
    "worker_ipc": "the workers' frames, marshal out and in",
    "from_wire": "the parent's from_wire / reparse",
    "replay": "the parent's replay: chain, time, keys, tree",
    "verify_in_process": "verify_log in one process, whole",
    "bundle_line": "a bundle line read (read_line + record_row)",
    "payload_parse_trusted": "a stored payload parsed for the views",
    "fold_apply": "projections.fold.apply, every view",
    "view_documents": "participants' and scores' documents from the states",
    "view_rows": "every view's rows: canonical text and insert",
    "fold_into": "fold from zero with documents and rows, whole",
    "rebuild_share": "a rebuild worker's share: read by stream, decode, fold_into",
}

#: Steps whose waiting is their cost (a commit waits for the disk): by the wall clock in either sum.
WAITS = frozenset({"commit", "raw_commit"})
CHECKPOINT_BATCH = 1000  # P2's entries per call: one signed checkpoint each


def measured_ratios() -> dict[str, float]:
    """The suite's measured ratios (benchmarks/results/suite.json), where it has them."""
    path = ROOT / "benchmarks" / "results" / "suite.json"
    try:
        figures = json.loads(path.read_text())["figures"]
    except (OSError, ValueError, KeyError):
        return {}
    return {f["figure"]: f["ratio"] for f in figures if f.get("ratio") is not None}


def figures(steps: dict[str, Timed], verify_2core: float, clock: str) -> dict[str, dict[str, Any]]:
    """Each figure's floor, the path as built, and the ceilings, from `clock` ("wall" or "cpu")."""
    def us(name: str, per: float = 1.0) -> float:
        t = steps[name]
        return (t.wall_us if clock == "wall" or name in WAITS else t.cpu_us) / per

    def parts(names: list[str]) -> dict[str, float]:
        return {n: us(n, CHECKPOINT_BATCH) if n == "checkpoint_sign" else us(n) for n in names}

    base_1 = us("ed25519_baseline")  # µs per verify on one core: the suite's P2 baseline rate 1e6/base_1
    plain = us("plain_read_json")
    out: dict[str, dict[str, Any]] = {}

    p2 = parts(["prepare", "ed25519_verify", "head_lookup", "decide_registration", "seal", "record_hash",
                "leaf_hash", "tree_nodes", "raw_insert", "raw_commit", "checkpoint_sign"])
    p2_sum = sum(p2.values())
    serial = p2_sum - p2["ed25519_verify"]
    out["P2"] = _figure(p2, base_1 / p2_sum, base_1 / max(serial, p2_sum / 2),
                        parts(["prepare", "ed25519_verify", "decide_ledger", "stored_bytes", "record_hash",
                               "tree_append", "insert", "commit", "checkpoint_sign"]),
                        us("append_batch"), f"one core's libsodium verify, {1e6 / base_1:,.0f}/s")

    # Verifications per second of two processes at once: measured by the wall clock (the
    # suite's baseline); by CPU time, twice one core's (on an idle machine the suite measures
    # the two alike: 49,800/s against 2 x 24,280/s on 2026-12-07).
    two = verify_2core if clock == "wall" else 2e6 / base_1
    p5 = parts(["read_rows", "from_stored", "verify_record_hash", "verify_leaf_hash", "verify_digest",
                "verify_ed25519", "replay"])
    out["P5"] = _verify_figure(p5, two, parts(["read_rows", "worker_wire", "worker_ipc", "from_wire",
                                               "replay"]), us("verify_in_process"))
    p5b = {**{k: v for k, v in p5.items() if k != "read_rows"},
           **parts(["bundle_line", "fold_apply", "view_documents", "view_rows"])}
    out["P5b"] = _verify_figure(p5b, two, parts(["bundle_line", "worker_wire", "worker_ipc", "from_wire",
                                                 "replay", "read_trusted", "fold_into"]), None)

    p4 = parts(["read_rows", "read_trusted", "fold_apply", "view_documents", "view_rows"])
    p4_sum = sum(p4.values())
    out["P4"] = _figure(p4, plain / p4_sum, 2 * plain / p4_sum,
                        parts(["read_rows", "read_trusted", "fold_into"]),
                        us("rebuild_share"),
                        f"eventsourcing read + json.loads, {1e6 / plain:,.0f}/s")
    measured = measured_ratios()
    for name, fig in out.items():
        fig["suite_ratio"] = measured.get(name)
    return out


def _figure(floor: dict[str, float], one: float, two: float, built: dict[str, float],
            whole: float | None, baseline: str) -> dict[str, Any]:
    return {"floor": floor, "floor_us": sum(floor.values()), "ceiling_1core": one, "ceiling_2core": two,
            "as_built": built, "as_built_us": sum(built.values()), "measured_whole_us": whole,
            "baseline": baseline}


def _verify_figure(floor: dict[str, float], two_core: float, built: dict[str, float],
                   whole: float | None) -> dict[str, Any]:
    """Against the 2-core verify limit: one process at best 1e6/sum records/s; two at best
    2e6/sum, and never faster than the replay, which runs in order in one process."""
    total = sum(floor.values())
    return _figure(floor, 1e6 / total / two_core, 1e6 / max(total / 2, floor["replay"]) / two_core,
                   built, whole, f"2-core libsodium verify limit, {two_core:,.0f}/s")


def table(steps: dict[str, Timed], by_cpu: dict[str, dict[str, Any]],
          by_wall: dict[str, dict[str, Any]]) -> str:
    """The steps, then each figure: its floor by CPU time (commits by the wall clock), the same
    sums by the wall clock in brackets, the ceilings and the suite's measured ratio."""
    lines = [f"{'step':<22} {'what':<60} {'wall µs':>8} {'cpu µs':>8}"]
    lines += [f"{t.step:<22} {WHAT.get(t.step, ''):<60} {t.wall_us:>8.2f} {t.cpu_us:>8.2f}"
              for t in steps.values()]
    for name, fig in by_cpu.items():
        wall = by_wall[name]
        measured = fig["suite_ratio"]
        lines += ["", f"{name}: baseline {fig['baseline']} (wall: {wall['baseline']})",
                  "  floor:    " + ", ".join(f"{k} {v:.1f}" for k, v in fig["floor"].items()),
                  f"  floor sum {fig['floor_us']:.1f} µs/record (wall {wall['floor_us']:.1f}): ceiling "
                  f"ratio one core {fig['ceiling_1core']:.2f} ({wall['ceiling_1core']:.2f}), two cores "
                  f"{fig['ceiling_2core']:.2f} ({wall['ceiling_2core']:.2f}); suite measured "
                  + ("-" if measured is None else f"{measured:.2f}"),
                  "  as built: " + ", ".join(f"{k} {v:.1f}" for k, v in fig["as_built"].items()),
                  f"  as built sum {fig['as_built_us']:.1f} µs/record (wall {wall['as_built_us']:.1f})"
                  + ("" if fig["measured_whole_us"] is None else
                     f"; measured whole {fig['measured_whole_us']:.1f} ({wall['measured_whole_us']:.1f})")]
    return "\n".join(lines)


def checks(fx: Fixture) -> dict[str, bool]:
    """The ledgers the steps ran on verify (the trial ledger after P2's batches too)."""
    from ledger.bundle import BundleReader
    from ledger.tree import iter_leaves
    from ledger.verify import verify_log
    from ledger.verify_sources import BundleRows, StoreRows

    found = {}
    for name, bench in (("log_verifies", fx.log), ("trial_verifies", fx.trial)):
        tree = bench.services.ledger.tree
        report = verify_log(StoreRows(bench.services.store), checkpoints=[c.note for c in tree.checkpoints()],
                            leaves=iter_leaves(tree), root=bench.root_fingerprint, workers=0)
        found[name] = report.ok and report.records == bench.services.store.max_position()
    reader = BundleReader(fx.bundle)
    try:
        report = verify_log(BundleRows(reader), checkpoints=reader.checkpoints, root=fx.log.root_fingerprint,
                            workers=0)
    finally:
        reader.close()
    found["bundle_verifies"] = report.ok and report.records == len(fx.rows)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds): 100 records, 2 rounds")
    parser.add_argument("--count", type=int, default=None, help="registrations and log records (2000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per step (5)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    count = args.count or (100 if args.quick else 2000)
    rounds = args.rounds or (2 if args.quick else 5)
    started, load_before = time.perf_counter(), os.getloadavg()
    from suite_baselines import nacl_available, two_core_limit

    if not nacl_available():
        raise SystemExit("floors: PyNaCl is not installed; the verify steps need libsodium")
    with tempfile.TemporaryDirectory(prefix="trial-ledger-floors-") as tmp:
        fx = build(Path(tmp), count)
        # The fixture's own objects are left out of the collector's passes: a step's collections
        # scan what the step makes, as in a process holding nothing else.
        gc.collect()
        gc.freeze()
        try:
            timed = [*append_steps(fx, rounds), *read_steps(fx, rounds)]
            steps = {t.step: t for t in timed}
            two = two_core_limit("pynacl", 0.3 if args.quick else 2.0)
            by_cpu, by_wall = figures(steps, two, "cpu"), figures(steps, two, "wall")
            result: dict[str, Any] = {
                "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"python": platform.python_version(), "cores": os.cpu_count(),
                            "platform": platform.platform()},
                "rounds": rounds, "sizes": {k: v for k, v in sized(fx).items() if k != "folder"},
                "steps": {t.step: {"what": WHAT.get(t.step, ""), "wall_us": t.wall_us, "cpu_us": t.cpu_us,
                                   "records": t.records, "rounds": t.rounds} for t in timed},
                "verify_2core_per_s": two,
                "figures": by_cpu, "figures_by_wall": by_wall,
                "checks": checks(fx),
            }
        finally:
            fx.close()
    result["seconds"] = time.perf_counter() - started
    # Other work on the machine shows as wall time above CPU time; the load says how much there was.
    result["load_average_1min"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    print(table(steps, by_cpu, by_wall))
    load = result["load_average_1min"]
    print(f"\nchecks: {result['checks']}; {result['seconds']:.0f} s; load average "
          f"{load['before']:.1f} before, {load['after']:.1f} after")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
