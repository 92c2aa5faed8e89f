"""Crash rounds: clients append to a real server, the server is killed (SIGKILL) at a random
moment, started again, and the log is checked. tests/test_crash_safety.py runs a few; so does
scripts/soak.py, as many as asked."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .live_checks import Figures, check_log
from .live_load import Tally, Worker, run_workers
from .live_server import LiveTrial, Server, prepare, start

SHARED = 3  # shared participants, where the workers' queries collide


@dataclass
class CrashSummary:
    backend: str
    root_fingerprint: str = ""
    rounds: int = 0
    clients: int = 0
    tally: Tally = field(default_factory=Tally)
    figures: Figures = field(default_factory=Figures)
    seconds: float = 0.0

    def line(self) -> str:
        t, f = self.tally, self.figures
        return (f"crash-safety {self.backend}: rounds={self.rounds} clients={self.clients} "
                f"posts={t.sent} acknowledged={t.entries_acked} records_acknowledged={len(t.acked)} "
                f"unanswered={len(t.unacked)} (whole={f.unacked_whole} absent={f.unacked_absent}) "
                f"conflicts_retried={t.conflicts} randomised={len(t.randomised)} "
                f"lost={f.lost} duplicated={f.duplicated} partial={f.partial} "
                f"records={f.records} checkpoints={f.checkpoints} seconds={self.seconds:.0f}")


def slots_needed(rounds: int, clients: int, per_round: int = 12) -> int:
    """Allocation slots for the randomisations a crash run may ask for (half the participants;
    a worker gets through a few participants a round at most)."""
    return rounds * clients * per_round


def crash_rounds(url: str, home: Path, log: Path, *, backend: str, rounds: int, clients: int,
                 seed: int = 1, kill_after: tuple[float, float] = (0.3, 1.5),
                 on_round: Callable[[int, CrashSummary], None] | None = None) -> CrashSummary:
    """Set a trial up in `url`, then `rounds` times: serve, append from `clients` threads, kill
    the server after a random delay, join the clients, serve again (it seals on start), check.
    Raises AssertionError at the first round whose log does not hold."""
    began = time.monotonic()
    rng = random.Random(seed)
    trial = prepare(url, home, workers=clients, slots=slots_needed(rounds, clients), shared=SHARED)
    summary = CrashSummary(backend, trial.root_fingerprint, clients=clients)
    server = start(trial, log)
    try:
        summary.figures = check_log(trial, summary.tally)
        for n in range(rounds):
            server = _round(trial, server, n, clients, rng, kill_after, summary.tally, log)
            summary.figures = check_log(trial, summary.tally)
            summary.rounds = n + 1
            summary.seconds = time.monotonic() - began
            if on_round is not None:
                on_round(n, summary)
    finally:
        server.kill()
    return summary


def _round(trial: LiveTrial, server: Server, n: int, clients: int, rng: random.Random,
           kill_after: tuple[float, float], tally: Tally, log: Path) -> Server:
    workers = [Worker(server.base_url, trial.investigators[w], trial.monitors[w], trial.shared,
                      prefix=f"R{n:03d}W{w:02d}", seed=rng.randrange(2**32)) for w in range(clients)]
    stop = threading.Event()
    try:
        threads = run_workers(workers, stop)
        time.sleep(rng.uniform(*kill_after))
        server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a client hung after the server died"
    finally:
        stop.set()
        for w in workers:
            w.close()
    for w in workers:
        tally.merge(w.tally)
    assert not tally.refused, tally.refused[:5]
    return start(trial, log)
