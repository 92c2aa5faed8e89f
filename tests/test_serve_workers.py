"""`serve --workers N`: worker processes answer HTTP on one port, with one view runner for the
server (and for every server on the same database) and one checkpoint timer. Real processes and
real HTTP, on SQLite and PostgreSQL: appends from many clients all succeed, spread over the
workers, each receipt carries a checkpoint covering its leaf, each writer reads back what it
wrote, the log verifies and the views are what a replay gives; SIGTERM stops everything and
signs the final checkpoint; a worker that dies is started again; a second server on the same
database leaves the views to the first, and takes them over once the first stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.cli.workers import WorkerFailed, Workers
from api.client.sdk import LedgerClient
from api.services.bootstrap import bootstrap
from projections.replay import replay

from . import live_server
from .test_projection_participants import fingerprints

CLIENTS = 8
EACH = 6


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))


@dataclass
class Serving:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


@contextmanager
def serving(trial: live_server.LiveTrial, log: Path, *args: str) -> Iterator[Serving]:
    """`serve` with `args`, answering /v1/health; killed on the way out if still running."""
    port = live_server.free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([*live_server.cli(), "serve", "--db", trial.url, "--home",
                                 str(trial.home), "--port", str(port), *args],
                                env=live_server.environment(), cwd=live_server.REPO,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = Serving(proc, port, log)
    try:
        until(lambda: _healthy(server), "serve answering")
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def _healthy(server: Serving) -> bool:
    assert server.proc.poll() is None, server.text()
    try:
        return httpx.get(f"{server.base}/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def until(done: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`: 'worker', 'runner' or their command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with suppress(OSError):
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline") as f:
                command = f.read().replace("\0", " ")
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(entry)] = ("worker" if "api.cli.serve worker" in command else
                                     "runner" if "api.services.runner" in command else command)
    return found


def kinds(pid: int) -> list[str]:
    return sorted(children(pid).values())


def connections_by_process(pids: list[int], port: int) -> dict[int, int]:
    """Established TCP connections on the server's `port` held by each of `pids`."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                    established.add(cols[9])
    held = {}
    for pid in pids:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        held[pid] = len(inodes & established)
    return held


def registration(pid: str) -> dict[str, object]:
    return {"participant_id": pid, "site": live_server.SITE, "sex": "F",
            "date_of_birth": "1961-04-02", "weight_kg": 64.0}


def covered(receipt: dict[str, object]) -> bool:
    """The receipt's checkpoint is a tree that holds its leaf."""
    note = receipt["checkpoint"]
    return isinstance(note, str) and int(note.splitlines()[1]) > int(str(receipt["leaf_index"]))


def verify(url: str) -> None:
    done = CliRunner().invoke(app, ["verify", "--db", url])
    assert done.exit_code == 0, done.output
    services = bootstrap(url)
    try:
        assert services.views.position() == services.store.max_position()
        assert fingerprints(services.views) == replay(services.ledger.records()).fingerprints()
    finally:
        services.close()


def test_a_bad_number_of_workers_is_one_line(tmp_path: Path) -> None:
    for value in ("0", "-1", "two", "65", ""):
        db = f"sqlite:///{tmp_path / 'none.db'}"
        done = CliRunner().invoke(app, ["serve", "--db", db, f"--workers={value}"])
        assert done.exit_code == 1 and "Traceback" not in done.stderr, value
        assert done.stderr.startswith("error: --workers ") and done.stderr.count("\n") == 1
        assert not (tmp_path / "none.db").exists()  # refused before the database is opened


@pytest.mark.slow
def test_workers_share_the_appends_with_one_runner_and_stop_on_sigterm(
        url: str, tmp_path: Path) -> None:
    trial = live_server.prepare(url, tmp_path / "home", workers=CLIENTS, slots=4, shared=0)
    with serving(trial, tmp_path / "serve.log", "--workers", "2") as server:
        until(lambda: "2 workers (pids" in server.text(), "two workers serving")
        until(lambda: kinds(server.proc.pid) == ["runner", "worker", "worker"],
              "two workers and one runner")
        workers = [p for p, kind in children(server.proc.pid).items() if kind == "worker"]
        assert all(kinds(w) == [] for w in workers)  # no runner of their own
        clients = [LedgerClient(server.base, signer=who.signer, token=who.token)
                   for who in trial.investigators]
        for client in clients:  # each its own keep-alive connection, open from now on
            assert client.http.get("/v1/health").status_code == 200
        spread = connections_by_process(workers, server.port)
        assert sum(spread.values()) == CLIENTS and all(spread.values()), spread

        def work(n: int) -> list[dict[str, object]]:
            client, receipts = clients[n], []
            for k in range(EACH):
                pid = f"W-{n:02d}-{k:02d}"
                receipts.append(client.append(f"participant/{pid}", "participant.registered",
                                              registration(pid), occurred_at=datetime.now(UTC)))
                # read back on the same connection, so by the worker that wrote it
                assert client.participant(pid)["status"] == "registered"
            return receipts

        with ThreadPoolExecutor(CLIENTS) as pool:
            receipts = [r for done in pool.map(work, range(CLIENTS)) for r in done]
        for client in clients:
            client.close()
        assert len(receipts) == CLIENTS * EACH and all(covered(r) for r in receipts)
        assert "Traceback" not in server.text()
        server.proc.send_signal(signal.SIGTERM)  # what a service manager sends
        assert server.proc.wait(60) == -signal.SIGTERM
    text = server.text()
    size = max(int(str(r["leaf_index"])) for r in receipts) + 1
    assert "Views: kept by this server's runner" in text and "2 workers (pids" in text
    assert f"Final checkpoint: tree size {size}" in text and "Traceback" not in text, text
    until(lambda: not children(server.proc.pid) and not any(_alive(p) for p in workers),
          "the workers and the runner to end")
    verify(url)


