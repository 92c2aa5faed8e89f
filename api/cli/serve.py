"""`trial-ledger serve`: the HTTP API, the views kept current behind it, and the demo on request."""

from __future__ import annotations

import errno
import getpass
import os
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from api.cli.common import DbOpt, HomeOpt, fail, open_services, out, passphrase
from api.cli.help import LedgerTyper
from api.cli.workers import WorkerFailed, Workers, worker_main, workers_count
from api.services.bootstrap import Services, database_url, home_dir
from api.services.sealing import CheckpointTimer
from ledger.errors import LedgerError


def serve(db: DbOpt = None, home: HomeOpt = None,
          demo: Annotated[bool, typer.Option("--demo", help="Make the demo trial in an empty "
                                             "database (one that holds it is served as it is).")]
          = False,
          seed: Annotated[int | None, typer.Option(
              help="With --demo: the seeded demo, the same for anyone who knows the seed (keys "
                   "included). Without it the demo's keys and passphrase are fresh randomness.")]
          = None,
          host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
          checkpoint_interval_ms: Annotated[str | None, typer.Option(
              "--checkpoint-interval-ms", show_default=False,
              help="Sign a checkpoint at most every N milliseconds (at most 60000) instead of at "
                   "every commit (0, the default). Receipts of commits in between carry no "
                   "checkpoint; a timer signs one over them once N ms have passed, and stopping "
                   "the server signs a final one.")] = None,
          workers: Annotated[str | None, typer.Option(
              "--workers", show_default=False,
              help="Worker processes answering HTTP on the one port (default 1: this process). "
                   "Each appends through its own group commit; the views and the checkpoint "
                   "timer stay one for the server. A worker that ends is started again.")]
          = None) -> None:
    """Run the HTTP API."""
    import uvicorn

    from api.services.runner_lock import OneRunner
    from api.services.settings import checkpoint_interval_ms as interval_setting

    try:
        interval = interval_setting(checkpoint_interval_ms)
        count = workers_count(workers)
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers content
    # whatever ends the command (SIGTERM too), nothing is left open or unsigned behind it
    with cleanup_on_sigterm(), ExitStack() as cleanup:
        # The demo takes a while to make: a port in use is said before it. Otherwise the quick
        # checks come first, so an unknown setting is refused and recorded whatever the port.
        listener = cleanup.enter_context(listen(host, port, spread=count > 1)) if demo else None
        services = open_services(db, initialised=False)
        cleanup.callback(services.close)
        if count > 1 and not services.store.shared():
            fail(f"--workers {count} needs a database the workers can share (a file or "
                 f"PostgreSQL), not {services.store.url}")
        secret = prepare(services, db, home, demo, seed)
        listener = listener or cleanup.enter_context(listen(host, port, spread=count > 1))
        # One runner keeps the views for every process on this database (this one, if free).
        views = OneRunner(services, readers=count == 1).start()
        cleanup.callback(views.stop)
        # Stops before the views and the store: the final checkpoint covers every request served.
        services.ledger.checkpoint_interval_ms = interval
        cleanup.callback(final_checkpoint, CheckpointTimer(services.ledger, shared=count > 1).start())
        if interval:
            out.print(f"Checkpoints: at most one every {interval} ms (a final one on stopping)")
        out.print("Views: kept by this server's runner" if views.holding else
                  "Views: kept by another server's runner on this database (this one takes "
                  "them over if it stops)")
        serving = f"Serving on http://{host}:{port}/v1 (OpenAPI at /docs, audit viewer at /ui/)"
        if count > 1:
            serve_workers(count, listener, services, home, secret, interval, serving)
            return
        out.print(serving)
        # Idle keep-alive connections are closed by the clients first (httpx drops them after
        # 5 s, proxies after 60 s): a server closing at the same moment a client reuses one
        # resets that client's request.
        config = uvicorn.Config(make_app(services), host=host, port=port, log_level="info",
                                timeout_keep_alive=75)
        uvicorn.Server(config).run(sockets=[listener])


def serve_workers(count: int, listener: socket.socket, services: Services, home: Path | None,
                  secret: str, interval: int, serving: str) -> None:
    """Serve with `count` worker processes until interrupted (api/cli/workers.py)."""
    pool = Workers(count, listener, url=services.store.url, home=home_dir(home),
                   passphrase=secret, interval_ms=interval)
    try:
        try:
            pool.start()
            out.print(f"{serving}; {count} workers (pids {', '.join(map(str, pool.pids()))})")
            pool.run()
        finally:
            pool.stop()  # before the final checkpoint: it covers every request they served
    except WorkerFailed as exc:
        fail(str(exc))


def make_app(services: Services) -> Any:
    """The HTTP app over `services` (this process's, or a worker's)."""
    from api.http.app import create_app

    return create_app(services)


