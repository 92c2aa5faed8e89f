"""What every command shares: the consoles, the --db and --home options, one-line failures,
passphrases, opening the ledger, and the progress bar and closing of long writes."""

from __future__ import annotations

import getpass
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from api.services.bootstrap import Services, bootstrap, database_url, home_dir, root_signer
from api.services.errors import Denied
from api.services.tokens import User
from ledger.errors import LedgerError
from ledger.ledger import Clock, system_clock
from ledger.signer import Signer

out = Console(soft_wrap=True)
err = Console(stderr=True)
DATABASE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error)

DbOpt = Annotated[str | None, typer.Option(
    "--db", metavar="URL", show_default=False, help="Database URL: sqlite:///FILE (default "
    "sqlite:///trial-ledger.db) or postgresql://…; env TRIAL_LEDGER_DB.")]
HomeOpt = Annotated[Path | None, typer.Option(
    "--home", metavar="FOLDER", help="Folder for the ledger's key files; env TRIAL_LEDGER_HOME "
    "(default ./trial-ledger-home).")]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, any width
    raise typer.Exit(code)


def one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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


def open_signing(db: str | None, home: Path | None) -> Services:
    """The database, with the system's keys loaded: exports are recorded before they are written."""
    from api.services.trial_setup import load_system_actors

    services = open_services(db)
    try:
        load_system_actors(services, home_dir(home), passphrase(
            "TRIAL_LEDGER_LEDGER_PASSPHRASE", "Ledger (system keys) passphrase"))
    except BaseException:
        services.close()
        raise
    return services


def cli_user() -> User:
    """Who a command acts as where the services ask for a user: an admin, named after the
    operating-system user, as the exports it makes are recorded."""
    return User(f"cli:{getpass.getuser()}", "admin", "sponsor")


def admin_signer(home: Path | None) -> Signer:
    """The root key (admin acts: users, keys), opened with its passphrase."""
    return root_signer(home_dir(home), passphrase("TRIAL_LEDGER_ROOT_PASSPHRASE",
                                                  "Root key passphrase"))


class RateColumn(ProgressColumn):
    """Records per second, as the bar goes."""

    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed:,.0f} records/s", style="cyan")


@contextmanager
def progress_bar(label: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), RateColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=quiet or not err.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def exporting(services: Any, out_file: Path) -> Iterator[None]:
    """The end every export command shares: a failed write or a refusal is one readable line,
    and the database is closed whatever happened."""
    try:
        yield
    except OSError as exc:
        fail(f"cannot write {out_file}: {exc.strerror}")
    except LedgerError as exc:
        fail(exc.message)
    except Denied as exc:  # the services' who-may check, should the CLI's user ever fail it
        fail(exc.detail)
    finally:
        services.close()