@pytest.mark.slow
def test_a_worker_that_dies_is_started_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    trial = live_server.prepare(url, tmp_path / "home", workers=1, slots=4, shared=0)
    who = trial.investigators[0]
    with serving(trial, tmp_path / "serve.log", "--workers", "2",
                 "--checkpoint-interval-ms", "200") as server:
        # both serving (one killed while it starts would stop the server: it would fail again)
        until(lambda: "2 workers (pids" in server.text(), "two workers serving")
        first = {p for p, kind in children(server.proc.pid).items() if kind == "worker"}
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        until(lambda: "ended (signal 9); starting it again" in server.text(), "the restart")
        until(lambda: len({p for p, k in children(server.proc.pid).items()
                           if k == "worker"} - first) == 1 and kinds(server.proc.pid).count(
                                "worker") == 2, "a new worker")
        receipts = []
        for n in range(6):  # new connections each: whichever worker the kernel picks
            with LedgerClient(server.base, signer=who.signer, token=who.token) as client:
                pid = f"R-{n:03d}"
                receipts.append(client.append(f"participant/{pid}", "participant.registered",
                                              registration(pid), occurred_at=datetime.now(UTC)))
                assert client.participant(pid)["status"] == "registered"
        # one timer for the server: the workers' commits sign none, it covers them within ~200 ms
        assert all(r["checkpoint"] is None for r in receipts)
        last = int(str(receipts[-1]["leaf_index"]))
        until(lambda: int(httpx.get(f"{server.base}/v1/checkpoint").text.splitlines()[1]) > last,
              "the timer's checkpoint")
        server.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert server.proc.wait(60) == 0
    assert "Traceback" not in server.text() and "Final checkpoint: tree size" in server.text()
    verify(url)


@pytest.mark.slow
def test_a_second_server_leaves_the_views_to_the_first_then_takes_them_over(
        url: str, tmp_path: Path) -> None:
    trial = live_server.prepare(url, tmp_path / "home", workers=2, slots=4, shared=0)
    a_who, b_who = trial.investigators
    with serving(trial, tmp_path / "a.log") as a, serving(trial, tmp_path / "b.log") as b:
        until(lambda: kinds(a.proc.pid) == ["runner"], "the first server's runner")
        assert "Views: kept by this server's runner" in a.text()
        assert "Views: kept by another server's runner on this database" in b.text()
        with LedgerClient(a.base, signer=a_who.signer, token=a_who.token) as on_a, \
                LedgerClient(b.base, signer=b_who.signer, token=b_who.token) as on_b:
            for n in range(4):
                mine, theirs = f"B-{n:03d}", f"A-{n:03d}"
                on_b.append(f"participant/{mine}", "participant.registered", registration(mine),
                            occurred_at=datetime.now(UTC))
                assert on_b.participant(mine)["status"] == "registered"  # read its own write
                on_a.append(f"participant/{theirs}", "participant.registered",
                            registration(theirs), occurred_at=datetime.now(UTC))
                assert on_b.participant(theirs)["status"] == "registered"  # and the other's
            assert kinds(b.proc.pid) == []  # one runner for both servers, all along
            a.proc.send_signal(signal.SIGTERM)
            assert a.proc.wait(60) == -signal.SIGTERM
            until(lambda: kinds(b.proc.pid) == ["runner"], "the second server taking over")
            pid = "B-100"
            on_b.append(f"participant/{pid}", "participant.registered", registration(pid),
                        occurred_at=datetime.now(UTC))
            assert on_b.participant(pid)["status"] == "registered"
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(60) == -signal.SIGTERM
    assert "Traceback" not in a.text() + b.text()
    verify(url)


@pytest.mark.slow
def test_a_killed_server_leaves_no_worker_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    trial = live_server.prepare(url, tmp_path / "home", workers=1, slots=4, shared=0)
    with serving(trial, tmp_path / "serve.log", "--workers", "2") as server:
        until(lambda: kinds(server.proc.pid) == ["runner", "worker", "worker"], "its processes")
        left = list(children(server.proc.pid))
        server.proc.send_signal(signal.SIGKILL)  # no handler runs: the workers see stdin close
        assert server.proc.wait(30) == -signal.SIGKILL
    until(lambda: not any(_alive(p) for p in left), "the workers and the runner to end")


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server_in_one_line(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    trial = live_server.prepare(url, tmp_path / "home", workers=1, slots=4, shared=0)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        pool = Workers(2, listener, url=url, home=trial.home, passphrase="not-the-passphrase",
                       interval_ms=0)
        try:
            with pytest.raises(WorkerFailed, match=r"worker \d \(pid \d+\) ended while starting "
                               r"\(exit code 1\); stopping the server"):
                pool.start()
        finally:
            pool.stop()
    said = capfd.readouterr().err  # the workers' own stderr, inherited
    assert "Traceback" not in said
    assert "could not load the system keys: cannot open " in said and "wrong passphrase" in said


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    return False
