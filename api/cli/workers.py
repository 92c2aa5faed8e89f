"""`serve --workers N`: the HTTP work shared by N worker processes on one listening socket.

The main process binds the socket, prepares the ledger (demo, keys, settings, a checkpoint over
what waited), keeps the views (the one view runner, api/services/runner_lock.py) and the
checkpoint timer, then starts the workers. Each worker opens the database itself, loads the
system keys and runs uvicorn on the inherited socket (the kernel hands each new connection to
one of them); its appends go through its own group commit (the database's write lock orders the
workers' transactions) and wake the runner, its reads wait for the views' stored position.

What a worker needs comes on its stdin, one JSON line (the database URL and the key passphrase
included: neither is put in its arguments, where any local user could read them); stdin then
stays open, and a worker ends gracefully when it closes: when the main process stops it, or
dies. A worker says it is serving by writing a byte to a pipe of its own. One that ends before
saying so stops the server (it would fail again: the reason is in the lines above); one that ends
later is started again, and the server says so.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from api.cli.common import err, fail, one_line
from api.services.bootstrap import Services

MAX_WORKERS = 64
OPTION = "--workers"
#: Not inherited: the passphrases come to a worker over its stdin, not in its environment.
SECRETS = ("TRIAL_LEDGER_LEDGER_PASSPHRASE", "TRIAL_LEDGER_ROOT_PASSPHRASE",
           "TRIAL_LEDGER_KEY_PASSPHRASE")
STOP_WAIT = 30.0  # seconds a worker has to finish its requests once asked to stop
READY_WAIT = 120.0  # seconds a worker has to start serving
BACKLOG = 2048  # (uvicorn's)


def workers_count(value: str | None) -> int:
    """The option's value; ValueError (one line naming the option) if it is not a whole number
    from 1 to MAX_WORKERS."""
    if value is None:
        return 1
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_WORKERS:
        raise ValueError(f"{OPTION} {value!r}: not a whole number of worker processes from 1 to "
                         f"{MAX_WORKERS} (this machine has {os.cpu_count() or 1} cores)")
    return int(text)


class WorkerFailed(Exception):
    """A worker ended before it was serving."""


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[bytes]
    ready_fd: int  # our end of its "serving" pipe (closed once it said so or ended)
    ready: bool = False


def listeners(first: socket.socket, count: int) -> list[socket.socket]:
    """A listening socket per worker: `first` and, if it was bound with SO_REUSEPORT, as many
    more on its address (the kernel then spreads new connections evenly over them, where one
    shared socket lets whichever worker wakes first take a whole burst of them); else `first`
    for all. Listening from now on: connections made while a worker starts wait for it."""
    spread = getattr(socket, "SO_REUSEPORT", None)
    group = [first]
    if spread is not None and first.getsockopt(socket.SOL_SOCKET, spread):
        for _ in range(count - 1):
            sock = socket.socket(first.family, first.type, first.proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, spread, 1)
            sock.bind(first.getsockname())
            group.append(sock)
    for sock in group:
        sock.listen(BACKLOG)
    return group


class Workers:
    """The worker processes of one server."""

    def __init__(self, count: int, listener: socket.socket, *, url: str, home: Path,
                 passphrase: str, interval_ms: int) -> None:
        self.count = count
        self.listeners = listeners(listener, count)
        self.config: dict[str, Any] = {"url": url, "home": str(home), "passphrase": passphrase,
                                       "interval_ms": interval_ms}
        self.workers: list[Worker] = []
        self.restarts = 0
        self._stopping = False

    def start(self) -> None:
        """Start every worker and return once all are serving; WorkerFailed if one ends first."""
        self.workers = [self._spawn(n) for n in range(1, self.count + 1)]
        deadline = time.monotonic() + READY_WAIT
        while not all(w.ready for w in self.workers):
            if time.monotonic() > deadline:
                raise WorkerFailed(f"the workers did not start serving within {READY_WAIT:g} s")
            self._watch(0.2)

    def run(self) -> None:
        """Keep the workers running (one that ends is started again) until interrupted."""
        try:
            while True:
                self._watch(0.5)
        except KeyboardInterrupt:  # Ctrl-C: stop as on SIGTERM, then end normally
            return

    def stop(self) -> None:
        """Ask every worker to stop (its stdin closes), wait for their requests to end."""
        self._stopping = True
        for w in self.workers:
            if w.proc.stdin is not None:
                w.proc.stdin.close()
        deadline = time.monotonic() + STOP_WAIT
        for w in self.workers:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            self._close_ready(w)
        for sock in self.listeners[1:]:  # (the first is the caller's)
            sock.close()

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers]

    def _spawn(self, index: int) -> Worker:
        ready_r, ready_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if k not in SECRETS}
        listener = self.listeners[(index - 1) % len(self.listeners)].fileno()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli.serve", "worker", str(index)], stdin=subprocess.PIPE,
                pass_fds=(listener, ready_w), env=env,
                start_new_session=True)  # a terminal's Ctrl-C is the main process's to handle
        finally:
            os.close(ready_w)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({**self.config, "socket": listener, "ready": ready_w,
                                     "index": index}).encode()
                         + b"\n")
        proc.stdin.flush()
        return Worker(index, proc, ready_r)

    def _watch(self, timeout: float) -> None:
        """Take in "serving" bytes for up to `timeout` s; deal with workers that ended."""
        waiting = [w.ready_fd for w in self.workers if w.ready_fd >= 0]
        readable: list[int] = []
        if waiting:
            poll = select.poll()  # (not select(): a descriptor may be numbered above 1023)
            for fd in waiting:
                poll.register(fd, select.POLLIN)
            readable = [fd for fd, _ in poll.poll(timeout * 1000)]
        else:
            time.sleep(timeout)
        for w in self.workers:
            if w.ready_fd in readable:
                w.ready = bool(os.read(w.ready_fd, 16))
                self._close_ready(w)
        for n, w in enumerate(self.workers):
            code = w.proc.poll()
            if code is None or self._stopping:
                continue
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            if not w.ready:
                raise WorkerFailed(f"worker {w.index} (pid {w.proc.pid}) ended while starting "
                                   f"({how}); stopping the server")
            self._close_ready(w)
            if w.proc.stdin is not None:
                w.proc.stdin.close()
            err.print(f"worker {w.index} (pid {w.proc.pid}) ended ({how}); starting it again",
                      highlight=False, soft_wrap=True)
            self.restarts += 1
            self.workers[n] = self._spawn(w.index)

    @staticmethod
    def _close_ready(w: Worker) -> None:
        if w.ready_fd >= 0:
            os.close(w.ready_fd)
            w.ready_fd = -1


# -- the worker's side ----------------------------------------------------------------------

def worker_main(make_app: Callable[[Services], Any]) -> None:
    """A worker (`python -m api.cli.serve worker N`): its configuration from stdin, then uvicorn
    on the inherited socket, serving `make_app`'s app, until stdin closes (or SIGTERM/SIGINT:
    uvicorn's graceful stop either way). What stops it from starting is one line, exit 1."""
    try:
        _work(make_app)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)


