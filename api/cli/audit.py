"""Audit commands: verify, export bundle, verify-bundle, import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from api.cli.help import LedgerTyper
from api.cli.main import DbOpt, app, err, fail, open_services, out
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
export_app = LedgerTyper(help="Exports for regulators and archives.")
app.add_typer(export_app, name="export")


class RateColumn(ProgressColumn):
    """Records per second, as the bar goes."""

    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed:,.0f} records/s", style="cyan")


@contextmanager
def progress_bar(label: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), RateColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=quiet or not err.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


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


@app.command()
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


@contextmanager
def exporting(services: Any, out_file: Path) -> Iterator[None]:
    """The end every export command shares: a failed write or a refusal is one readable line,
    and the database is closed whatever happened."""
    try:
        yield
    except OSError as exc:
        fail(f"cannot write {out_file}: {exc.strerror}")
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()


@export_app.command("bundle")
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


@app.command("verify-bundle")
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


@app.command("import")
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


@app.command()
def witness(url: Annotated[str, typer.Option(help="The ledger's base URL.")],
            name: Annotated[str, typer.Option(help="Your witness id (as registered with role witness).")],
            key: Annotated[Path, typer.Option(metavar="FILE", help="Your witness private key file "
                                              "(from `keys new`).")],
            log_key: Annotated[str, typer.Option("--log-key", help="The ledger's checkpoint key "
                                                 "(C2SP vkey, printed by `init`), obtained out of band.")],
            state: Annotated[Path, typer.Option(metavar="FOLDER", help="Folder where the last "
                                                "accepted checkpoint of each ledger is kept.")]
            = Path("witness-state"),
            token: Annotated[str | None, typer.Option(envvar="TRIAL_LEDGER_TOKEN",
                                                      help="Your API token.")] = None) -> None:
    """Cosign the ledger's latest checkpoint if it extends the last one you accepted."""
    import httpx

    from api.cli.main import passphrase
    from api.http.witnessing import run_witness
    from ledger.keys import load_private_key
    from ledger.note import NoteVerifier
    from ledger.witness import CosignatureSigner, Witness, WitnessError

    try:
        log = NoteVerifier.from_key_string(log_key)
        signer = CosignatureSigner(name, load_private_key(key, passphrase(
            "TRIAL_LEDGER_KEY_PASSPHRASE", "Witness key passphrase")))
        with httpx.Client(base_url=url, timeout=30,
                          headers={"Authorization": f"Bearer {token}"} if token else {}) as http:
            result = run_witness(http, Witness(state, signer, {log.name: log}), origin=log.name)
    except (LedgerError, WitnessError) as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}")
    except Exception as exc:  # the note module's own errors, one line each
        fail(f"{type(exc).__name__}: {exc}")
    out.print(f"Cosigned {log.name} at tree size {result['size']}")
