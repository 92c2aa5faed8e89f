"""Crash safety (issue 10): `trial-ledger serve` in a child process takes appends from many
client threads over HTTP and is killed with SIGKILL at random moments, 20 times, on SQLite and on
PostgreSQL. After every restart (which seals what the killed server left unsealed):

- every acknowledged record (a 201 received, follow-ups included) is there, same hash, same
  stream and version;
- nothing is partial: every record parses, stream versions are dense, every record has exactly
  one leaf and leaf indexes are dense, each randomisation request has its allocation;
- an entry sent but never answered is either recorded whole (same bytes, at its version) or not
  at all (its digest appears nowhere);
- a checkpoint covers every leaf, and replay verification (`verify_log`, as `trial-ledger
  verify`) finds nothing.
The summary line printed per backend is what docs/reliability.md quotes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .live_crash import crash_rounds
from .live_server import REPO, cli, environment

ROUNDS = 20
CLIENTS = 6


def test_killed_server_loses_nothing_acknowledged_and_leaves_nothing_partial(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backend = db_url.split(":", 1)[0]
    summary = crash_rounds(db_url, tmp_path / "home", tmp_path / "serve.log", backend=backend,
                           rounds=ROUNDS, clients=CLIENTS, seed=10)
    f, t = summary.figures, summary.tally
    assert summary.rounds == ROUNDS
    assert (f.lost, f.duplicated, f.partial) == (0, 0, 0)
    assert t.entries_acked > ROUNDS * CLIENTS  # the rounds did real work before each kill
    assert t.unacked, "no kill caught a request in flight: the test proves less than it says"
    assert t.randomised  # randomisations (three records in one transaction) were among them
    # The command line's own verifier agrees, from a fresh process.
    done = subprocess.run([*cli(), "verify", "--db", db_url, "--root",
                           summary.root_fingerprint, "--json"], env=environment(), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    with capsys.disabled():
        print("\n" + summary.line())
