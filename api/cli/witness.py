"""`trial-ledger witness`: cosign a ledger's checkpoint once it is seen to extend the last one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, out, passphrase
from api.cli.help import LedgerTyper
from ledger.errors import LedgerError


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

    from api.services.witnessing import run_witness
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


def register(app: LedgerTyper) -> None:
    app.command("witness")(witness)
