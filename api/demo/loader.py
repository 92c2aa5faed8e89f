"""`serve --demo`: the simulated trial (api/demo/simulation.py) written into an empty database, then
served; the staff's API tokens are printed. Without a seed its keys, list and passphrase are fresh
randomness (the passphrase is printed once); with one, anyone who knows the seed holds its keys."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from api.demo.simulation import PASSPHRASE, START, Made, SimClock, simulate
from api.services.bootstrap import Services

DEMO_PASSPHRASE = PASSPHRASE  # a seeded demo's, published


def make_demo(services: Services, home: Path, *, participants: int = 22,
              seed: int | None = None) -> Made | None:
    """Simulate the trial into an empty ledger (on the simulation's own clock, which ends before
    today's); None if the ledger holds records already (it is left as it is)."""
    if services.store.is_initialised():
        return None
    clock = SimClock(START - timedelta(days=1))
    ledger_clock, services_clock = services.ledger.clock, services.clock
    services.ledger.clock = services.clock = clock
    try:
        return simulate(services, home, participants=participants, seed=seed, clock=clock)
    finally:
        services.ledger.clock, services.clock = ledger_clock, services_clock


def run_demo(services: Services, home: Path, *, participants: int = 22,
             seed: int | None = 1) -> list[str]:
    """`make_demo`'s lines to print (seed 1 unless told: the reproducible demo the tests share)."""
    made = make_demo(services, home, participants=participants, seed=seed)
    return made.lines if made else ["The database holds a ledger already: serving it as it is."]


__all__ = ["DEMO_PASSPHRASE", "make_demo", "run_demo"]
