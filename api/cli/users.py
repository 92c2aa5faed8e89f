"""`users list`, `users unlock`, `users token`: accounts as an admin manages them
(api/services/accounts.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from api.cli.main import DbOpt, HomeOpt, admin_signer, fail, open_services, out, users_app
from api.services.accounts import Account, accounts, issue_token, unlock
from ledger.errors import LedgerError

UserArg = Annotated[str, typer.Argument(help="The user's id, as `users list` shows it.")]


@users_app.command("list")
def users_list(db: DbOpt = None,
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Everyone registered: id, role, site, printed name, whether their key is valid, and
    whether their account is locked."""
    services = open_services(db)
    try:
        found = accounts(services)
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    if as_json:
        print(json.dumps([asdict(a) for a in found], indent=2))
        return
    if not found:
        out.print("No users yet: `trial-ledger users add` registers one.")
        return
    table = Table(title=f"Users ({len(found)})")
    for column in ("user", "role", "site", "printed name", "key", "account"):
        table.add_column(column, no_wrap=column != "printed name", overflow="fold")
    for a in found:
        table.add_row(a.author, a.role, a.site, a.name, _key(a),
                      "[red]locked[/red]" if a.locked else "open")
    out.print(table)


def _key(a: Account) -> str:
    return f"valid {a.key[:8]}…" if a.key else "[red]revoked[/red]"


@users_app.command("unlock")
def users_unlock(user: UserArg,
                 reason: Annotated[str, typer.Option(help="Why (recorded with the unlock).")],
                 db: DbOpt = None, home: HomeOpt = None) -> None:
    """Unlock an account locked after failed logins.

    Records `account.unlocked` with the reason, signed with the root key. The tokens the lock
    revoked stay revoked: `users token` issues a new one."""
    if not reason.strip():
        fail("an unlock needs a reason: --reason TEXT")
    services = open_services(db)
    try:
        receipt = unlock(services, admin_signer(home), user, reason)
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"Unlocked {user} at {receipt.recorded_at} (record {receipt.record_hash[:16]}…)")


@users_app.command("token")
def users_token(user: UserArg, db: DbOpt = None, home: HomeOpt = None) -> None:
    """Issue a new API token for a registered user and print it once (admin, with the root key).

    Their other tokens keep working until they age out or are revoked."""
    services = open_services(db)
    try:
        admin_signer(home)  # only the holder of the root key's passphrase hands out tokens
        token = issue_token(services, user)
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"API token for {user} (shown once; store it now):")
    print(token)

