"""Transparency-log figures, each beside a baseline measured in the same run.

- Inclusion and consistency proofs per second from the store at 10k and 1M leaves (goal >= 5k/s at
  1M, flat in n). Baseline: raw sqlite3 primary-key lookups of one Merkle node per second; a proof
  needs one query, so the ratio says how close a proof gets to a single indexed read.
- Sealing latency: append one leaf and sign a checkpoint, at 10k and 1M leaves (goal <= 1 s).
- Append → signed checkpoint through the whole ledger path (signature checks, decision, insert,
  leaf, checkpoint) on a ledger of 10k real records. Baseline: raw Ed25519 sign + verify.

    .venv/bin/python benchmarks/transparency.py [--sizes 10000 1000000] [--json out.json] [--data DIR]

With --data the built trees are kept in DIR and reused by later runs (building 1M leaves takes
about a minute); the proofs are always asked of the tree at the built size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.note import NoteSigner
from ledger.store import open_store
from ledger.tree import Tree, node_key

BATCH = 1_000  # leaves per commit; a checkpoint is signed after each


def build_tree(path: Path, size: int, signer: NoteSigner) -> tuple[Tree, list[int]]:
    """A tree of `size` synthetic leaves, with a checkpoint signed after every batch; a tree kept
    at `path` by an earlier run is reused (its later seal appends lie beyond `size`)."""
    existed = path.exists()
    store = open_store(f"sqlite:///{path}")
    tree = Tree(store)
    if existed:
        kept = [c.size for c in tree.checkpoints() if c.size <= size]
        if kept and kept[-1] == size:
            return tree, kept
        raise SystemExit(f"{path} holds another tree: remove it or choose another --data folder")
    with store.transaction() as cur:
        tree.create_tables(cur)
    sizes = []
    for start in range(0, size, BATCH):
        n = min(BATCH, size - start)
        with store.write() as cur:
            leaves = [(start + i + 1, hashlib.sha256(b"%d" % (start + i)).hexdigest(),
                       os.urandom(120)) for i in range(n)]
            border = tree.append(cur, leaves)
            tree.sign(cur, border, signer, "bench")
        tree.committed(border)
        sizes.append(border.size)
    return tree, sizes


def rate(fn: Callable[[], object], seconds: float = 2.0, batch: int = 50) -> float:
    """Calls of `fn` per second over about `seconds`, the clock read once per `batch` calls."""
    return rates(fn, seconds, batch)[0]


def rates(fn: Callable[[], object], seconds: float = 2.0, batch: int = 50) -> tuple[float, float]:
    """Calls of `fn` per wall-clock second and per second of this process's CPU time: on a
    machine shared with other work the second is the steadier (it leaves out time spent waiting
    for a core)."""
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        done += batch
    return done / elapsed, done / max(time.process_time() - cpu, 1e-9)


def measure(size: int, folder: Path, seconds: float = 2.0) -> dict[str, float]:
    """Proof rates, a node lookup's rate and seal latency for a tree of `size` leaves in `folder`."""
    signer = NoteSigner("bench", Ed25519PrivateKey.generate())
    path = folder / f"tree-{size}.db"
    reused = path.exists()
    t0 = time.perf_counter()
    tree, sizes = build_tree(path, size, signer)
    build = time.perf_counter() - t0
    rnd = random.Random(size)
    # Steady state: a fresh Tree first reads the upper levels' chunks it keeps (at 1M leaves about
    # a thousand range reads, some 0.1 s), so a quarter second of each kind of proof runs untimed first.
    rate(lambda: tree.inclusion_proof(rnd.randrange(size), size), min(seconds, 0.5) / 2)
    inclusion, inclusion_cpu = rates(lambda: tree.inclusion_proof(rnd.randrange(size), size), seconds)
    olds = sizes[:-1] or sizes  # (chosen from outside the timed call: a copy per call costs O(n))
    rate(lambda: tree.consistency_proof(rnd.choice(olds), size), min(seconds, 0.5) / 2)
    consistency, consistency_cpu = rates(lambda: tree.consistency_proof(rnd.choice(olds), size), seconds)
    conn = sqlite3.connect(folder / f"tree-{size}.db")
    top = size.bit_length()
    baseline = rate(lambda: conn.execute("SELECT hash FROM merkle_nodes WHERE node = ?", (
        node_key(lv := rnd.randrange(top), rnd.randrange(max(1, size >> lv))),)).fetchone(), seconds)
    conn.close()
    latencies = []
    grown = tree.size()  # (a kept tree has had earlier runs' seal appends)
    for i in range(grown, grown + 200):
        start = time.perf_counter()
        with tree.store.write() as cur:
            border = tree.append(cur, [(i + 1, hashlib.sha256(b"x%d" % i).hexdigest(),
                                        os.urandom(120))])
            tree.sign(cur, border, signer, "bench")
        tree.committed(border)
        latencies.append(time.perf_counter() - start)
    # the proofs served at speed are right: a client's checks of some of each, against the roots
    root = tree.checkpoint(size).root
    with closing(sqlite3.connect(path)) as check:
        for index in [0, size - 1, *(rnd.randrange(size) for _ in range(50))]:
            leaf = check.execute("SELECT hash FROM merkle_nodes WHERE node = ?", (node_key(0, index),))
            merkle.verify_inclusion(index, size, leaf.fetchone()[0], tree.inclusion_proof(index, size), root)
    for old in [*rnd.sample(olds, min(50, len(olds))), olds[0]]:
        merkle.verify_consistency(old, size, tree.checkpoint(old).root, root,
                                  tree.consistency_proof(old, size))
    tree.store.close()
    q = statistics.quantiles(latencies, n=100)
    return {"leaves": size, "build_s": build, "reused_tree": float(reused), "inclusion_per_s": inclusion,
            "consistency_per_s": consistency, "inclusion_per_cpu_s": inclusion_cpu,
            "consistency_per_cpu_s": consistency_cpu, "node_lookup_per_s": baseline,
            "inclusion_vs_lookup": inclusion / baseline, "consistency_vs_lookup": consistency / baseline,
            "seal_p50_ms": q[49] * 1000, "seal_p99_ms": q[98] * 1000}


