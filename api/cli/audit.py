"""The audit bundle and its checks: verify, export bundle, verify-bundle, import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import DbOpt, err, exporting, fail, open_services, out, progress_bar
from api.cli.help import LedgerTyper
from ledger.bundle import BundleReader, write_bundle
from ledger.errors import Finding, LedgerError
from ledger.restore import restore
from ledger.tree import iter_leaves
from ledger.verify import Report, verify_log
from ledger.verify_sources import BundleRows, StoreRows

RootOpt = Annotated[str | None, typer.Option("--root", metavar="FINGERPRINT",
                                             help="The trial root key fingerprint you trust.")]
RootNeeded = Annotated[str, typer.Option("--root", metavar="FINGERPRINT",
                                         help="The trial root key fingerprint.")]
SavedOpt = Annotated[list[Path] | None, typer.Option(
    "--checkpoint", metavar="FILE", help="A checkpoint saved earlier; the log must extend it (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _saved(paths: list[Path] | None, as_json: bool) -> list[str]:
    notes = []
    for path in paths or []:
        try:
            notes.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            _refuse("saved.unreadable", f"cannot read checkpoint {path}: {exc}", as_json)
    return notes


def _refuse(check: str, detail: str, as_json: bool) -> None:
    """Verification that cannot begin (a file that cannot be read, a bundle with no header): one
    finding, exit 1; under `--json` a report like any other."""
    if as_json:
        _print(Report(findings=[Finding(check, detail)]), True)
    fail(f"{detail} ({check})")


def _print(report: Report, as_json: bool, projections: list[dict[str, Any]] | None = None,
           note: str | None = None, safety: dict[str, Any] | None = None) -> None:
    if as_json:
        body = report.as_dict()
        if projections is not None:
            body["projections"] = projections
        if safety is not None:
            body["safety"] = safety
        print(json.dumps(body, indent=2))
    elif report.ok:
        for r in report.redactions:
            out.print(f"Redacted: record {r['record'][:16]}… by {r['author']} ({r['role']}) at "
                      f"{r['recorded_at']}: {r['reason']}")
        out.print(f"[green]OK[/green] {report.records} records in {report.streams} streams; tree "
                  f"size {report.tree_size}, root {report.root[:16]}…; {report.checkpoints} "
                  "checkpoints verified")
        for view in projections or []:
            out.print(f"View {view['name']}: fingerprint {view['fingerprint']}")
        if safety is not None:
            _print_safety(safety)
    else:
        table = Table(title="Verification failed")
        for name in ("leaf", "position", "stream", "version", "check"):
            table.add_column(name, no_wrap=True)
        table.add_column("detail", ratio=1)
        for f in report.findings:
            table.add_row(*("" if v is None else str(v) for v in
                            (f.leaf_index, f.position, f.stream, f.version)), f.check, f.detail)
        out.print(table)
    if note is not None:  # on stderr beside JSON, which stays the whole of stdout
        (err if as_json else out).print(note, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


def verify(db: DbOpt = None, root: RootOpt = None, checkpoint: SavedOpt = None,
           as_json: JsonOpt = False) -> None:
    """Replay the whole log and the Merkle tree; check every record and checkpoint.

    Exit 0 only when everything holds; otherwise each failure is named with its leaf index,
    stream, version and the check that failed."""
    saved = _saved(checkpoint, as_json)
    services = open_services(db)
    try:
        tree = services.ledger.tree
        found = services.ledger.registry().root_key if root is None else None
        with progress_bar("verifying", services.store.max_position(), as_json) as advance:
            report = verify_log(StoreRows(services.store), checkpoints=[c.note for c in tree.checkpoints()],
                                saved=saved, leaves=iter_leaves(tree), root=root, progress=advance)
    except LedgerError as exc:
        _refuse(exc.rule, exc.message, as_json)
    finally:
        services.close()
    note = None if found is None else (  # whoever can rewrite the database can replace it
        f"This trusted the root key the database itself names ({found}). To trust nothing but "
        "a root fingerprint you hold, pass --root FINGERPRINT.")
    _print(report, as_json, note=note)


def export_bundle(out_file: Annotated[Path, typer.Argument(help="File to write.")],
                  db: DbOpt = None) -> None:
    """Write the audit bundle: every record in leaf order, the signed checkpoints, the registry."""
    services = open_services(db)
    with exporting(services, out_file), \
            progress_bar("exporting", services.ledger.tree.size(), False) as advance:
        size, checkpoints = write_bundle_file(
            services, out_file, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), advance)
    out.print(f"Wrote {out_file}: {size} records, {checkpoints} checkpoints")


def write_bundle_file(services: Any, out_file: Path, exported_at: str,
                      progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Write the bundle to `out_file` (via `OUT.part`, then renamed); (records, checkpoints)."""
    tree = services.ledger.tree
    size = tree.size()
    checkpoints = [c.note for c in tree.checkpoints() if c.size <= size]
    tmp = out_file.with_name(out_file.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="\n") as handle:
        write_bundle(handle, origin=services.ledger.origin, exported_at=exported_at,
                     rows=islice(services.store.iter_log(), size), records=size,
                     checkpoints=checkpoints, protocol=protocol_header(services, size),
                     progress=progress)
    tmp.replace(out_file)
    return size, len(checkpoints)


