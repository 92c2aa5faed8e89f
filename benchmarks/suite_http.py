"""HTTP figures of the benchmark suite: `trial-ledger serve` processes under a load of concurrent
keep-alive clients. P3 and P8 (one server over SQLite), P9 (two servers on one PostgreSQL schema)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import proc_cpu
import profiling
from suite_baselines import es_application
from suite_fixtures import CLI, LEDGER_PASS, PG_URL, Bench, Scale, cli_env, figure, new_ledger, registration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, home: Path, log: Path,
                 workers: int = 1) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    return _started([CLI, "serve", "--db", url, "--home", str(home), "--port", str(port),
                     "--workers", str(workers)], f"serve-{port}", port, log), port


def start_floor(token: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The HTTP stack alone (benchmarks/http_floor.py), answering P3's clients."""
    port = free_port()
    return _started([sys.executable, str(Path(__file__).with_name("http_floor.py")), "--port",
                     str(port), "--token", token], f"floor-{port}", port, log), port


def _started(command: list[str], name: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = cli_env()
    env["TRIAL_LEDGER_LEDGER_PASSPHRASE"] = LEDGER_PASS
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                      env.get("PYTHONPATH")]))
    with log.open("wb") as out:
        proc = subprocess.Popen(profiling.command(command, name), env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
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
              seconds: float, servers: list[int] | None = None,
              database: str | None = None) -> dict[str, Any]:
    """The load, and the CPU seconds each side spent on it: the servers (`servers`: their pids,
    with everything they started), the clients (this process) and the database's processes
    (`database`: their command name)."""
    shares = [bodies[i::clients] for i in range(clients)]
    out: list[tuple[float, int, bool]] = []
    cpu_before = _cpu_reading(servers or [], database)

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_client(ports[i % len(ports)], token, shares[i], start + seconds, out)
                               for i in range(clients)))
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    cpu = _cpu_spent(cpu_before, _cpu_reading(servers or [], database))
    ok = [t for t, status, _ in out if status == 201]
    covered = [t for t, status, checkpoint in out if status == 201 and checkpoint]
    statuses: dict[str, int] = {}
    for _, status, _ in out:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    q = statistics.quantiles(ok, n=100) if len(ok) >= 2 else [0.0] * 99
    cq = statistics.quantiles(covered, n=100) if len(covered) >= 2 else [0.0] * 99
    return {"entries_per_s": len(ok) / elapsed, "sent": len(out), "ok": len(ok),
            "statuses": statuses, "seconds": elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "with_checkpoint": len(covered), "checkpoint_p99_ms": cq[98] * 1000,
            **_per_entry(cpu, len(ok))}


def _cpu_reading(servers: list[int], database: str | None) -> dict[str, Any]:
    return {"server": proc_cpu.tree_seconds(servers), "client": time.process_time(),
            "database": proc_cpu.command_seconds(database) if database else {}}


def _cpu_spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    return {"server": proc_cpu.spent(before["server"], after["server"]),
            "client": after["client"] - before["client"],
            "database": proc_cpu.spent(before["database"], after["database"])}


def _per_entry(cpu: dict[str, float], entries: int) -> dict[str, Any]:
    """CPU milliseconds per appended entry on each side, and the rate the machine's cores could
    give if they did nothing else: cores / (CPU seconds per entry, every side together)."""
    if not proc_cpu.available() or entries == 0:
        return {}
    per = {side: seconds * 1000 / entries for side, seconds in cpu.items()}
    total = sum(per.values())
    cores = os.cpu_count() or 1
    return {"cpu_ms_per_entry": {**per, "total": total}, "cpu_ceiling_per_s": cores * 1000 / total
            if total else None}


def cpu_note(load: dict[str, Any]) -> str:
    """The CPU line of a figure's notes (empty where it was not measured)."""
    per = load.get("cpu_ms_per_entry")
    if not per:
        return ""
    sides = ", ".join(f"{side} {ms:.2f}" for side, ms in per.items() if side != "total" and ms > 0)
    return (f"; CPU per entry {per['total']:.2f} ms ({sides}): {os.cpu_count()} cores give at "
            f"most {load['cpu_ceiling_per_s']:,.0f}/s")


def presigned(bench: Bench, count: int, tag: str) -> list[bytes]:
    origin = bench.services.ledger.origin
    return [json.dumps(registration(bench.signer, origin, f"P-{tag}{i:06d}").__dict__).encode()
            for i in range(count)]


