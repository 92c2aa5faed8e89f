"""`trial-ledger export audit` and `export odm`: to a file, streamed, recorded as an export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import DbOpt, HomeOpt, cli_user, exporting, fail, open_signing, out, progress_bar
from api.cli.help import LedgerTyper
from api.exports.audit import AuditFilter, as_csv, as_jsonl
from api.services import exports


def export_audit(out_file: Annotated[Path, typer.Argument(help="File to write.")],
                 fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
                 since: Annotated[str | None, typer.Option(help="recorded at or after (…Z)")] = None,
                 until: Annotated[str | None, typer.Option(help="recorded at or before (…Z)")] = None,
                 author: Annotated[str | None, typer.Option(help="one user's records")] = None,
                 participant: Annotated[str | None, typer.Option(help="one participant")] = None,
                 entry_type: Annotated[str | None, typer.Option("--type", help="one entry type")]
                 = None,
                 site: Annotated[str | None, typer.Option(help="one site")] = None,
                 db: DbOpt = None, home: HomeOpt = None) -> None:
    """Export the whole audit trail (or a filtered part), oldest first; the export is recorded
    in the ledger (by the system key, naming the operating-system user) before it is written."""
    if fmt not in ("csv", "jsonl"):
        fail("--format is csv or jsonl")
    wanted = AuditFilter(since, until, author, participant, entry_type, site)
    services = open_signing(db, home)
    with exporting(services, out_file):
        made = exports.export_audit(services, cli_user(), wanted, fmt)
        written = 0
        tmp = out_file.with_name(out_file.name + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as handle, \
                progress_bar("exporting", services.ledger.tree.size(), False) as advance:
            def counted() -> Iterator[dict[str, Any]]:
                nonlocal written
                for row in made.body:
                    written += 1
                    advance(1)
                    yield row

            for chunk in (as_csv if fmt == "csv" else as_jsonl)(counted()):
                handle.write(chunk)
        tmp.replace(out_file)
    out.print(f"Wrote {out_file}: {written} audit rows ({fmt})")


def export_odm(out_file: Annotated[Path, typer.Argument(help="File to write (.xml).")],
               db: DbOpt = None, home: HomeOpt = None) -> None:
    """Export every participant record up to the latest signed checkpoint as CDISC ODM 1.3.2
    (Transactional, Archival=Yes); the export is recorded in the ledger before it is written."""
    services = open_signing(db, home)
    with exporting(services, out_file):
        # The document is read lazily; its bar opens once the checkpoint's size is known.
        bar: list[Callable[[int], None]] = []
        made = exports.export_odm(services, cli_user(), progress=lambda n: bar[-1](n))
        at = made.at
        assert at is not None  # an ODM export is always made from a signed checkpoint
        tmp = out_file.with_name(out_file.name + ".part")
        with tmp.open("wb") as handle, progress_bar("exporting", 2 * at.size, False) as advance:
            bar.append(advance)
            for chunk in made.body:
                handle.write(chunk)
        tmp.replace(out_file)
    out.print(f"Wrote {out_file}: CDISC ODM 1.3.2 of {at.size} records, checkpoint root {at.root_hex}")


def register(export: LedgerTyper) -> None:
    export.command("audit")(export_audit)
    export.command("odm")(export_odm)
