"""Trial commands: setup, demo, allocation reveal, allocation verify."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.audit import write_bundle_file
from api.cli.common import DbOpt, HomeOpt, err, fail, open_services, out, passphrase
from api.cli.help import LedgerTyper
from api.services.bootstrap import home_dir
from domain.randomisation import AllocationList, verify_allocations
from domain.trial import ALLOCATION_STREAM
from ledger.errors import LedgerError


def _system_passphrase() -> str:
    return passphrase("TRIAL_LEDGER_LEDGER_PASSPHRASE", "Ledger (system keys) passphrase")


def setup(db: DbOpt = None, home: HomeOpt = None,
          protocol: Annotated[Path | None, typer.Option(metavar="FILE", help=(
              "Protocol JSON file (default: the bundled NCT06167473 v1.0)."))] = None,
          slots: Annotated[int | None, typer.Option(help="Allocation slots (default: the "
                                                    "protocol's target enrolment).")] = None) -> None:
    """Set the trial up: system actors, protocol adoption, committed allocation list."""
    from api.services.trial_setup import set_up_trial

    services = open_services(db)
    try:
        document = json.loads(protocol.read_text("utf-8")) if protocol else None
        done = set_up_trial(services, home=home_dir(home), document=document, slots=slots,
                            root_passphrase=passphrase("TRIAL_LEDGER_ROOT_PASSPHRASE",
                                                       "Root key passphrase"),
                            system_passphrase=_system_passphrase())
    except (OSError, ValueError) as exc:
        fail(f"cannot read the protocol: {exc}")
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"Protocol {done.protocol_version} adopted; allocation list committed "
              f"({', '.join(f'{k}: {v} slots' for k, v in done.slots.items())})")
    out.print(f"Commitment: {done.commitment}")


def reveal(db: DbOpt = None, home: HomeOpt = None,
           reason: Annotated[str, typer.Option(help="Why now (e.g. database lock).")]
           = "database lock") -> None:
    """Publish the allocation list and its salt in the ledger (at unblinding)."""
    from api.services.reveal import reveal_allocation
    from api.services.trial_setup import load_system_actors

    services = open_services(db)
    try:
        load_system_actors(services, home_dir(home), _system_passphrase())
        if reveal_allocation(services, reason=reason) is None:
            fail("the trial is not set up (no committed allocation list)")
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print("Allocation list revealed")


def verify_allocation(db: DbOpt = None,
                      as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
                      ) -> None:
    """Check every allocation against the committed list (after the reveal). Exit 0 when all hold."""
    services = open_services(db)
    try:
        allocation_records = services.ledger.stream(ALLOCATION_STREAM)
        assignments: list[tuple[str, int, str, str]] = []
        for record in services.ledger.records():
            if record.type == "participant.randomised":
                p: dict[str, Any] = record.payload() or {}
                assignments.append((p.get("stratum", "?"), p.get("slot", 0),
                                    record.stream.split("/", 1)[1], p.get("arm", "?")))
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    committed = [r for r in allocation_records if r.type == "allocation.committed"]
    revealed = [r for r in allocation_records if r.type == "allocation.revealed"]
    if not committed:
        fail("no allocation list is committed")
    if not revealed:
        fail("the allocation list is not revealed yet: run `trial-ledger allocation reveal` at unblinding")
    shown = revealed[-1].payload() or {}
    problems = verify_allocations(AllocationList.model_validate(shown["allocation"], strict=False),
                                  base64.b64decode(shown["salt"]),
                                  (committed[0].payload() or {})["commitment"], assignments)
    if as_json:
        print(json.dumps({"ok": not problems, "allocations": len(assignments), "problems": problems}))
    elif problems:
        for problem in problems:
            out.print(f"[red]✗[/red] {problem}")
    else:
        out.print(f"[green]OK[/green] {len(assignments)} allocations match the committed list")
    raise typer.Exit(1 if problems else 0)


def demo(db: DbOpt = None, home: HomeOpt = None,
         participants: Annotated[int, typer.Option(min=1, max=500, help="How many to enrol.")] = 22,
         seed: Annotated[int | None, typer.Option(
             help="Same seed, same trial, byte for byte, and anyone with the seed holds its keys. "
                  "Without it keys, list and passphrase are fresh randomness.")] = None,
         bundle: Annotated[Path | None, typer.Option(metavar="FILE",
                                                     help="Also write the audit bundle here.")]
         = None) -> None:
    """Simulate NCT06167473 from screening to week 48 into an empty ledger.

    Never for a real trial. Without --seed the keys and the passphrase (printed once) are
    random; with it, the same seed gives the same bundle, byte for byte. --bundle also writes
    its audit bundle."""
    from datetime import timedelta

    from api.demo.simulation import START, SimClock, run_simulation

    clock = SimClock(START - timedelta(days=1))
    services = open_services(db, initialised=False, clock=clock)
    try:
        if services.store.is_initialised():
            fail(f"{services.store.url} holds a ledger already: the demo needs an empty database")
        with err.status(f"simulating {participants} participants…"):
            lines = run_simulation(services, home_dir(home), participants=participants, seed=seed,
                                   clock=clock)
        if bundle is not None:
            size, _ = write_bundle_file(services, bundle,
                                        clock.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            lines.append(f"Bundle: {bundle} ({size} records)")
    except LedgerError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot write: {exc}")
    finally:
        services.close()
    for line in lines:
        out.print(line)


def register(app: LedgerTyper) -> None:
    app.command("setup")(setup)
    app.command("demo")(demo)


def register_allocation(allocation: LedgerTyper) -> None:
    allocation.command("reveal")(reveal)
    allocation.command("verify")(verify_allocation)
