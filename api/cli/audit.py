"""The audit bundle and its checks: verify, export bundle, verify-bundle, import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import DbOpt, err, exporting, fail, open_services, out, progress_bar
from api.cli.help import LedgerTyper
from ledger.bundle import BundleReader, write_bundle
from ledger.errors import LedgerError
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


def _saved(paths: list[Path] | None) -> list[str]:
    notes = []
    for path in paths or []:
        try:
            notes.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read checkpoint {path}: {exc}")
    return notes


def _print(report: Report, as_json: bool, projections: list[dict[str, Any]] | None = None,
           note: str | None = None) -> None:
    if as_json:
        body = report.as_dict()
        if projections is not None:
            body["projections"] = projections
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
    saved = _saved(checkpoint)
    services = open_services(db)
    try:
        tree = services.ledger.tree
        found = services.ledger.registry().root_key if root is None else None
        with progress_bar("verifying", services.store.max_position(), as_json) as advance:
            report = verify_log(StoreRows(services.store), checkpoints=[c.note for c in tree.checkpoints()],
                                saved=saved, leaves=iter_leaves(tree), root=root, progress=advance)
    except LedgerError as exc:
        fail(exc.message)
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
                     checkpoints=checkpoints, progress=progress)
    tmp.replace(out_file)
    return size, len(checkpoints)


def verify_bundle(path: Annotated[Path, typer.Argument(help="The bundle file.")],
                  root: RootNeeded,
                  checkpoint: SavedOpt = None,
                  witness: Annotated[list[str] | None, typer.Option(
                      "--witness", metavar="VKEY", help="A witness key (C2SP vkey) that must have cosigned a "
                      "checkpoint of this bundle (repeatable: all must).")] = None,
                  as_json: JsonOpt = False) -> None:
    """Check a bundle with no server and no database, trusting only the root fingerprint."""
    saved = _saved(checkpoint)
    try:
        reader = BundleReader(path)
        try:
            with progress_bar("verifying", reader.header.records, as_json) as advance:
                report = verify_log(BundleRows(reader), checkpoints=reader.checkpoints, saved=saved,
                                    origin=reader.header.origin, root=root, progress=advance,
                                    witnesses=witness or ())
        finally:
            reader.close()
        projections = None
        if report.ok:  # the views rebuilt from the bundle: as long again as the check, so shown too
            with progress_bar("rebuilding views", report.records, as_json) as advance:
                projections = _bundle_projections(path, report.tree_size, report.root, advance)
    except LedgerError as exc:
        fail(exc.message)
    _print(report, as_json, projections)


def _bundle_projections(path: Path, size: int, root: str,
                        progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Rebuild the views from the bundle itself, so they can be compared with the live system;
    `progress` is told of every PROGRESS records folded (and of the rest at the end)."""
    from ledger.entry import Record
    from projections.rebuild import PROGRESS
    from projections.replay import replay
    from projections.status import folded_status

    def records(reader: BundleReader) -> Iterator[Record]:
        count = 0
        for count, row in enumerate(reader.rows(), 1):
            yield Record.from_stored(row.state, row.position)
            if progress is not None and count % PROGRESS == 0:
                progress(PROGRESS)
        if progress is not None and count % PROGRESS:
            progress(count % PROGRESS)

    reader = BundleReader(path)
    try:
        folded = replay(records(reader))
    finally:
        reader.close()
    return folded_status(folded, tree_size=size, root=root)


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