def protocol_header(services: Any, size: int) -> dict[str, str] | None:
    """The bundle header's `protocol`: the protocol in force after the first `size` leaves (its
    trial, version, and the hash of the adoption or amendment that put it in force), else None."""
    from domain.trial import PROTOCOL_STREAM

    last = services.ledger.tree.leaf_by_index(size - 1).position if size else 0
    kept = [r for r in services.ledger.stream(PROTOCOL_STREAM) if (r.position or 0) <= last
            and r.redacted_by is None and r.type in ("protocol.adopted", "protocol.amended")]
    if not kept:
        return None
    document = (kept[-1].payload() or {})["document"]
    return {"trial": str(document["trial"]), "version": str(document["version"]), "record": kept[-1].hash}


def verify_bundle(path: Annotated[Path, typer.Argument(help="The bundle file.")],
                  root: RootNeeded,
                  checkpoint: SavedOpt = None,
                  witness: Annotated[list[str] | None, typer.Option(
                      "--witness", metavar="VKEY", help="A witness key (C2SP vkey) that must have cosigned a "
                      "checkpoint of this bundle (repeatable: all must).")] = None,
                  as_json: JsonOpt = False) -> None:
    """Check a bundle with no server and no database, trusting only the root fingerprint.

    Then rebuild the views from it (their fingerprints) and show every serious adverse event's
    clocks (24-hour report; SUSAR 7 or 15 days) as of the bundle's last record (`--json`:
    `safety`). A damaged line, or leaves missing, repeated or out of order, are findings like
    any other (`bundle.*`); exit 1 on any finding."""
    saved = _saved(checkpoint, as_json)
    try:
        reader = BundleReader(path, lenient=True)
    except LedgerError as exc:  # no header: nothing else can be read
        _refuse(exc.rule, exc.message, as_json)
    try:
        try:
            with progress_bar("verifying", reader.header.records, as_json) as advance:
                report = verify_log(BundleRows(reader), checkpoints=reader.checkpoints, saved=saved,
                                    root=root, progress=advance,  # origin: genesis's, not the header's
                                    witnesses=witness or ())
        finally:
            reader.close()
        views = None
        if report.ok:  # the views rebuilt from the bundle: as long again as the check, so shown too
            with progress_bar("rebuilding views", report.records, as_json) as advance:
                try:
                    views = _bundle_views(path, report.tree_size, report.root, advance)
                except (LedgerError, OSError):
                    raise
                except Exception as exc:  # authentic records the trial's views cannot fold
                    report.findings.append(Finding(
                        "views.rebuild", f"the records verify, but the trial's views cannot be "
                        f"rebuilt from them: {type(exc).__name__}: {exc}"[:500]))
    except LedgerError as exc:
        _refuse(exc.rule, exc.message, as_json)
    except OSError as exc:  # the file failed under the reader (a disk, a network share)
        _refuse("bundle.unreadable", f"cannot read bundle {path}: {exc.strerror or exc}", as_json)
    _print(report, as_json, views.projections if views else None,
           safety=views.safety if views else None)


@dataclass(frozen=True)
class BundleViews:
    """What the bundle alone shows once folded: the views' fingerprints, and the serious
    adverse events' clocks as of the bundle's last record."""

    projections: list[dict[str, Any]]
    safety: dict[str, Any]


