"""`export casebook`, `export certified-copy` and `verify-copy`: documents for inspectors and
sites, recorded as exports when made, checked offline when received."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DbOpt, HomeOpt, exporting, fail, open_signing, out
from api.cli.help import LedgerTyper
from api.exports.casebook import Reader


def _write(out_file: Path, data: bytes) -> None:
    tmp = out_file.with_name(out_file.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out_file)


_CLI_READER = Reader(f"cli:{getpass.getuser()}", f"operating-system user {getpass.getuser()}", "admin")


def export_casebook(participant: Annotated[str, typer.Argument(help="Participant id, e.g. P-001.")],
                    out_file: Annotated[Path, typer.Argument(help="PDF file to write.")],
                    db: DbOpt = None, home: HomeOpt = None) -> None:
    """One participant's casebook as PDF: data per visit, scores, signatures, audit trail, with
    record hashes and the signed checkpoint it was made from (recorded as an export)."""
    from api.exports.audit import record_export
    from api.exports.casebook import casebook_pdf
    from api.exports.odm import created_now, cut

    services = open_signing(db, home)
    with exporting(services, out_file):
        services.views.catch_up()
        if services.views.participant(participant) is None:
            fail(f"no participant {participant}")
        at = cut(services)
        pdf = casebook_pdf(services, _CLI_READER, [participant], at, made_at=created_now(services))
        record_export(services, what="casebook", fmt="pdf", by=_CLI_READER.author, role="admin",
                      filters={"participant": participant, "tree_size": str(at.size)})
        _write(out_file, pdf)
    out.print(f"Wrote {out_file}: casebook of {participant}, checkpoint {at.size} {at.root_hex}")


def export_certified_copy(site: Annotated[str, typer.Option("--site", help="The site, e.g. site-01.")],
                          out_file: Annotated[Path, typer.Argument(help="ZIP file to write.")],
                          db: DbOpt = None, home: HomeOpt = None) -> None:
    """A site's certified copy: its participants' records with inclusion proofs and casebooks,
    under a manifest signed by the ledger key with the time of copy (recorded as an export)."""
    from api.exports.audit import record_export
    from api.exports.certified import certified_copy, site_participants
    from api.exports.odm import created_now, cut

    services = open_signing(db, home)
    with exporting(services, out_file):
        if not site_participants(services, site):
            fail(f"site {site} has no participants")
        at = cut(services)
        copied_at = created_now(services)
        data = certified_copy(services, _CLI_READER, site, at, copied_at=copied_at)
        record_export(services, what="certified_copy", fmt="zip", by=_CLI_READER.author, role="admin",
                      filters={"site": site, "tree_size": str(at.size)})
        _write(out_file, data)
    out.print(f"Wrote {out_file}: certified copy of {site} at {copied_at}, checkpoint {at.size}")


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
