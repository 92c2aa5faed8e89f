"""Whether a database URL can be reached, said in one line: which database and why not.

The store's connection pool waits out its timeout and then reports only that it got no
connection; one direct connection first names the cause (refused, unknown host, no such
database, authentication) before anything else is opened."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

CONNECT_TIMEOUT = 5  # seconds, as the store's own pool


def unreachable(url: str) -> str | None:
    """None when the database at `url` answers; otherwise why not, as one line."""
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres(url)
    if url.startswith("sqlite://"):
        return _sqlite(url)
    return None  # the store names an unsupported URL itself


def _postgres(url: str) -> str | None:
    import psycopg

    parts = urlparse(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    dbname = (parts.path or "/").lstrip("/") or "postgres"
    try:
        psycopg.connect(host=host, port=port, dbname=dbname, connect_timeout=CONNECT_TIMEOUT,
                        user=unquote(parts.username or "postgres"),
                        password=unquote(parts.password or "")).close()
    except psycopg.Error as exc:
        return f"cannot reach PostgreSQL at {host}:{port} ({postgres_reason(exc)})"
    return None


def postgres_reason(exc: BaseException) -> str:
    """The cause in psycopg's message, without its framing: 'connection refused',
    'database "x" does not exist', 'unknown host nosuch.example', …"""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if resolved := re.match(r"failed to resolve host '([^']*)'", text):
        return f"unknown host {resolved.group(1)}"
    if "timeout expired" in text:
        return f"no answer within {CONNECT_TIMEOUT} s"
    reason = re.sub(r"^(?:FATAL|ERROR):\s+", "", text.rsplit("failed: ", 1)[-1].strip())
    return reason[:1].lower() + reason[1:]


def _sqlite(url: str) -> str | None:
    path = url[len("sqlite://"):]
    path = "/" + path.lstrip("/") if url.startswith("sqlite:////") else path.removeprefix("/")
    if not path or path == ":memory:" or "mode=memory" in path:
        return None  # an empty path is the store's to refuse; memory is always there
    file = Path(path)
    why = None
    if not file.parent.is_dir():
        why = f"folder {file.parent} does not exist"
    elif file.is_dir():
        why = "it is a folder"
    elif file.exists():
        try:
            with sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True) as conn:
                conn.execute("PRAGMA schema_version").fetchone()
            conn.close()
        except sqlite3.Error as exc:
            why = str(exc)
    return None if why is None else f"cannot open SQLite database {file} ({why})"