def _work(make_app: Callable[[Services], Any]) -> None:
    import uvicorn

    from api.services.bootstrap import bootstrap
    from api.services.runner_lock import ViewsWatcher, wake_pipe
    from api.services.trial_setup import load_system_actors

    class Server(uvicorn.Server):
        """uvicorn's server, saying once it serves (a byte on the "serving" pipe)."""

        def __init__(self, config: uvicorn.Config, ready_fd: int) -> None:
            super().__init__(config)
            self.ready_fd = ready_fd

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and self.ready_fd >= 0:
                os.write(self.ready_fd, b"r")
                os.close(self.ready_fd)
                self.ready_fd = -1

    logging.basicConfig(level=logging.INFO)
    config = json.loads(sys.stdin.buffer.readline())
    try:
        services = bootstrap(config["url"])
    except Exception as exc:
        fail(f"worker {config['index']} could not open the database: {one_line(exc)}")
    try:
        try:
            load_system_actors(services, Path(config["home"]), config.pop("passphrase"))
        except Exception as exc:  # said in one line; the server stops on it
            fail(f"worker {config['index']} could not load the system keys: {one_line(exc)}")
        ledger = services.ledger
        ledger.checkpoint_interval_ms = config["interval_ms"]
        ledger.commits_sign = not config["interval_ms"]  # else the server's timer signs them
        pipe = wake_pipe(services.store)
        services.follow_views(ViewsWatcher(services, pipe.send if pipe else _nothing))
        server = Server(uvicorn.Config(make_app(services), log_level="info",
                                       timeout_keep_alive=75), config["ready"])
        threading.Thread(target=_stop_when_stdin_closes, args=(server,), name="stdin",
                         daemon=True).start()
        server.run(sockets=[socket.socket(fileno=config["socket"])])
    finally:
        services.close()


def _nothing() -> None:
    """(On PostgreSQL the commit's NOTIFY wakes the runner.)"""


def _stop_when_stdin_closes(server: Any) -> None:
    while sys.stdin.buffer.read(65536):
        pass
    server.should_exit = True
