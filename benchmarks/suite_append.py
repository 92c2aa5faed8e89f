"""In-process append figures of the benchmark suite: P1 (one signed entry per call), P2 (batches
of 1,000) and P7 (appends to existing streams of the large log beside the small one)."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import proc_cpu
from suite_baselines import es_application, nacl_available, verify_rate
from suite_fixtures import (
    PER_STREAM,
    Bench,
    Scale,
    figure,
    generated_log,
    new_ledger,
    payload_for,
    registration,
)


def p1(scale: Scale, folder: Path, _: dict[str, Any]) -> list[dict[str, Any]]:
    bench = new_ledger(f"sqlite:///{folder / 'p1.db'}", folder / "p1-home")
    ledger = bench.services.ledger
    subs = [registration(bench.signer, ledger.origin, f"P-{i:07d}") for i in range(scale.p1_appends)]
    app, save = es_application({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(folder / "p1-es.db")})
    ours_s = base_s = 0.0
    written = {"ours": 0, "base": 0}  # bytes sent to storage: what each commit costs the disk
    rounds = 3
    per = len(subs) // rounds
    for r in range(rounds):  # alternate: the machine's noise falls on both
        start, disk = time.perf_counter(), proc_cpu.written_bytes() or 0
        for sub in subs[r * per:(r + 1) * per]:
            ledger.append(sub)
        ours_s += time.perf_counter() - start
        written["ours"] += (proc_cpu.written_bytes() or 0) - disk
        start, disk = time.perf_counter(), proc_cpu.written_bytes() or 0
        for i in range(r * per, (r + 1) * per):
            save(i)
        base_s += time.perf_counter() - start
        written["base"] += (proc_cpu.written_bytes() or 0) - disk
    app.close()
    bench.services.close()
    ours, base = per * rounds / ours_s, per * rounds / base_s
    kib = {side: b / 1024 / (per * rounds) for side, b in written.items()}
    disk_note = (f"; written to storage per entry {kib['ours']:.1f} KiB against the baseline's "
                 f"{kib['base']:.1f} KiB (one commit each)" if proc_cpu.written_bytes() is not None
                 else "")
    return [figure("P1", "in-process signed append, 1 entry per call, SQLite", ours, base, ">= 0.70",
                   ours / base >= 0.70, "entries/s", "eventsourcing Application on SQLite, 1 event "
                   "per save, unsigned", "signing is the author's (not timed); each append verifies "
                   "the signature, decides, inserts, adds the leaf and signs a checkpoint"
                   + disk_note, written_kib_per_entry=kib)]


def p2(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    bench = new_ledger(f"sqlite:///{folder / 'p2.db'}", folder / "p2-home")
    ledger = bench.services.ledger
    batches = [[registration(bench.signer, ledger.origin, f"P-{b:03d}{i:04d}") for i in range(1000)]
               for b in range(scale.p2_batches)]
    took = 0.0
    for batch in batches:
        start = time.perf_counter()
        receipts = ledger.append_batch(batch)
        took += time.perf_counter() - start
        assert len(receipts) == 1000
    bench.services.close()
    ours = 1000 * len(batches) / took
    crypto = verify_rate("cryptography", scale.crypto_seconds)
    nacl = verify_rate("pynacl", scale.crypto_seconds) if nacl_available() else 0.0
    context["verify_1core"] = {"cryptography": crypto, "pynacl": nacl}
    base = nacl or crypto
    return [figure("P2", "batch import, 1,000 signed entries per call, SQLite", ours, base, ">= 0.60",
                   ours / base >= 0.60, "entries/s",
                   "one core's Ed25519 verify rate, libsodium (PyNaCl)" if nacl else
                   "one core's Ed25519 verify rate, cryptography (PyNaCl not installed)",
                   f"cryptography verifies {crypto:,.0f}/s, PyNaCl {nacl:,.0f}/s on one core")]



def _append_rate(bench: Bench, meta: dict[str, Any], count: int, seed: int) -> float:
    ledger = bench.services.ledger
    rnd = random.Random(seed)
    took = 0.0
    for _ in range(count):
        n = rnd.randrange(meta["participants"])
        stream = f"participant/P-{n:07d}"
        head = ledger.head(stream)
        kind, payload = payload_for(head.version, f"P-{n:07d}")
        sub = bench.signer.sign(ledger=ledger.origin, head=head, type=kind, payload=payload,
                                occurred_at=datetime.now(UTC))
        start = time.perf_counter()
        ledger.append(sub)
        took += time.perf_counter() - start
    return count / took


def p7(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    data = Path(context["data"])
    small, small_meta = generated_log(data, scale.small_log, remake_above=scale.small_log * 3 // 2)
    large, large_meta = generated_log(data, scale.large_log)
    rates: dict[str, list[float]] = {"small": [], "large": []}
    per = scale.p7_appends // 3
    # Untimed first: both databases read through the page cache (the figures before P7 fill it
    # with other databases, and a server's log stays in it), then a short round each.
    for bench in (small, large):
        _read_through(Path(bench.services.store.path))
    _append_rate(small, small_meta, max(per // 5, 1), 50)
    _append_rate(large, large_meta, max(per // 5, 1), 150)
    for r in range(3):  # alternating rounds
        rates["small"].append(_append_rate(small, small_meta, per, r))
        rates["large"].append(_append_rate(large, large_meta, per, 100 + r))
    sizes = (small.services.store.max_position(), large.services.store.max_position())
    small.services.close()
    large.services.close()
    ours, base = statistics.median(rates["large"]), statistics.median(rates["small"])
    return [figure("P7", f"append rate (1 per call, existing streams) at {sizes[1]:,} records", ours, base,
                   ">= 0.8", ours / base >= 0.8, "entries/s", f"the same at {sizes[0]:,} records",
                   f"{PER_STREAM} records per stream in both logs; median of 3 alternating rounds of {per}, "
                   "after both databases were read through the page cache and a short untimed round")]


def _read_through(path: Path) -> None:
    """Read a database file (and its WAL) once, so that its pages are in the OS page cache."""
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            with file.open("rb") as f:
                while f.read(1 << 24):
                    pass
