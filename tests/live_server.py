"""Real servers for the reliability tests: a trial set up on disk, `trial-ledger serve` run as a
child process on a free port, killed with SIGKILL, and restarted.

Used by tests/test_crash_safety.py, tests/test_concurrency_pg.py and scripts/soak.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.services.bootstrap import Services, bootstrap, initialise, register_user, root_signer
from api.services.trial_setup import default_protocol, set_up_trial
from ledger.keys import generate, public_b64
from ledger.signer import Signer

from .conftest import LEDGER_PASS, ROOT_PASS

REPO = Path(__file__).resolve().parents[1]
SITE = "site-01"
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Identity:
    signer: Signer
    token: str


@dataclass
class LiveTrial:
    """A set-up trial on disk: who may write, and the shared participants everyone writes to."""

    url: str
    home: Path
    root_fingerprint: str
    investigators: list[Identity]
    monitors: list[Identity]
    #: shared participant id -> hash of its registration record (what queries name)
    shared: dict[str, str] = field(default_factory=dict)


def protocol_for(slots: int | None) -> dict[str, Any]:
    """Protocol 1.0 with an enrolment target that covers `slots` randomisations: a load or
    concurrency run randomises more participants than the trial plans, and no slot is assigned
    beyond the target in force."""
    document = default_protocol()
    return {**document, "target_enrolment": max(document["target_enrolment"], slots or 0)}


def prepare(url: str, home: Path, *, workers: int, slots: int, shared: int) -> LiveTrial:
    """Initialise the ledger, set the trial up (so a randomiser exists), give every worker an
    investigator and a monitor key, and register `shared` participants; then close it all, so
    that only the servers hold the database."""
    services = bootstrap(url)
    try:
        info = initialise(services, home=home, root_passphrase=ROOT_PASS, ledger_passphrase=LEDGER_PASS)
        # The system keys share the ledger key's passphrase: `serve` opens them all with one.
        set_up_trial(services, home=home, root_passphrase=ROOT_PASS, system_passphrase=LEDGER_PASS,
                     document=protocol_for(slots), slots=slots)
        root = root_signer(home, ROOT_PASS)
        investigators = [_user(services, root, f"inv-{n:03d}", "investigator") for n in range(workers)]
        monitors = [_user(services, root, f"mon-{n:03d}", "monitor") for n in range(workers)]
        trial = LiveTrial(url, home, info.root_fingerprint, investigators, monitors)
        signer, ledger = investigators[0].signer, services.ledger
        for n in range(shared):
            pid = f"S-{n:02d}"
            receipt = ledger.append(signer.sign(
                ledger=ledger.origin, head=ledger.head(f"participant/{pid}"),
                type="participant.registered", occurred_at=services.clock(),
                payload={"participant_id": pid, "site": SITE, "sex": "F",
                         "date_of_birth": "1961-04-02", "weight_kg": 64.0}))
            trial.shared[pid] = receipt.record_hash
        return trial
    finally:
        services.close()


def _user(services: Services, root: Signer, author: str, role: str) -> Identity:
    key = generate()
    _, token = register_user(services, root, author=author, name=author.title(), role=role,
                             site=SITE, public_key_b64=public_b64(key.public_key()))
    return Identity(Signer(key, author, role, SITE, "reliability-test/1"), token)


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli() -> list[str]:
    """The `trial-ledger` command: the installed script beside this interpreter, else its entry
    point run by this interpreter."""
    script = Path(sys.executable).with_name("trial-ledger")
    return [str(script)] if script.exists() else [sys.executable, "-c",
                                                  "from api.cli.main import main; main()"]


def environment() -> dict[str, str]:
    """Only what `serve` needs: it refuses to start beside an unknown TRIAL_LEDGER_* variable."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["TRIAL_LEDGER_LEDGER_PASSPHRASE"] = LEDGER_PASS
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback by the server itself."""
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start(trial: LiveTrial, log: Path, port: int | None = None) -> Server:
    """Start `trial-ledger serve` and wait until /v1/health answers (it seals on start)."""
    port = port or free_port()
    with log.open("ab") as out:  # the child keeps its own descriptor; ours closes here
        proc = subprocess.Popen([*cli(), "serve", "--db", trial.url, "--home", str(trial.home),
                                 "--port", str(port)], env=environment(), cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    try:
        _wait_healthy(server)
    except BaseException:
        server.kill()
        raise
    return server


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=server.base_url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {server.proc.returncode}:\n{server.tail()}")
            with suppress(httpx.TransportError):
                if http.get("/v1/health").status_code == 200:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"serve did not answer /v1/health within {STARTUP_SECONDS}s:\n{server.tail()}")


@contextmanager
def serving(trial: LiveTrial, log: Path, port: int | None = None) -> Iterator[Server]:
    """A server that is killed on the way out, whatever happens."""
    server = start(trial, log, port)
    try:
        yield server
    finally:
        server.kill()