def _bundle_projections(path: Path, size: int, root: str,
                        progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Rebuild the views from the bundle itself, so they can be compared with the live system;
    `progress` is told of every PROGRESS records folded (and of the rest at the end)."""
    return _bundle_views(path, size, root, progress).projections


def _bundle_views(path: Path, size: int, root: str,
                  progress: Callable[[int], None] | None = None,
                  workers: int | None = None) -> BundleViews:
    """`_bundle_projections`, and from the same fold every serious adverse event's clocks
    (R43, R44) under the protocol in force at the bundle's end, read at its last record's sealed
    time: the same answer on any machine, any day, with no server. `workers`: processes that
    fold it (projections/bundle_fold.py; None decides by its size, 0 folds in this process)."""
    from projections import bundle_fold

    count = bundle_fold.auto_workers(size) if workers is None else workers
    if count > 0:
        try:
            return _views_of(bundle_fold.fold_bundle(path, count, progress), size, root)
        except (LedgerError, OSError):  # no worker processes to be had: this one folds
            pass
    return _folded_views(path, size, root, progress)


def _views_of(fold: Any, size: int, root: str) -> BundleViews:
    """BundleViews of a fold made by worker processes (a `bundle_fold.BundleFold`)."""
    from api.services.safety import clock_rows
    from domain.trial import protocol_in_force
    from ledger.entry import Record, parse_time
    from projections.facts import to_fact

    protocol = protocol_in_force([to_fact(Record.from_stored(state, position))
                                  for position, state in fold.protocol_rows])
    as_of = fold.last_recorded_at
    clocks = clock_rows(fold.states, protocol, parse_time(as_of) if as_of else None)
    views = [{"name": view, "position": fold.last_position, "tree_size": size, "root": root,
              "fingerprint": fp, "rows": fold.sizes[view]} for view, fp in fold.fingerprints.items()]
    return BundleViews(views, {"as_of": as_of, "protocol": protocol.version if protocol else None,
                               "clocks": clocks})


def _folded_views(path: Path, size: int, root: str,
                  progress: Callable[[int], None] | None = None) -> BundleViews:
    """`_bundle_views` folded in this process."""
    from api.services.safety import clock_rows
    from domain.trial import PROTOCOL_STREAM, protocol_in_force
    from ledger.entry import Record, parse_time
    from projections.facts import to_fact
    from projections.rebuild import PROGRESS
    from projections.replay import replay
    from projections.status import folded_status

    protocol_records: list[Record] = []
    last: list[str] = []  # the last record's sealed time

    def records(reader: BundleReader) -> Iterator[Record]:
        count = 0
        for count, row in enumerate(reader.rows(), 1):
            record = Record.from_stored(row.state, row.position)
            if record.stream == PROTOCOL_STREAM:
                protocol_records.append(record)
            last[:] = [record.recorded_at]
            yield record
            if progress is not None and count % PROGRESS == 0:
                progress(PROGRESS)
        if progress is not None and count % PROGRESS:
            progress(count % PROGRESS)

    reader = BundleReader(path)
    try:
        folded = replay(records(reader))
    finally:
        reader.close()
    protocol = protocol_in_force([to_fact(r) for r in protocol_records])
    as_of = last[0] if last else None
    clocks = clock_rows(folded.participants, protocol, parse_time(as_of) if as_of else None)
    return BundleViews(folded_status(folded, tree_size=size, root=root),
                       {"as_of": as_of, "protocol": protocol.version if protocol else None,
                        "clocks": clocks})


def _print_safety(safety: dict[str, Any]) -> None:
    """The serious adverse events' clocks as a table that fits 80 columns (or a line saying
    there are none)."""
    clocks = safety["clocks"]
    if not clocks:
        out.print(f"No serious adverse event in the bundle (as of {safety['as_of']}).")
        return
    table = Table(title=f"Serious adverse events as of {safety['as_of']} (the bundle's last "
                        f"record), protocol {safety['protocol']}; times UTC", show_lines=True)
    table.add_column("participant, event", ratio=1)
    table.add_column("24-hour report", no_wrap=True)
    table.add_column("expedited report", no_wrap=True)
    for c in clocks:
        report = [_status(c["report_status"], c["report_late_hours"]),
                  f"aware  {_utc(c['aware_at'])}", f"sealed {_utc(c['reported_at'])}",
                  f"due    {_utc(c['report_due'])}"]
        expedited = ["not a SUSAR"]
        if c["susar"]:
            expedited = [f"SUSAR, {c['expedited_days']} days: "
                         + _status(c["expedited_status"], c["expedited_late_hours"]),
                         f"due    {_utc(c['expedited_due'])}"]
            if c["expedited_at"]:
                expedited.append(f"sealed {_utc(c['expedited_at'])}")
        table.add_row(f"{c['participant_id']}\n{c['term']}\n[dim]{c['event'][:16]}…[/dim]",
                      "\n".join(report), "\n".join(expedited))
    out.print(table)


def _status(status: str | None, late_hours: float | None) -> str:
    """"met", "late by 6 h", "open", "overdue by 30 h"."""
    if status is None:
        return "—"
    colour = {"met": "green", "open": "yellow"}.get(status, "red")
    return f"[{colour}]{status}[/{colour}]" + (f" by {late_hours:g} h" if late_hours else "")


def _utc(moment: str | None) -> str:
    """An ISO time as "2026-03-12 09:00" in UTC (the table's title says UTC)."""
    from ledger.entry import parse_time

    if moment is None:
        return "—"
    return parse_time(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def import_bundle(path: Annotated[Path, typer.Argument(help="The bundle file to restore.")],
                  root: RootNeeded,
                  db: DbOpt = None) -> None:
    """Restore a bundle into a clean database: records, leaf indexes, checkpoints, views."""
    from api.services.bootstrap import create_tables

    services = open_services(db, initialised=False)
    try:
        if services.store.is_initialised():
            fail(f"{services.store.url} holds a ledger already; restore into a clean database")
        create_tables(services)
        with progress_bar("restoring", 0, False) as advance:
            report = restore(services.ledger, path, root=root, progress=advance)
        services.views.catch_up()
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"Restored {report.records} records (tree size {report.tree_size}, "
              f"{report.checkpoints} checkpoints) into {services.store.url}")


def register(app: LedgerTyper) -> None:
    app.command("verify")(verify)
    app.command("verify-bundle")(verify_bundle)
    app.command("import")(import_bundle)


def register_export(export: LedgerTyper) -> None:
    export.command("bundle")(export_bundle)
