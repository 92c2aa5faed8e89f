"""The `keys` group: make a key pair on the signer's machine, rotate a user's key, revoke one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DbOpt, HomeOpt, admin_signer, fail, open_services, out, passphrase
from api.cli.help import LedgerTyper
from api.cli.users import users_revoke
from api.services.keys import rotate_key
from ledger.errors import LedgerError
from ledger.keys import generate, key_id, public_b64, read_public_key, save_private_key, write_public_key


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


def keys_rotate(user: Annotated[str, typer.Argument(help="The user id whose key changes.")],
                public_key: Annotated[Path, typer.Option("--public-key", metavar="FILE", help=(
                    "The new public key file (from `keys new`)."))],
                reason: Annotated[str, typer.Option(help="Why (recorded with each revocation).")]
                = "scheduled key rotation",
                db: DbOpt = None, home: HomeOpt = None) -> None:
    """Register a user's new key and revoke the ones they held (admin, with the root key)."""
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


def keys_revoke(key: Annotated[str, typer.Argument(help="Key id to revoke.")],
                reason: Annotated[str, typer.Option(help="Why (recorded).")],
                db: DbOpt = None, home: HomeOpt = None) -> None:
    """Revoke a key (the same as `users revoke`)."""
    users_revoke(key, reason, db, home)


def register(keys: LedgerTyper) -> None:
    keys.command("new")(keys_new)
    keys.command("rotate")(keys_rotate)
    keys.command("revoke")(keys_revoke)