def prepare(services: Services, db: str | None, home: Path | None, demo: bool,
            seed: int | None = None) -> str:
    """The ledger ready to serve: the demo made if asked for, the system keys loaded, unknown
    settings refused and recorded, anything appended while no server ran sealed. Returns the
    passphrase of the system keys (a server's workers load them too)."""
    from api.demo.loader import make_demo
    from api.services.settings import refuse_unknown
    from api.services.trial_setup import load_system_actors

    made = None
    secret = ""
    try:
        if demo and services.store.is_initialised():
            out.print(demo_present(services, db, home))
        elif demo:
            made = make_demo(services, home_dir(home), seed=seed)
            for line in made.lines if made else []:
                out.print(line)
        elif not services.store.is_initialised():
            fail(f"{database_url(db)} holds no ledger: run `trial-ledger init` (or serve --demo)")
        if services.ledger.sealer is None:
            default = made.passphrase if made else None  # the demo just made; else asked for
            secret = os.environ.get("TRIAL_LEDGER_LEDGER_PASSPHRASE") or default or passphrase(
                "TRIAL_LEDGER_LEDGER_PASSPHRASE", "Ledger key passphrase")
            load_system_actors(services, home_dir(home), secret)
        elif made is not None:
            secret = made.passphrase  # (its keys are loaded already; the workers load them too)
        refused = refuse_unknown(services, os.environ, by=f"os:{getpass.getuser()}")
        if refused:
            fail(f"{', '.join(refused)}: not a setting of trial-ledger (no setting disables or "
                 f"changes auditing); the attempt is recorded on stream `settings`")
        signed = services.ledger.seal()  # cover anything appended while no server ran
        if signed is not None:
            out.print(f"Checkpoint: tree size {signed.size}")
    except LedgerError as exc:
        fail(exc.message)
    return secret


def final_checkpoint(timer: CheckpointTimer) -> None:
    signed = timer.stop()
    if signed is not None:
        out.print(f"Final checkpoint: tree size {signed.size}")


class _Terminated(BaseException):
    """SIGTERM, as an exception: what `serve` closes on the way out still runs."""


@contextmanager
def cleanup_on_sigterm() -> Iterator[None]:
    """uvicorn stops gracefully on SIGTERM, then raises the signal again to die by it, which
    would skip what `serve` closes after it (the final checkpoint among them). Here the signal
    unwinds the command instead, and is raised again with its default action at the end, so
    the process still ends by SIGTERM as a service manager expects."""
    if threading.current_thread() is not threading.main_thread():  # signals: main thread only
        yield
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


def listen(host: str, port: int, *, spread: bool = False) -> socket.socket:
    """The server's socket, bound now, so a port in use is one line and not a log after start-up;
    uvicorn is then handed this very socket (no other process can take the port in between).
    `spread` (several workers, Linux): bound with SO_REUSEPORT, the first of one socket per worker
    among which the kernel spreads new connections (api/cli/workers.py); a plain socket is bound
    first and closed, so that a port another server listens on is still refused."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}:{port} (unknown host: {exc.strerror})")
        raise  # unreachable; keeps type checkers content
    spread = spread and hasattr(socket, "SO_REUSEPORT") and sys.platform == "linux"
    for reuse_port in ((False, True) if spread else (False,)):
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: no wait on TIME_WAIT
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is in use (another server is listening there); "
                     "choose another with --port")
            fail(f"cannot listen on {host}:{port} ({exc.strerror})")
        if spread and not reuse_port:
            address = sock.getsockname()  # (port 0: the port the kernel chose, for the group)
            sock.close()
    return sock


def demo_present(services: Services, db: str | None, home: Path | None) -> str:
    """What `serve --demo` says of a database that holds a ledger already: tokens are shown once
    when the demo is made, so how to get one again."""
    from api.demo.simulation import STAFF

    where = "".join(f" {flag} {shlex.quote(str(value))}"
                    for flag, value in (("--db", db), ("--home", home)) if value is not None)
    authors = {k.author for k in services.ledger.registry().keys.values()}
    if not set(STAFF) <= authors:
        return (f"{services.store.url} holds a ledger that is not the demo: serving it as it is "
                f"(`trial-ledger users list{where}` shows its users)")
    return (f"The demo is already in {services.store.url}: serving it as it is. Its tokens were "
            f"shown once when it was made; `trial-ledger users list{where}` shows its staff, "
            f"`trial-ledger users token USER{where}` issues a new token with the root "
            f"passphrase printed when the demo was made (a seeded demo's is the published one).")


def register(app: LedgerTyper) -> None:
    app.command("serve")(serve)


if __name__ == "__main__":  # a worker of `serve --workers N`: `python -m api.cli.serve worker N`
    worker_main(make_app)
