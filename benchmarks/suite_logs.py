"""Figures of the benchmark suite over a whole large log: P4 (rebuild of every view), P5
(`trial-ledger verify` and `verify-bundle`) and P6 (transparency-log proofs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import profiling
from suite_baselines import nacl_available, two_core_limit
from suite_fixtures import Scale, figure, generated_log, run_cli


def p4(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    import rebuild

    bench, _ = generated_log(Path(context["data"]), scale.large_log)
    bench.services.close()
    db = Path(bench.url.removeprefix("sqlite:///"))
    workers = os.cpu_count() or 1
    # The plain read before and after the rebuild: the baseline is their mean, so that a change
    # in the machine's load during the run moves both sides alike. Each starts with the file in
    # the page cache (`rebuild.warm`).
    rebuild.warm(db)
    first = rebuild.measure_apart("plain", db)
    rebuild.warm(db)
    ours = rebuild.measure_apart(f"rebuild:{workers}", db, wrap=profiling.command)
    rebuild.warm(db)
    second = rebuild.measure_apart("plain", db)
    base = (first["records_per_s"] + second["records_per_s"]) / 2
    rate = ours["records_per_s"]
    rss = ours["peak_rss_bytes"] + (workers * ours["largest_child_rss_bytes"] if workers > 1 else 0)
    cpu = (first["cpu_seconds"] + second["cpu_seconds"]) / 2 / ours["cpu_seconds"]
    return [figure("P4", f"rebuild of all views from {ours['records']:,} records, {workers} workers",
                   rate, base, ">= 30,000/s, >= 0.7, peak RSS <= 1 GiB",
                   rate >= 30_000 and rate / base >= 0.7 and rss <= 1 << 30, "records/s",
                   "eventsourcing's notification log read and each state decoded by json.loads "
                   "(mean of one run before and one after)",
                   f"peak RSS at most {rss / 2**20:,.0f} MiB (parent + {workers} × the largest worker); "
                   f"ratio in CPU seconds {cpu:.2f}; plain runs {first['records_per_s']:,.0f} and "
                   f"{second['records_per_s']:,.0f}/s", peak_rss_bytes=rss, cpu_ratio=cpu)]


def p5(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    bench, meta = generated_log(Path(context["data"]), scale.large_log)
    records = bench.services.store.max_position()
    bench.services.close()
    library = "pynacl" if nacl_available() else "cryptography"
    limit = two_core_limit(library, scale.crypto_seconds)
    context["verify_2core"] = limit
    verify_s, report = run_cli("verify", "--db", bench.url, "--root", meta["root_fingerprint"], "--json")
    assert report.get("ok") is True, report
    bundle = folder / "p5.bundle"
    export_s, _ = run_cli("export", "bundle", str(bundle), "--db", bench.url)
    bundle_s, breport = run_cli("verify-bundle", str(bundle), "--root", meta["root_fingerprint"], "--json")
    assert breport.get("ok") is True, breport
    bundle.unlink()
    out = []
    for cmd, took in (("verify", verify_s), ("verify-bundle", bundle_s)):
        rate = records / took
        out.append(figure("P5" if cmd == "verify" else "P5b", f"`trial-ledger {cmd}` of {records:,} records",
                          rate, limit, ">= 0.8", rate / limit >= 0.8, "records/s",
                          f"2-core Ed25519 verify limit ({library}, two processes at once)",
                          f"{took:.1f} s including the command's start; export bundle took {export_s:.1f} s"))
    return out


def p6(scale: Scale, folder: Path, _: dict[str, Any]) -> list[dict[str, Any]]:
    import transparency

    seconds = max(scale.crypto_seconds, 0.2)  # per proof rate
    small, large = (transparency.measure(size, folder, seconds) for size in scale.p6_sizes)
    out = []
    for kind in ("inclusion", "consistency"):
        ours, base = large[f"{kind}_per_s"], small[f"{kind}_per_s"]
        out.append(figure("P6" if kind == "inclusion" else "P6b",
                          f"{kind} proofs from the store at {large['leaves']:,} leaves", ours, base,
                          ">= 5,000/s and >= 0.9 (flat)", ours >= 5000 and ours / base >= 0.9, "proofs/s",
                          f"the same proofs at {small['leaves']:,} leaves",
                          f"one SQLite node lookup: {small['node_lookup_per_s']:,.0f}/s at "
                          f"{small['leaves']:,}, {large['node_lookup_per_s']:,.0f}/s at {large['leaves']:,}"))
    return out
