"""The `users` group: register a user's key, revoke a key, the user-rights history, and
accounts as an admin manages them (api/services/accounts.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import DbOpt, HomeOpt, admin_signer, fail, open_services, out
from api.cli.help import LedgerTyper
from api.services.accounts import Account, accounts, issue_token, unlock
from api.services.keys import register_user, revoke_key
from api.services.user_rights import COLUMNS, rights_history, to_csv
from ledger.errors import LedgerError
from ledger.keys import key_id, public_b64, read_public_key

UserArg = Annotated[str, typer.Argument(help="The user's id, as `users list` shows it.")]


def users_add(name: Annotated[str, typer.Argument(help="The user's id (never reused).")],
              role: Annotated[str, typer.Option(help="investigator, data_manager, monitor, …")],
              site: Annotated[str, typer.Option(help="The user's site id.")],
              public_key: Annotated[Path, typer.Option("--public-key", metavar="FILE", help=(
                  "The user's public key file (from `keys new`)."))],
              printed_name: Annotated[str | None, typer.Option("--printed-name", help="Name shown "
                                                               "with signatures.")] = None,
              db: DbOpt = None, home: HomeOpt = None) -> None:
    """Register a user's public key (signed by the root key) and print their API token once."""
    services = open_services(db)
    try:
        pub = read_public_key(public_key)
        root = admin_signer(home)
        receipt, token = register_user(services, root, author=name, name=printed_name or name,
                                       role=role, site=site, public_key_b64=public_b64(pub))
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"Registered {name} ({role}, {site}) with key {key_id(pub)[:16]}… "
              f"at keys v{receipt.version}")
    out.print("API token (shown once; store it now):")
    print(token)


def users_revoke(key: Annotated[str, typer.Argument(help="Key id to revoke.")],
                 reason: Annotated[str, typer.Option(help="Why (recorded).")],
                 db: DbOpt = None, home: HomeOpt = None) -> None:
    """Revoke a key: signatures made after this moment no longer count."""
    services = open_services(db)
    try:
        root = admin_signer(home)
        receipt = revoke_key(services, root, kid=key, reason=reason)
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"Revoked {key[:16]}… at {receipt.recorded_at}")


def users_history(db: DbOpt = None,
                  csv_file: Annotated[Path | None, typer.Option("--csv", metavar="FILE",
                                                                help="Write CSV here.")] = None,
                  as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The user-rights history (R20): grants, revocations, locks and unlocks, when, by whom, why."""
    services = open_services(db)
    try:
        rows = rights_history(services)
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    if csv_file is not None:
        try:
            csv_file.write_text(to_csv(rows), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {csv_file}: {exc.strerror}")
        out.print(f"Wrote {len(rows)} rows to {csv_file}")
    elif as_json:
        print(json.dumps({"columns": list(COLUMNS), "rows": rows}, indent=2))
    else:
        table = Table(title="User rights")
        for column in ("recorded_at", "action", "author", "role", "site", "by", "reason"):
            table.add_column(column)
        for r in rows:
            table.add_row(*("" if r[c] is None else str(r[c]) for c in
                            ("recorded_at", "action", "author", "role", "site", "by", "reason")))
        out.print(table)

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


def register(users: LedgerTyper) -> None:
    users.command("add")(users_add)
    users.command("revoke")(users_revoke)
    users.command("history")(users_history)
    users.command("list")(users_list)
    users.command("unlock")(users_unlock)
    users.command("token")(users_token)
