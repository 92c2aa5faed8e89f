"""What every figure of the benchmark suite (suite.py) stands on: its sizes (`Scale`), the result
row (`figure`), fresh and generated ledgers with a registered investigator, and running a
`trial-ledger` command as a user would.

Imported as a top-level module from benchmarks/ (suite.py puts it on sys.path), like the other
benchmark modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import profiling
from chained_log import KeepCount, append_chained, participant_payloads

ROOT_PASS = "bench-pass-1"
LEDGER_PASS = "bench-pass-2"
PG_URL = os.environ.get("TRIAL_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PER_STREAM = 20  # records per participant in generated logs
CLI = str(Path(sys.executable).parent / "trial-ledger")


# Here rather than in suite.py (with SCALES): the figure modules need not import the entry point,
# and suite.py, loaded by `trial-ledger bench` without a sys.modules entry, cannot hold a dataclass.
@dataclass(frozen=True)
class Scale:
    p1_appends: int
    p2_batches: int
    http_clients: int
    http_seconds: float
    http_entries: int  # signed before the load starts (an upper bound on what is sent)
    small_log: int
    large_log: int
    p6_sizes: tuple[int, int]
    p7_appends: int
    crypto_seconds: float
    p9_baseline: int


def figure(name: str, what: str, ours: float, baseline: float, goal: str, met: bool, unit: str,
           baseline_is: str, notes: str = "", **extra: Any) -> dict[str, Any]:
    return {"figure": name, "what": what, "ours": ours, "baseline": baseline,
            "ratio": ours / baseline if baseline else None, "goal": goal, "met": bool(met),
            "unit": unit, "baseline_is": baseline_is, "notes": notes, **extra}


# -- ledgers and generated logs ------------------------------------------------------------
@dataclass
class Bench:
    """An initialised ledger with one registered investigator (and their API token)."""

    services: Any
    home: Path
    signer: Any
    token: str
    root_fingerprint: str
    url: str


def new_ledger(url: str, home: Path) -> Bench:
    from api.services.bootstrap import bootstrap, initialise, register_user, root_signer
    from ledger.keys import generate, public_b64
    from ledger.signer import Signer

    services = bootstrap(url)
    info = initialise(services, home=home, root_passphrase=ROOT_PASS, ledger_passphrase=LEDGER_PASS)
    key = generate()
    _, token = register_user(services, root_signer(home, ROOT_PASS), author="inv-001", name="Bench",
                             role="investigator", site="site-01",
                             public_key_b64=public_b64(key.public_key()))
    signer = Signer(key, "inv-001", "investigator", "site-01", "bench")
    return Bench(services, home, signer, token, info.root_fingerprint, url)


def open_ledger(url: str, home: Path, meta: dict[str, Any]) -> Bench:
    from api.services.bootstrap import bootstrap, load_sealer
    from ledger.keys import load_private_key
    from ledger.signer import Signer

    services = bootstrap(url)
    load_sealer(services, home, LEDGER_PASS)
    key = load_private_key(home / "keys" / "inv-001.key", LEDGER_PASS)
    return Bench(services, home, Signer(key, "inv-001", "investigator", "site-01", "bench"), "",
                 meta["root_fingerprint"], url)


def registration(signer: Any, origin: str, pid: str) -> Any:
    from ledger.entry import ZERO_HASH
    from ledger.errors import Head

    return signer.sign(ledger=origin, head=Head(f"participant/{pid}", 0, ZERO_HASH),
                       type="participant.registered", occurred_at=datetime.now(UTC),
                       payload={"participant_id": pid, "site": "site-01", "sex": "F",
                                "date_of_birth": "1961-04-02", "weight_kg": 64})


ANALYTES = [("ALT", "U/L", 40.0), ("AST", "U/L", 50.0), ("ALB", "g/L", 32.0), ("INR", "ratio", 1.3)]


payload_for = participant_payloads(ANALYTES, lambda step: f"week_{step}")


def generated_log(data: Path, records: int,
                  remake_above: int | None = None) -> tuple[Bench, dict[str, Any]]:
    """A log of about `records` records (PER_STREAM per participant), generated once and kept
    (P7's appends grow it run after run; one grown past `remake_above` is made again)."""
    from ledger.keys import save_private_key

    folder = data / f"log-{records}"
    meta_file = folder / "meta.json"
    url = f"sqlite:///{folder / 'log.db'}"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if meta.get("rules") == KeepCount.state_format:  # (a log kept by older rules is made again)
        bench = open_ledger(url, folder / "home", meta)
        bench.services.ledger.rules = KeepCount()
        if remake_above is None or bench.services.store.max_position() <= remake_above:
            return bench, meta
        bench.services.close()
    if folder.exists():
        for f in sorted(folder.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
    folder.mkdir(parents=True, exist_ok=True)
    bench = new_ledger(url, folder / "home")
    save_private_key(bench.signer.key, folder / "home" / "keys" / "inv-001.key", LEDGER_PASS)
    ledger = bench.services.ledger
    ledger.rules = KeepCount()
    participants = max(1, records // PER_STREAM)
    started = time.perf_counter()
    append_chained(ledger, bench.signer, participants=participants, per_stream=PER_STREAM,
                   pid="P-{:07d}", payload_for=payload_for, steps=10, group=500,
                   progress=lambda n: print(f"  log-{records}: {n:,} records generated "
                                            f"({time.perf_counter() - started:.0f} s)",
                                            file=sys.stderr, flush=True))
    meta = {"records": bench.services.store.max_position(), "participants": participants,
            "rules": KeepCount.state_format,
            "root_fingerprint": bench.root_fingerprint,
            "generate_s": time.perf_counter() - started}
    meta_file.write_text(json.dumps(meta))
    return bench, meta


# -- `trial-ledger` commands, as a user runs them ----------------------------------------------
def cli_env() -> dict[str, str]:
    """This environment without TRIAL_LEDGER_ settings: a command sees only its arguments."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_LEDGER_")}


def run_cli(*args: str) -> tuple[float, dict[str, Any]]:
    """`trial-ledger *args` in its own process: its wall time and its JSON report (if any)."""
    start = time.perf_counter()
    done = subprocess.run(profiling.command([CLI, *args], args[0]), capture_output=True, text=True,
                          env=cli_env(), check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"trial-ledger {' '.join(args)} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
    text = done.stdout
    # The command's JSON report (a profiler may print lines after it).
    return took, (json.JSONDecoder().raw_decode(text[text.index("{"):])[0] if "{" in text else {})
