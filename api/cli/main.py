"""`trial-ledger` command line: one readable line on error, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console

from api.cli.help import LedgerTyper
from api.services.bootstrap import (
    DEFAULT_ORIGIN,
    Services,
    bootstrap,
    database_url,
    home_dir,
    initialise,
    register_user,
    revoke_key,
    root_signer,
)
from ledger.errors import LedgerError
from ledger.keys import generate, key_id, public_b64, read_public_key, save_private_key, write_public_key
from ledger.ledger import Clock, system_clock
from ledger.signer import Signer

app = LedgerTyper(help="Signed, append-only, replayable audit ledger for a clinical trial.",
                  pretty_exceptions_enable=False)
users_app = LedgerTyper(help="People and system actors who may sign entries.")
keys_app = LedgerTyper(help="Ed25519 key pairs, kept on the signer's own machine.")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
out = Console(soft_wrap=True)
DATABASE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error)
err = Console(stderr=True)

DbOpt = Annotated[str | None, typer.Option(
    "--db", metavar="URL", show_default=False, help="Database URL: sqlite:///FILE (default "
    "sqlite:///trial-ledger.db) or postgresql://…; env TRIAL_LEDGER_DB.")]
HomeOpt = Annotated[Path | None, typer.Option(
    "--home", metavar="FOLDER", help="Folder for the ledger's key files; env TRIAL_LEDGER_HOME "
    "(default ./trial-ledger-home).")]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, any width
    raise typer.Exit(code)


def passphrase(env: str, prompt: str, *, confirm: bool = False) -> str:
    """From the environment (for scripts) or asked for, never echoed."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        fail(f"{prompt} needed: set {env} or run in a terminal")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def open_services(db: str | None, *, initialised: bool = True,
                  clock: Clock | None = None) -> Services:
    """Open the ledger; unless creating one, refuse a database that holds none. A database that
    cannot be reached is named with the cause, before the store's pool waits on it."""
    from api.services.reachability import unreachable

    if (why := unreachable(database_url(db))) is not None:
        fail(why)
    try:
        services = bootstrap(database_url(db), clock=clock or system_clock)
        if initialised and not services.store.is_initialised():
            services.close()
            fail(f"{database_url(db)} holds no ledger: run `trial-ledger init` first")
        return services
    except LedgerError as exc:
        fail(exc.message)
        raise  # unreachable; keeps type checkers content


@app.command()
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


def admin_signer(home: Path | None) -> Signer:
    """The root key (admin acts: users, keys), opened with its passphrase."""
    return root_signer(home_dir(home), passphrase("TRIAL_LEDGER_ROOT_PASSPHRASE",
                                                  "Root key passphrase"))


@keys_app.command("new")
def keys_new(out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="Private key file to write "
                                                    "(passphrase-encrypted PKCS#8); FILE.pub gets "
                                                    "the public key.")]) -> None:
    """Generate your Ed25519 key pair on this machine; give only FILE.pub to the admin."""
    secret = passphrase("TRIAL_LEDGER_KEY_PASSPHRASE", "Passphrase for the new key", confirm=True)
    key = generate()
    try:
        save_private_key(key, out_file, secret)
    except LedgerError as exc:
        fail(exc.message)
    pub = out_file.with_name(out_file.name + ".pub")
    write_public_key(key.public_key(), pub)
    out.print(f"Private key: {out_file} (keep it; it never leaves this machine)")
    out.print(f"Public key:  {pub}")
    out.print(f"Key id:      {key_id(key.public_key())}")


@users_app.command("add")
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


@keys_app.command("rotate")
def keys_rotate(user: Annotated[str, typer.Argument(help="The user id whose key changes.")],
                public_key: Annotated[Path, typer.Option("--public-key", metavar="FILE", help=(
                    "The new public key file (from `keys new`)."))],
                reason: Annotated[str, typer.Option(help="Why (recorded with each revocation).")]
                = "scheduled key rotation",
                db: DbOpt = None, home: HomeOpt = None) -> None:
    """Register a user's new key and revoke the ones they held (admin, with the root key)."""
    from api.services.bootstrap import rotate_key

    services = open_services(db)
    try:
        pub = read_public_key(public_key)
        root = admin_signer(home)
        _, revoked = rotate_key(services, root, author=user, public_key_b64=public_b64(pub),
                                reason=reason)
    except LedgerError as exc:
        fail(exc.message)
    finally:
        services.close()
    out.print(f"{user} now signs with key {key_id(pub)[:16]}…; {len(revoked)} old key(s) revoked")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id to revoke.")],
                reason: Annotated[str, typer.Option(help="Why (recorded).")],
                db: DbOpt = None, home: HomeOpt = None) -> None:
    """Revoke a key (the same as `users revoke`)."""
    users_revoke(key, reason, db, home)


@users_app.command("revoke")
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


@users_app.command("history")
def users_history(db: DbOpt = None,
                  csv_file: Annotated[Path | None, typer.Option("--csv", metavar="FILE",
                                                                help="Write CSV here.")] = None,
                  as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The user-rights history (R20): grants, revocations, locks and unlocks, when, by whom, why."""
    import json

    from rich.table import Table

    from api.http.user_rights import COLUMNS, rights_history, to_csv

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


def one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# Registers the audit and trial commands on `app` (they import what is defined above).


# Registers the other commands on `app` (they import what is defined above).
from api.cli import (  # noqa: E402, F401
    audit,
    bench,
    copies,
    exports,
    serve,
    trial,
    users,
    views,
)
