"""`trial-ledger init`: create the ledger and the keys it starts from."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import DbOpt, HomeOpt, fail, open_services, out, passphrase
from api.cli.help import LedgerTyper
from api.services.bootstrap import DEFAULT_ORIGIN, database_url, home_dir, initialise
from ledger.errors import LedgerError


def init(db: DbOpt = None, home: HomeOpt = None,
         origin: Annotated[str, typer.Option(help="The ledger's origin name.")] = DEFAULT_ORIGIN,
         root_name: Annotated[str, typer.Option(help="Printed name of the root key holder.")]
         = "Trial root") -> None:
    """Create the ledger: tables, the trial root key, the ledger's own key, and genesis."""
    services = open_services(db, initialised=False)
    try:
        info = initialise(
            services, home=home_dir(home), origin=origin, root_name=root_name,
            root_passphrase=passphrase("TRIAL_LEDGER_ROOT_PASSPHRASE", "Root key passphrase",
                                       confirm=True),
            ledger_passphrase=passphrase("TRIAL_LEDGER_LEDGER_PASSPHRASE", "Ledger key passphrase",
                                         confirm=True))
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"Initialised ledger [bold]{info.origin}[/bold] in {database_url(db)}")
    out.print(f"Root key:   {info.root_key_file}")
    out.print(f"Ledger key: {info.ledger_key_file}")
    out.print(f"Checkpoint key (give it to witnesses): {info.checkpoint_key}")
    out.print("Root fingerprint (give it to verifiers):")
    print(info.root_fingerprint)


def register(app: LedgerTyper) -> None:
    app.command("init")(init)
