"""`serve`: a port in use is one line before anything starts; the server answers on the socket it
bound; `serve --demo` on a database that holds the demo says how to get a token again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from api.cli.main import app

from .test_cli import ENV
from .test_cli_database import free_port

REPO = Path(__file__).resolve().parents[1]


def test_a_port_in_use_is_one_line_before_serving(tmp_path: Path) -> None:
    db, home = f"sqlite:///{tmp_path / 'l.db'}", str(tmp_path / "home")
    runner = CliRunner(env={**ENV, "TRIAL_LEDGER_HOME": home})
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0  # would serve, but for the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--db", db, "--port", str(port)])
        demo = runner.invoke(app, ["serve", "--demo", "--db", f"sqlite:///{tmp_path / 'd.db'}",
                                   "--home", str(tmp_path / "demo-home"), "--port", str(port)])
    said = (f"error: port {port} on 127.0.0.1 is in use (another server is listening there); "
            "choose another with --port\n")
    assert result.exit_code == 1 and "Serving on" not in result.stdout and result.stderr == said
    # the demo, which takes a while to make, is not made for a server that cannot start
    assert demo.exit_code == 1 and demo.stdout == "" and demo.stderr == said
    assert not (tmp_path / "demo-home").exists()


def serve(*args: str, port: int, home: Path, path: str = "/v1/health",
          token: str | None = None, passphrases: bool = True,
          env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `serve` as a shell would, GET `path` once it answers, then stop it: (status, stdout)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "100",
           **(ENV if passphrases else {}), **(env or {}), "TRIAL_LEDGER_HOME": str(home)}
    server = subprocess.Popen([sys.executable, "-c", "from api.cli.main import main; main()", "serve",
                               "--port", str(port), *args], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    status = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5, headers={
                    "Authorization": f"Bearer {token}"} if token else {}).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert "Traceback" not in err and status, err
    return status, out


def test_serve_answers_on_the_socket_it_bound(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    assert CliRunner(env=ENV).invoke(app, ["init", "--db", db, "--home", str(tmp_path / "h")]
                                     ).exit_code == 0
    port = free_port()
    status, out = serve("--db", db, port=port, home=tmp_path / "h")
    assert status == 200 and f"Serving on http://127.0.0.1:{port}/v1" in out


def test_serve_demo_on_the_demo_says_how_to_get_a_token_again(tmp_path: Path) -> None:
    db, home = f"sqlite:///{tmp_path / 'demo.db'}", tmp_path / "demo-home"
    made = CliRunner().invoke(app, ["demo", "--db", db, "--home", str(home), "--participants", "1"])
    assert made.exit_code == 0 and "API token" in made.stdout
    secret = " ".join(made.stdout.split()).split("shown only now:", 1)[1].split()[0]
    issued = CliRunner(env={"TRIAL_LEDGER_ROOT_PASSPHRASE": secret}).invoke(
        app, ["users", "token", "mon-01", "--db", db, "--home", str(home)])
    assert issued.exit_code == 0, issued.output
    status, out = serve("--demo", "--db", db, "--home", str(home), port=free_port(), home=home,
                        path="/v1/summary", token=issued.stdout.splitlines()[-1],
                        passphrases=False,  # the demo's own, printed when it was made
                        env={"TRIAL_LEDGER_LEDGER_PASSPHRASE": secret})
    assert status == 200 and "API token" not in out  # the token works; old ones are not printed
    said = " ".join(out.split())
    assert f"The demo is already in {db}: serving it as it is." in said
    assert f"`trial-ledger users list --db {db} --home {home}` shows its staff" in said
    assert f"`trial-ledger users token USER --db {db} --home {home}` issues a new token" in said


def test_serve_demo_on_another_ledger_does_not_call_it_the_demo(tmp_path: Path) -> None:
    db, home = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "h"
    assert CliRunner(env=ENV).invoke(app, ["init", "--db", db, "--home", str(home)]).exit_code == 0
    status, out = serve("--demo", "--db", db, "--home", str(home), port=free_port(), home=home)
    assert status == 200 and "holds a ledger that is not the demo" in " ".join(out.split())
