"""`trial-ledger` command line: one readable line on error, never a traceback.

The whole command tree is built here, top to bottom, from the modules that define the commands;
importing a command module registers nothing by itself."""

from __future__ import annotations

import sys

from api.cli import audit, bench, copies, exports, init, keys, serve, trial, users, views, witness
from api.cli.common import DATABASE_ERRORS, err, one_line
from api.cli.help import LedgerTyper
from ledger.errors import LedgerError


def build() -> LedgerTyper:
    """The commands first, in the order `--help` lists them, then the groups."""
    app = LedgerTyper(help="Signed, append-only, replayable audit ledger for a clinical trial.",
                      pretty_exceptions_enable=False)
    init.register(app)
    audit.register(app)  # verify, verify-bundle, import
    witness.register(app)
    bench.register(app)
    copies.register(app)  # verify-copy
    serve.register(app)
    trial.register(app)  # setup, demo
    views.register(app)  # rebuild

    users_app = LedgerTyper(help="People and system actors who may sign entries.")
    users.register(users_app)
    app.add_typer(users_app, name="users")

    keys_app = LedgerTyper(help="Ed25519 key pairs, kept on the signer's own machine.")
    keys.register(keys_app)
    app.add_typer(keys_app, name="keys")

    export_app = LedgerTyper(help="Exports for regulators and archives.")
    audit.register_export(export_app)  # bundle
    exports.register(export_app)  # audit, odm
    copies.register_export(export_app)  # casebook, certified-copy
    app.add_typer(export_app, name="export")

    allocation_app = LedgerTyper(help="The allocation list: reveal at unblinding, verify.")
    trial.register_allocation(allocation_app)
    app.add_typer(allocation_app, name="allocation")
    return app


app = build()


def main() -> None:
    try:
        app()
    except LedgerError as exc:  # anything a command did not translate itself
        err.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except DATABASE_ERRORS as exc:  # a database lost mid-command: the cause, not a traceback
        err.print(f"[red]error:[/red] database: {one_line(exc)}", highlight=False,
                  soft_wrap=True)
        sys.exit(1)
