"""`trial-ledger rebuild`: rebuild the views from zero, or fold them as of a cut; print what they
were built from (position, tree size, root) and their fingerprints."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import DbOpt, fail, open_services, out, progress_bar
from api.cli.help import LedgerTyper
from api.services.rebuild import rebuild_views
from ledger.errors import LedgerError
from projections.asof import Cut, within
from projections.replay import replay
from projections.status import folded_status


def rebuild(db: DbOpt = None,
            as_of: Annotated[str | None, typer.Option("--as-of", help="Fold as of a UTC time "
                                                      "(…Z), a day, or checkpoint:SIZE; the stored "
                                                      "views are left alone.")] = None,
            position: Annotated[int | None, typer.Option(help="Fold as of a log position.")] = None,
            workers: Annotated[int | None, typer.Option(
                min=1, max=64, help="Processes sharing a rebuild (default: one per core for "
                "logs of 100,000 records or more, else 1).")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Rebuild every view from zero (or fold as of a moment) and print its fingerprint."""
    services = open_services(db)
    try:
        started = time.perf_counter()
        total = services.store.max_position()
        with progress_bar("rebuilding", total, as_json) as advance:
            def counted() -> Any:
                for record in services.ledger.records():
                    advance(1)
                    yield record

            if as_of is None and position is None:
                done = [0]

                def advanced(count: int) -> None:
                    advance(count - done[0])
                    done[0] = count

                report = rebuild_views(services, workers=workers, progress=advanced)
                advanced(total)
            else:
                cut = Cut.parse(as_of) if as_of else Cut()
                cut = Cut(cut.time, position if position is not None else cut.position, cut.size)
                folded = replay(within(counted(), cut))
                size = folded.records
                report = [{**view, "as_of": cut.describe()} for view in folded_status(
                    folded, tree_size=size, root=services.ledger.tree.root_at(size).hex())]
        elapsed = time.perf_counter() - started
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    rate = total / elapsed if elapsed else 0.0
    if as_json:
        print(json.dumps({"projections": report, "records": total, "records_per_s": round(rate)}))
        return
    out.print(f"Rebuilt from {total} records in {elapsed:.2f} s ({rate:,.0f} records/s)")
    table = Table()
    for column in ("view", "rows", "position", "tree size", "fingerprint"):
        table.add_column(column, no_wrap=True)
    for view in report:
        table.add_row(view["name"], str(view["rows"]), str(view["position"]), str(view["tree_size"]),
                      view["fingerprint"])
    out.print(table)
    if report:
        out.print(f"root {report[0]['root']}" + (f" · as of {report[0]['as_of']}"
                                                  if "as_of" in report[0] else ""))


def register(app: LedgerTyper) -> None:
    app.command("rebuild")(rebuild)
