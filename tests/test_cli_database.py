"""A database the CLI cannot reach is named in one line with the cause: exit 1, no traceback."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from typer.testing import CliRunner

from api.cli.main import app

from .test_cli import ENV


def one_error_line(*args: str) -> str:
    """Run the command; it must fail with exactly one line on stderr and nothing else."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_netloc(url: str, *, port: int | None = None, dbname: str | None = None) -> str:
    parts = urlparse(url)
    netloc = parts.netloc if port is None else f"{parts.netloc.rsplit(':', 1)[0]}:{port}"
    return urlunparse(parts._replace(netloc=netloc, path=f"/{dbname}" if dbname else parts.path))


def test_postgres_on_a_port_nobody_listens_on(pg_url: str) -> None:
    port = free_port()
    line = one_error_line("verify", "--db", with_netloc(pg_url, port=port))
    assert line == f"error: cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused)"


def test_postgres_database_that_does_not_exist(pg_url: str) -> None:
    line = one_error_line("users", "history", "--db", with_netloc(pg_url, dbname="nosuch_tl_db"))
    assert line == ('error: cannot reach PostgreSQL at 127.0.0.1:5432 '
                    '(database "nosuch_tl_db" does not exist)')


def test_postgres_host_that_does_not_resolve() -> None:
    line = one_error_line("init", "--db", "postgresql://postgres@nosuch.invalid:5432/test")
    assert line == "error: cannot reach PostgreSQL at nosuch.invalid:5432 (unknown host nosuch.invalid)"


def test_sqlite_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "ledger.db"
    for command in (["init"], ["verify"], ["demo"], ["serve"]):
        line = one_error_line(*command, "--db", f"sqlite:///{db}")
        assert line == f"error: cannot open SQLite database {db} (folder {db.parent} does not exist)"
    assert not db.parent.exists()  # nothing half-made


def test_sqlite_file_that_is_no_database(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("not a database\n" * 100)
    line = one_error_line("verify", "--db", f"sqlite:///{db}")
    assert line == f"error: cannot open SQLite database {db} (file is not a database)"
    assert db.read_text() == "not a database\n" * 100  # left as it was


def test_the_installed_command_prints_one_line_too(tmp_path: Path) -> None:
    """Through `main()`, as a shell runs it: stderr is one line, whatever the terminal width."""
    db = tmp_path / "missing" / "a-rather-long-folder-name-for-a-narrow-terminal" / "ledger.db"
    done = subprocess.run([sys.executable, "-c", "from api.cli.main import main; main()", "verify",
                           "--db", f"sqlite:///{db}"], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "40", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "does not exist" in done.stderr


def test_reachable_databases_pass_the_probe(pg_url: str, tmp_path: Path) -> None:
    from api.services.reachability import unreachable

    assert unreachable(pg_url) is None
    assert unreachable(f"sqlite:///{tmp_path / 'new.db'}") is None  # to be created: fine


def test_a_database_error_mid_command_is_one_line(tmp_path: Path) -> None:
    """A damaged database (here a table dropped by hand) fails the command that meets it with
    the database's own message on one line, through `main()`, and no traceback."""
    env = {**ENV, "TRIAL_LEDGER_DB": f"sqlite:///{tmp_path / 'l.db'}",
           "TRIAL_LEDGER_HOME": str(tmp_path / "home")}
    runner = CliRunner(env=env)
    for args in (["init"], ["keys", "new", "--out", str(tmp_path / "a.key")],
                 ["users", "add", "alice", "--role", "investigator", "--site", "site-01",
                  "--public-key", str(tmp_path / "a.key.pub")]):
        assert runner.invoke(app, args).exit_code == 0
    with sqlite3.connect(tmp_path / "l.db") as conn:
        conn.execute("DROP TABLE api_tokens")
    conn.close()
    done = subprocess.run([sys.executable, "-c", "from api.cli.main import main; main()", "users",
                           "token", "alice"], capture_output=True, text=True, timeout=60,
                          env={**env, "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: database: no such table: api_tokens\n"
