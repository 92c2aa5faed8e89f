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
(the log's content is plausible; the decider is not what is being generated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import profiling  # noqa: E402  (beside this script)
from chained_log import LogAnything, append_chained, participant_payloads  # noqa: E402

ROOT_PASS = "bench-pass-1"
LEDGER_PASS = "bench-pass-2"
PG_URL = os.environ.get("TRIAL_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PER_STREAM = 20  # records per participant in generated logs
CLI = str(Path(sys.executable).parent / "trial-ledger")


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


SCALES = {
    "smoke": Scale(p1_appends=60, p2_batches=1, http_clients=4, http_seconds=1.5, http_entries=200,
                   small_log=400, large_log=1_200, p6_sizes=(64, 300), p7_appends=30,
                   crypto_seconds=0.2, p9_baseline=50),
    "full": Scale(p1_appends=3_000, p2_batches=6, http_clients=32, http_seconds=20.0,
                  http_entries=48_000, small_log=10_000, large_log=1_000_000,
                  p6_sizes=(10_000, 1_000_000), p7_appends=1_500, crypto_seconds=2.0,
                  p9_baseline=3_000),
}


def figure(name: str, what: str, ours: float, baseline: float, goal: str, met: bool, unit: str,
           baseline_is: str, notes: str = "", **extra: Any) -> dict[str, Any]:
    return {"figure": name, "what": what, "ours": ours, "baseline": baseline,
            "ratio": ours / baseline if baseline else None, "goal": goal, "met": bool(met),
            "unit": unit, "baseline_is": baseline_is, "notes": notes, **extra}


# -- pieces shared by the figures -------------------------------------------------------------
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
    from api.bootstrap import bootstrap, initialise, register_user, root_signer
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
    from api.bootstrap import bootstrap, load_sealer
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


def generated_log(data: Path, records: int) -> tuple[Bench, dict[str, Any]]:
    """A log of about `records` records (PER_STREAM per participant), generated once and kept."""
    from ledger.keys import save_private_key

    folder = data / f"log-{records}"
    meta_file = folder / "meta.json"
    url = f"sqlite:///{folder / 'log.db'}"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        bench = open_ledger(url, folder / "home", meta)
        bench.services.ledger.rules = LogAnything()
        return bench, meta
    if folder.exists():
        for f in sorted(folder.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
    folder.mkdir(parents=True)
    bench = new_ledger(url, folder / "home")
    save_private_key(bench.signer.key, folder / "home" / "keys" / "inv-001.key", LEDGER_PASS)
    ledger = bench.services.ledger
    ledger.rules = LogAnything()
    participants = max(1, records // PER_STREAM)
    started = time.perf_counter()
    append_chained(ledger, bench.signer, participants=participants, per_stream=PER_STREAM,
                   pid="P-{:07d}", payload_for=payload_for, steps=10, group=500,
                   progress=lambda n: print(f"  log-{records}: {n:,} records generated "
                                            f"({time.perf_counter() - started:.0f} s)",
                                            file=sys.stderr, flush=True))
    meta = {"records": bench.services.store.max_position(), "participants": participants,
            "root_fingerprint": bench.root_fingerprint,
            "generate_s": time.perf_counter() - started}
    meta_file.write_text(json.dumps(meta))
    return bench, meta


def rate_for(fn: Callable[[], object], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            fn()
        done += 20
    return done / elapsed


def _sample_message() -> tuple[bytes, Any]:
    from ledger.keys import generate
    from ledger.signer import Signer

    signer = Signer(generate(), "inv-001", "investigator", "site-01", "bench")
    sub = registration(signer, "bench", "P-0000001")
    return sub.entry.encode(), signer.key


def verify_rate(library: str, seconds: float) -> float:
    """One core's Ed25519 verifications per second of a real entry's bytes."""
    message, key = _sample_message()
    signature = key.sign(message)
    if library == "cryptography":
        public = key.public_key()
        return rate_for(lambda: public.verify(signature, message), seconds)
    import nacl.signing
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    verify_key = nacl.signing.SigningKey(raw).verify_key
    return rate_for(lambda: verify_key.verify(message, signature), seconds)


def _verify_worker(args: tuple[str, float]) -> float:
    return verify_rate(*args)


def two_core_limit(library: str, seconds: float) -> float:
    """Ed25519 verifications per second of two processes verifying at once."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return float(sum(pool.map(_verify_worker, [(library, seconds)] * 2)))


def nacl_available() -> bool:
    try:
        import nacl.signing  # noqa: F401
    except ImportError:
        return False
    return True


def es_application(env: dict[str, str]) -> Any:
    """Plain eventsourcing: an Application whose save() writes one unsigned event."""
    from eventsourcing.application import Application

    app = Application(env=env)
    participant = _es_participant()
    return app, lambda i: app.save(participant(f"P-{i:07d}", "site-01", "F", "1961-04-02", 64.0))


_ES_CLASS: list[Any] = []


def _es_participant() -> Any:
    """The baseline's aggregate, defined once per process (eventsourcing registers its topic)."""
    if not _ES_CLASS:
        from eventsourcing.domain import Aggregate

        class Participant(Aggregate):
            def __init__(self, participant_id: str, site: str, sex: str, date_of_birth: str,
                         weight_kg: float) -> None:
                self.participant_id = participant_id
                self.site, self.sex, self.date_of_birth, self.weight_kg = site, sex, date_of_birth, weight_kg

        _ES_CLASS.append(Participant)
    return _ES_CLASS[0]


# -- P1, P2 ---------------------------------------------------------------------------------
def p1(scale: Scale, folder: Path, _: dict[str, Any]) -> list[dict[str, Any]]:
    bench = new_ledger(f"sqlite:///{folder / 'p1.db'}", folder / "p1-home")
    ledger = bench.services.ledger
    subs = [registration(bench.signer, ledger.origin, f"P-{i:07d}") for i in range(scale.p1_appends)]
    app, save = es_application({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(folder / "p1-es.db")})
    ours_s = base_s = 0.0
    rounds = 3
    per = len(subs) // rounds
    for r in range(rounds):  # alternate: the machine's noise falls on both
        start = time.perf_counter()
        for sub in subs[r * per:(r + 1) * per]:
            ledger.append(sub)
        ours_s += time.perf_counter() - start
        start = time.perf_counter()
        for i in range(r * per, (r + 1) * per):
            save(i)
        base_s += time.perf_counter() - start
    app.close()
    bench.services.close()
    ours, base = per * rounds / ours_s, per * rounds / base_s
    return [figure("P1", "in-process signed append, 1 entry per call, SQLite", ours, base, ">= 0.70",
                   ours / base >= 0.70, "entries/s", "eventsourcing Application on SQLite, 1 event "
                   "per save, unsigned", "signing is the author's (not timed); each append verifies "
                   "the signature, decides, inserts, adds the leaf and signs a checkpoint")]


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


# -- P3, P8, P9: servers and a load of concurrent clients ------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, home: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_LEDGER_")}
    env["TRIAL_LEDGER_LEDGER_PASSPHRASE"] = LEDGER_PASS
    with log.open("wb") as out:
        proc = subprocess.Popen(profiling.command([CLI, "serve", "--db", url, "--home", str(home),
                                                   "--port", str(port)], f"serve-{port}"),
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    profiling.terminate(proc)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _client(port: int, token: str, bodies: list[bytes], deadline: float,
                  out: list[tuple[float, int, bool]]) -> None:
    """A keep-alive HTTP/1.1 client posting one entry per request, as lean as a client gets."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    for body in bodies:
        if time.perf_counter() >= deadline:
            break
        start = time.perf_counter()
        writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        text = await reader.readexactly(length)
        took = time.perf_counter() - start
        out.append((took, status, status == 201 and json.loads(text).get("checkpoint") is not None))
    writer.close()


def http_load(ports: list[int], token: str, bodies: list[bytes], clients: int,
              seconds: float) -> dict[str, Any]:
    shares = [bodies[i::clients] for i in range(clients)]
    out: list[tuple[float, int, bool]] = []

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_client(ports[i % len(ports)], token, shares[i], start + seconds, out)
                               for i in range(clients)))
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    ok = [t for t, status, _ in out if status == 201]
    covered = [t for t, status, checkpoint in out if status == 201 and checkpoint]
    statuses: dict[str, int] = {}
    for _, status, _ in out:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    q = statistics.quantiles(ok, n=100) if len(ok) >= 2 else [0.0] * 99
    cq = statistics.quantiles(covered, n=100) if len(covered) >= 2 else [0.0] * 99
    return {"entries_per_s": len(ok) / elapsed, "sent": len(out), "ok": len(ok),
            "statuses": statuses, "seconds": elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "with_checkpoint": len(covered), "checkpoint_p99_ms": cq[98] * 1000}


def presigned(bench: Bench, count: int, tag: str) -> list[bytes]:
    origin = bench.services.ledger.origin
    return [json.dumps(registration(bench.signer, origin, f"P-{tag}{i:06d}").__dict__).encode()
            for i in range(count)]


def p3(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    bench = new_ledger(f"sqlite:///{folder / 'p3.db'}", folder / "p3-home")
    bodies = presigned(bench, scale.http_entries, "H")
    bench.services.close()
    proc, port = start_server(bench.url, bench.home, folder / "p3-server.log")
    try:
        load = http_load([port], bench.token, bodies, scale.http_clients, scale.http_seconds)
    finally:
        stop_server(proc)
    context["p3"] = load
    base = context.get("p1_rate") or 0.0
    rate, p99 = load["entries_per_s"], load["p99_ms"]
    notes = (f"{scale.http_clients} clients, {load['ok']:,} appends in {load['seconds']:.1f} s, "
             f"p50 {load['p50_ms']:.0f} ms, p99 {p99:.0f} ms; statuses {load['statuses']}")
    return [
        figure("P3", f"HTTP appends, {scale.http_clients} concurrent clients, SQLite", rate, base,
               ">= 1,500/s, p99 <= 100 ms", rate >= 1500 and p99 <= 100, "entries/s",
               "P1's in-process append rate (one caller)", notes, p99_ms=p99),
        figure("P8", "append → covered by a signed checkpoint, p99 under P3's load",
               load["checkpoint_p99_ms"], 1000.0, "<= 1,000 ms",
               load["with_checkpoint"] == load["ok"] > 0 and load["checkpoint_p99_ms"] <= 1000, "ms",
               "the goal (1 s)", f"{load['with_checkpoint']:,} of {load['ok']:,} receipts carry "
               "their signed checkpoint; the figure is their request latency"),
    ]


def p9(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    import psycopg

    schema, es_schema = f"bench_{uuid.uuid4().hex[:8]}", f"bench_es_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE SCHEMA {es_schema}")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bench = new_ledger(f"{PG_URL}?schema={schema}", folder / "p9-home")
        bodies = presigned(bench, scale.http_entries, "G")
        bench.services.close()
        ports = []
        for i in range(2):
            proc, port = start_server(bench.url, bench.home, folder / f"p9-server-{i}.log")
            procs.append(proc)
            ports.append(port)
        load = http_load(ports, bench.token, bodies, scale.http_clients, scale.http_seconds)
        for proc in procs:
            stop_server(proc)
        procs = []
        info = psycopg.conninfo.conninfo_to_dict(PG_URL)
        app, save = es_application({
            "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": str(info["dbname"]),
            "POSTGRES_HOST": str(info.get("host", "127.0.0.1")), "POSTGRES_PORT": str(info.get("port", 5432)),
            "POSTGRES_USER": str(info.get("user", "postgres")),
            "POSTGRES_PASSWORD": str(info.get("password", "")),
            "POSTGRES_SCHEMA": es_schema, "CREATE_TABLE": "y"})
        start = time.perf_counter()
        for i in range(scale.p9_baseline):
            save(i)
        base = scale.p9_baseline / (time.perf_counter() - start)
        app.close()
    finally:
        for proc in procs:
            stop_server(proc)
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {es_schema} CASCADE")
    rate = load["entries_per_s"]
    return [figure("P9", f"HTTP appends, 2 API workers, PostgreSQL, {scale.http_clients} clients", rate,
                   base, ">= 1.0", rate / base >= 1.0, "entries/s",
                   "eventsourcing Application on the same PostgreSQL, 1 event per save, one caller",
                   f"p50 {load['p50_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms; statuses "
                   f"{load['statuses']}", p99_ms=load["p99_ms"])]


# -- P4, P5, P6, P7 on generated logs -------------------------------------------------------
def p4(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    import rebuild

    bench, _ = generated_log(Path(context["data"]), scale.large_log)
    bench.services.close()
    db = Path(bench.url.removeprefix("sqlite:///"))
    workers = os.cpu_count() or 1
    # The plain read before and after the rebuild: the baseline is their mean, so that a change
    # in the machine's load during the run moves both sides alike.
    first = rebuild.measure_apart("plain", db)
    ours = rebuild.measure_apart(f"rebuild:{workers}", db, wrap=profiling.command)
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


def _cli(*args: str) -> tuple[float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_LEDGER_")}
    start = time.perf_counter()
    done = subprocess.run(profiling.command([CLI, *args], args[0]), capture_output=True, text=True,
                          env=env, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"trial-ledger {' '.join(args)} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
    text = done.stdout
    # The command's JSON report (a profiler may print lines after it).
    return took, (json.JSONDecoder().raw_decode(text[text.index("{"):])[0] if "{" in text else {})


def p5(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    bench, meta = generated_log(Path(context["data"]), scale.large_log)
    records = bench.services.store.max_position()
    bench.services.close()
    library = "pynacl" if nacl_available() else "cryptography"
    limit = two_core_limit(library, scale.crypto_seconds)
    context["verify_2core"] = limit
    verify_s, report = _cli("verify", "--db", bench.url, "--root", meta["root_fingerprint"], "--json")
    assert report.get("ok") is True, report
    bundle = folder / "p5.bundle"
    export_s, _ = _cli("export", "bundle", str(bundle), "--db", bench.url)
    bundle_s, breport = _cli("verify-bundle", str(bundle), "--root", meta["root_fingerprint"], "--json")
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

    defaults = transparency.rate.__defaults__
    transparency.rate.__defaults__ = (max(scale.crypto_seconds, 0.2),)  # seconds per proof rate
    try:
        small, large = (transparency.measure(size, folder) for size in scale.p6_sizes)
    finally:
        transparency.rate.__defaults__ = defaults
    out = []
    for kind in ("inclusion", "consistency"):
        ours, base = large[f"{kind}_per_s"], small[f"{kind}_per_s"]
        out.append(figure("P6" if kind == "inclusion" else "P6b",
                          f"{kind} proofs from the store at {large['leaves']:,} leaves", ours, base,
                          ">= 5,000/s and >= 0.8 (flat)", ours >= 5000 and ours / base >= 0.8, "proofs/s",
                          f"the same proofs at {small['leaves']:,} leaves",
                          f"one SQLite node lookup: {small['node_lookup_per_s']:,.0f}/s at "
                          f"{small['leaves']:,}, {large['node_lookup_per_s']:,.0f}/s at {large['leaves']:,}"))
    return out


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
    small, small_meta = generated_log(data, scale.small_log)
    large, large_meta = generated_log(data, scale.large_log)
    rates: dict[str, list[float]] = {"small": [], "large": []}
    per = scale.p7_appends // 3
    for r in range(3):  # alternating rounds
        rates["small"].append(_append_rate(small, small_meta, per, r))
        rates["large"].append(_append_rate(large, large_meta, per, 100 + r))
    sizes = (small.services.store.max_position(), large.services.store.max_position())
    small.services.close()
    large.services.close()
    ours, base = statistics.median(rates["large"]), statistics.median(rates["small"])
    return [figure("P7", f"append rate (1 per call, existing streams) at {sizes[1]:,} records", ours, base,
                   ">= 0.8", ours / base >= 0.8, "entries/s", f"the same at {sizes[0]:,} records",
                   f"{PER_STREAM} records per stream in both logs; median of 3 alternating rounds of {per}")]


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
