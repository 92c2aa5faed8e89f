"""Concurrency on PostgreSQL (issue 10): two API workers (two `trial-ledger serve` processes over
one schema) and 50 client threads, each with its own key and its own participants (registered,
consented, assessed, randomised, baseline labs), all also opening queries on a few shared
participants, where they collide and the SDK retries each 409 against the new head.

Afterwards: every acknowledged receipt is in the log once, at its stream, version and leaf
index; stream versions and leaf indexes are dense; no slot is allocated twice and slots are taken
in list order; every checkpoint's root is the tree recomputed at its size and each is proved
consistent with the one before; replay verification finds nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from .live_checks import check_checkpoints, check_log
from .live_load import Tally, Worker, run_workers
from .live_server import prepare, serving

WORKERS = 2  # API processes
CLIENTS = 50  # client threads, spread over the workers
PARTICIPANTS = 2  # per client, each randomised
QUERIES = 2  # per participant, on a shared participant
SHARED = 4


def test_two_workers_fifty_clients_lose_nothing_and_never_share_a_slot(
        pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    randomisations = CLIENTS * PARTICIPANTS
    trial = prepare(pg_url, tmp_path / "home", workers=CLIENTS, slots=randomisations, shared=SHARED)
    tally = Tally()
    with serving(trial, tmp_path / "serve-a.log") as a, serving(trial, tmp_path / "serve-b.log") as b:
        servers = (a, b)
        workers = [Worker(servers[n % WORKERS].base_url, trial.investigators[n], trial.monitors[n],
                          trial.shared, prefix=f"C{n:02d}", randomise_every=1,
                          queries_per_participant=QUERIES, seed=n) for n in range(CLIENTS)]
        stop = threading.Event()
        try:
            threads = run_workers(workers, stop, participants=PARTICIPANTS)
            for t in threads:
                t.join(timeout=600)
            assert not any(t.is_alive() for t in threads), "a client hung"
        finally:
            stop.set()
            for w in workers:
                w.close()
        for w in workers:
            tally.merge(w.tally)
        assert a.proc.poll() is None and b.proc.poll() is None, "a worker died"
    lost = [f"{w.prefix}: {w.gone_because}" for w in workers if w.server_gone]
    assert not lost, f"clients lost their server while it ran (transport errors): {lost}"
    assert not tally.refused, tally.refused[:5]
    assert not tally.unacked  # nobody was killed: every request got its answer
    entries = CLIENTS * PARTICIPANTS * (4 + 3 + QUERIES)  # register … randomise, 3 labs, queries
    assert tally.entries_acked == entries
    assert sorted(tally.randomised) == sorted(f"C{n:02d}-{p:03d}" for n in range(CLIENTS)
                                              for p in range(PARTICIPANTS))
    figures = check_log(trial, tally)
    assert (figures.lost, figures.duplicated, figures.partial) == (0, 0, 0)
    assert figures.slots == randomisations  # each request took one slot, none taken twice
    assert tally.conflicts > 0, "the shared streams never collided: the test proves less than it says"
    checked = check_checkpoints(trial)
    assert checked == figures.checkpoints > 1
    with capsys.disabled():
        print(f"\nconcurrency postgresql: workers={WORKERS} clients={CLIENTS} "
              f"entries_acknowledged={tally.entries_acked} records_acknowledged={len(tally.acked)} "
              f"posts={tally.sent} conflicts_retried={tally.conflicts} slots={figures.slots} "
              f"checkpoints={checked} records={figures.records} lost={figures.lost} "
              f"duplicated={figures.duplicated}")
