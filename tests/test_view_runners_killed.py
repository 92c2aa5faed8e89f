"""Two runners on PostgreSQL over the same log, killed (SIGKILL) and restarted at random points,
end with the same fingerprint as a single clean rebuild."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from projections.replay import replay
from projections.views import Views

from .conftest import Trial
from .test_projection_participants import fingerprints

RUNNER = """
import sys, time
from api.services.bootstrap import bootstrap
from projections.views import Views
services = bootstrap(sys.argv[1])
view = Views(services.store, page=3)
while True:
    view.step()  # one page per transaction, slowly: plenty of places to be killed
    time.sleep(0.01)
"""


def test_runners_killed_at_random_points_end_like_a_clean_rebuild(pg_url: str, tmp_path: object) -> None:
    from pathlib import Path

    from .conftest import make_trial

    trial: Trial = make_trial(pg_url, Path(str(tmp_path)) / "home")
    try:
        signer, _ = trial.user("inv-001")
        ledger = trial.services.ledger
        for n in range(150):
            trial.register_directly(signer, f"P-{n:03d}", consent=True, at=datetime.now(UTC))
        rng = random.Random(7)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        view = Views(trial.services.store)
        top = trial.services.store.max_position()
        killed_midway = []  # positions at which both runners died with work left
        for _ in range(20):
            runners = [subprocess.Popen([sys.executable, "-c", RUNNER, pg_url], env=env)
                       for _ in range(2)]
            time.sleep(rng.uniform(0.6, 1.1))
            for proc in runners:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            position = view.position()
            if position < top:
                killed_midway.append(position)
            else:
                break
        view.catch_up()
        clean = replay(ledger.records())
        assert killed_midway and all(0 <= p < top for p in killed_midway)
        assert fingerprints(view) == clean.fingerprints()
        assert all(len(s.consent_history) == 1 for s in view.participants().values())
    finally:
        trial.services.close()
