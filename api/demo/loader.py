"""`serve --demo`: the simulated trial (api/demo/simulation.py) written into an empty database, then
served; the staff's API tokens are printed. The demo's keys use a fixed passphrase: fine for a
demo, never for a trial."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from api.demo.simulation import PASSPHRASE, START, SimClock, run_simulation
from api.services.bootstrap import Services

DEMO_PASSPHRASE = PASSPHRASE


def run_demo(services: Services, home: Path, *, participants: int = 22, seed: int = 1) -> list[str]:
    """Simulate the trial into an empty ledger (on the simulation's own clock, which ends before
    today's); a ledger that holds records already is left as it is."""
    if services.store.is_initialised():
        return ["The database holds a ledger already: serving it as it is."]
    clock = SimClock(START - timedelta(days=1))
    ledger_clock, services_clock = services.ledger.clock, services.clock
    services.ledger.clock = services.clock = clock
    try:
        return run_simulation(services, home, participants=participants, seed=seed, clock=clock)
    finally:
        services.ledger.clock, services.clock = ledger_clock, services_clock


__all__ = ["DEMO_PASSPHRASE", "run_demo"]