def ledger_append(folder: Path, records: int) -> dict[str, float]:
    """Append → signed checkpoint through the whole ledger path, after `records` records."""
    from datetime import UTC, datetime

    from api.services.bootstrap import bootstrap, initialise, register_user, root_signer
    from ledger.keys import generate, public_b64
    from ledger.signer import Signer

    services = bootstrap(f"sqlite:///{folder / 'ledger.db'}")
    initialise(services, home=folder / "home", root_passphrase="bench-pass-1",
               ledger_passphrase="bench-pass-2")
    key = generate()
    register_user(services, root_signer(folder / "home", "bench-pass-1"), author="inv-001",
                  name="Bench", role="investigator", site="site-01",
                  public_key_b64=public_b64(key.public_key()))
    signer = Signer(key, "inv-001", "investigator", "site-01", "bench")
    ledger = services.ledger

    def one(n: int) -> float:
        stream = f"participant/P-{n:06d}"
        sub = signer.sign(ledger=ledger.origin, head=ledger.head(stream), type="participant.registered",
                          occurred_at=datetime.now(UTC),
                          payload={"participant_id": f"P-{n:06d}", "site": "site-01", "sex": "F",
                                   "date_of_birth": "1961-04-02", "weight_kg": 64})
        start = time.perf_counter()
        receipt = ledger.append(sub)
        took = time.perf_counter() - start
        assert receipt.checkpoint is not None
        return took

    for n in range(records):
        one(n)
    latencies = [one(records + n) for n in range(300)]
    message = b"x" * 400
    pub = key.public_key()
    ed = rate(lambda: pub.verify(key.sign(message), message))
    services.close()
    q = statistics.quantiles(latencies, n=100)
    return {"records": records, "append_to_checkpoint_p50_ms": q[49] * 1000,
            "append_to_checkpoint_p99_ms": q[98] * 1000, "appends_per_s": 1 / statistics.mean(latencies),
            "ed25519_sign_verify_per_s": ed,
            "append_vs_sign_verify": (1 / statistics.mean(latencies)) / ed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data", type=Path, help="keep the built trees here and reuse them")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": f"{platform.machine()} {os.cpu_count()} cores, "
                                  f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trees = args.data or folder
        trees.mkdir(parents=True, exist_ok=True)
        results["proofs"] = [measure(size, trees) for size in args.sizes]
        results["ledger"] = ledger_append(folder, args.records)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
