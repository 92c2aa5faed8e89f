"""`export casebook`, `export certified-copy` and `verify-copy`: documents for inspectors and
sites, recorded as exports when made, checked offline when received."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DbOpt, HomeOpt, cli_user, exporting, fail, open_signing, out
from api.cli.help import LedgerTyper
from api.exports.casebook import Reader
from api.services.exports import export_casebook as make_casebook
from api.services.exports import export_certified_copy as make_certified_copy


def _write(out_file: Path, data: bytes) -> None:
    tmp = out_file.with_name(out_file.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out_file)


def _cli_reader() -> Reader:
    """Whom a document made here is for: the operating-system user, as no key names them."""
    user = getpass.getuser()
    return Reader(f"cli:{user}", f"operating-system user {user}", "admin")


def export_casebook(participant: Annotated[str, typer.Argument(help="Participant id, e.g. P-001.")],
                    out_file: Annotated[Path, typer.Argument(help="PDF file to write.")],
                    db: DbOpt = None, home: HomeOpt = None) -> None:
    """One participant's casebook as PDF: data per visit, scores, signatures, audit trail, with
    record hashes and the signed checkpoint it was made from (recorded as an export)."""
    services = open_signing(db, home)
    with exporting(services, out_file):
        made = make_casebook(services, cli_user(), participant, reader=_cli_reader())
        at = made.at
        assert at is not None  # a casebook is always made from a signed checkpoint
        _write(out_file, made.body)
    out.print(f"Wrote {out_file}: casebook of {participant}, checkpoint {at.size} {at.root_hex}")


def export_certified_copy(site: Annotated[str, typer.Option("--site", help="The site, e.g. site-01.")],
                          out_file: Annotated[Path, typer.Argument(help="ZIP file to write.")],
                          db: DbOpt = None, home: HomeOpt = None) -> None:
    """A site's certified copy: its participants' records with inclusion proofs and casebooks,
    under a manifest signed by the ledger key with the time of copy (recorded as an export)."""
    services = open_signing(db, home)
    with exporting(services, out_file):
        made = make_certified_copy(services, cli_user(), site, reader=_cli_reader())
        at = made.at
        assert at is not None  # a certified copy is always made from a signed checkpoint
        _write(out_file, made.body)
    out.print(f"Wrote {out_file}: certified copy of {site} at {made.made_at}, checkpoint {at.size}")


def verify_copy(path: Annotated[Path, typer.Argument(help="The certified copy (ZIP).")],
                root: Annotated[str, typer.Option("--root", metavar="FINGERPRINT",
                                                  help="The trial root key fingerprint.")],
                as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
                = False) -> None:
    """Check a certified copy with no server: the ledger key's signature on its manifest, each
    file's hash, and every record (signature, chain, inclusion in the signed checkpoint)."""
    from api.exports.certified import verify_copy as check

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    report = check(data, root=root)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    elif report.ok:
        records = report.excerpt.records if report.excerpt else 0
        out.print(f"OK: certified copy of {report.site} made {report.copied_at}; {records} records "
                  f"verified against the signed checkpoint")
    else:
        for problem in report.problems:
            out.print(f"FAIL {problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def register(app: LedgerTyper) -> None:
    app.command("verify-copy")(verify_copy)


def register_export(export: LedgerTyper) -> None:
    export.command("casebook")(export_casebook)
    export.command("certified-copy")(export_certified_copy)