def p3(scale: Scale, folder: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    bench = new_ledger(f"sqlite:///{folder / 'p3.db'}", folder / "p3-home")
    bodies = presigned(bench, scale.http_entries, "H")
    bench.services.close()
    workers = os.cpu_count() or 1
    half = len(bodies) // 2  # each run its own entries: new participants both times
    loads = {}
    for n, share in ((1, bodies[:half]), (workers, bodies[half:])):
        proc, port = start_server(bench.url, bench.home, folder / f"p3-server-{n}.log", n)
        try:
            loads[n] = http_load([port], bench.token, share, scale.http_clients,
                                 scale.http_seconds, servers=[proc.pid])
        finally:
            stop_server(proc)
    load, single = loads[workers], loads[1]
    floor_proc, floor_port = start_floor(bench.token, folder / "p3-floor.log")
    try:
        floor = http_load([floor_port], bench.token, bodies, scale.http_clients, scale.http_seconds,
                          servers=[floor_proc.pid])
    finally:
        stop_server(floor_proc)
    context["p3"] = load
    base = context.get("p1_rate") or 0.0
    rate, p99 = load["entries_per_s"], load["p99_ms"]
    notes = (f"`serve --workers {workers}`, {scale.http_clients} clients, {load['ok']:,} appends "
             f"in {load['seconds']:.1f} s, p50 {load['p50_ms']:.0f} ms, p99 {p99:.0f} ms; statuses "
             f"{load['statuses']}{cpu_note(load)}. One worker: {single['entries_per_s']:,.0f}/s, "
             f"p99 {single['p99_ms']:.0f} ms{cpu_note(single)}. The HTTP stack alone "
             f"(benchmarks/http_floor.py: the same uvicorn, FastAPI, body model and bearer "
             f"check, no ledger), same clients: "
             f"{floor['entries_per_s']:,.0f}/s, p99 {floor['p99_ms']:.0f} ms{cpu_note(floor)}")
    return [
        figure("P3", f"HTTP appends, {scale.http_clients} concurrent clients, SQLite", rate, base,
               ">= 1,500/s, p99 <= 100 ms", rate >= 1500 and p99 <= 100, "entries/s",
               "P1's in-process append rate (one caller)", notes, p99_ms=p99, statuses=load["statuses"],
               cpu_ms_per_entry=load.get("cpu_ms_per_entry"),
               cpu_ceiling_per_s=load.get("cpu_ceiling_per_s"),
               workers=workers, **{name: {k: run.get(k) for k in (
                   "entries_per_s", "p50_ms", "p99_ms", "cpu_ms_per_entry", "cpu_ceiling_per_s")}
                   for name, run in (("one_worker", single), ("http_floor", floor))}),
        figure("P8", "append → covered by a signed checkpoint, p99 under P3's load",
               load["checkpoint_p99_ms"], 1000.0, "<= 1,000 ms",
               load["with_checkpoint"] == load["ok"] > 0 and load["checkpoint_p99_ms"] <= 1000, "ms",
               "the goal (1 s)", f"{load['with_checkpoint']:,} of {load['ok']:,} receipts carry "
               "their signed checkpoint; the figure is their request latency",
               appends=load["ok"], with_checkpoint=load["with_checkpoint"]),
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
        load = http_load(ports, bench.token, bodies, scale.http_clients, scale.http_seconds,
                         servers=[p.pid for p in procs], database="postgres")
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
        db_before, own_before = proc_cpu.command_seconds("postgres"), time.process_time()
        start = time.perf_counter()
        for i in range(scale.p9_baseline):
            save(i)
        base = scale.p9_baseline / (time.perf_counter() - start)
        base_cpu = {"client": (time.process_time() - own_before) * 1000 / scale.p9_baseline,
                    "database": proc_cpu.spent(db_before, proc_cpu.command_seconds("postgres"))
                    * 1000 / scale.p9_baseline}
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
                   f"{load['statuses']}{cpu_note(load)}. The baseline's CPU per event: its "
                   f"process {base_cpu['client']:.2f} ms, PostgreSQL {base_cpu['database']:.2f} ms",
                   p99_ms=load["p99_ms"], baseline_cpu_ms_per_event=base_cpu,
                   statuses=load["statuses"], cpu_ms_per_entry=load.get("cpu_ms_per_entry"),
                   cpu_ceiling_per_s=load.get("cpu_ceiling_per_s"))]
