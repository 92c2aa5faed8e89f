"""One view runner per database, however many processes serve it.

A `serve` process (the main one, with `--workers N`) takes the database's runner lock before it
starts a view runner (api/services/runner.py): on SQLite an exclusive `flock` of a file beside the
database (`<file>-views.lock`), on PostgreSQL a session advisory lock named after the schema. The
process that holds it runs the runner; any other (a second server on the same database, or a
server's workers) follows the views without catching them up itself (`ViewsWatcher`): it wakes
the runner after each of its group commits and, for a read, waits until the views' position
stored in the database reaches the log's end as it stood. A server without the lock tries for it
again every second, so that if the holder stops, another takes the views over. The lock goes
with the process that holds it (a killed one included): the kernel drops a `flock` with its last
descriptor, PostgreSQL an advisory lock with its session.

Wakes from other processes: on PostgreSQL each insert is a NOTIFY that the runner listens to
already; on SQLite the holder reads a named pipe beside the database (`<file>-views.wake`,
owner-only) into which other processes write a byte per wake. A lost wake costs at most the
runner's poll interval.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import select
import stat
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlparse, urlunparse

from api.services.bootstrap import Services
from api.services.runner import WAIT, ViewRunner
from ledger.store import Store
from ledger.store_postgres import PostgresStore
from ledger.store_sqlite import SQLiteStore
from projections.views import ViewsBehind

log = logging.getLogger("trial_ledger.runner")

RETRY = 1.0  # seconds between a follower's tries for the lock


class RunnerLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free (never waits); True if this process holds it now."""

    def release(self) -> None: ...


class FileLock:
    """SQLite: `flock` of `<database file>-views.lock`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # (closing drops the lock)
            self._fd = None


class AdvisoryLock:
    """PostgreSQL: `pg_try_advisory_lock` on a connection of its own, held while it is open."""

    def __init__(self, store: PostgresStore) -> None:
        parts = urlparse(store.url)
        self.conninfo = urlunparse(parts._replace(query=""))  # (`schema` is ours, not libpq's)
        digest = hashlib.sha256(f"trial-ledger views runner {store.schema}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: Any = None  # kept between tries too: a follower tries every second
        self.held = False

    def acquire(self) -> bool:
        import psycopg

        if self.held:
            return True
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        try:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            self.release()  # a broken connection: a new one next time
            raise
        self.held = bool(row and row[0])
        return self.held

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # (the session's end drops the lock)
            self._conn = None
        self.held = False


def runner_lock(store: Store) -> RunnerLock | None:
    """The store's runner lock; None where the database is this process's alone (in memory)."""
    if isinstance(store, PostgresStore):
        return AdvisoryLock(store)
    if isinstance(store, SQLiteStore) and store.shared():
        return FileLock(f"{os.path.realpath(store.path)}-views.lock")  # (however it is named)
    return None


class WakePipe:
    """SQLite: the named pipe through which other processes wake the runner's holder."""

    def __init__(self, store: SQLiteStore) -> None:
        self.path = f"{os.path.realpath(store.path)}-views.wake"
        self._send_fd: int | None = None
        self._send_lock = threading.Lock()

    def _make(self) -> None:
        with contextlib.suppress(FileExistsError):
            os.mkfifo(self.path, 0o600)
        if not stat.S_ISFIFO(os.stat(self.path).st_mode):
            raise OSError(f"{self.path} is not a named pipe")

    def send(self) -> None:
        """Wake the holder, if there is one (never blocks; a wake nobody reads is dropped)."""
        with self._send_lock:
            try:
                if self._send_fd is None:
                    self._make()
                    self._send_fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.write(self._send_fd, b"w")
            except BlockingIOError:
                pass  # a full pipe holds wakes enough
            except OSError:  # no reader (ENXIO, EPIPE): no holder right now
                if self._send_fd is not None:
                    os.close(self._send_fd)
                    self._send_fd = None

    def receive(self, wake: Callable[[], None], stop: threading.Event) -> None:
        """The holder's side: call `wake` for each batch of bytes read, until `stop` is set."""
        self._make()
        # Read and write: the pipe never reads as ended while no writer has it open.
        fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        poll = select.poll()  # (not select(): a descriptor may be numbered above 1023)
        poll.register(fd, select.POLLIN)
        try:
            while not stop.is_set():
                if poll.poll(500):
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 65536)
                    wake()
        finally:
            os.close(fd)

    def close(self) -> None:
        with self._send_lock:
            if self._send_fd is not None:
                os.close(self._send_fd)
                self._send_fd = None


def wake_pipe(store: Store) -> WakePipe | None:
    """Where other processes' commits need waking the runner by hand (SQLite)."""
    return WakePipe(store) if isinstance(store, SQLiteStore) and store.shared() else None


class ViewsWatcher:
    """The views' follower in a process that does not run them: its commits wake the runner
    elsewhere, its readers wait for the position the runner stores (one of them reads it at a
    time; the others wait for what it read)."""

    def __init__(self, services: Services, wake: Callable[[], None], *, wait: float = WAIT,
                 tick: float = 0.002) -> None:
        self.services = services
        self._wake = wake
        self.wait = wait
        self.tick = tick  # first pause between reads of the position; doubles up to 20 ms
        self.reached = services.views.position()
        self._read = threading.Condition()
        self._reading = False

    def wake(self) -> None:
        try:
            self._wake()
        except Exception:  # the runner's poll catches up anyway
            log.exception("waking the view runner failed")

    def reach(self, position: int) -> None:
        if self.reached >= position:
            return
        self.wake()
        deadline = time.monotonic() + self.wait
        pause = self.tick
        while self.reached < position:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ViewsBehind(f"the views have not reached log position {position} within "
                                  f"{self.wait:g} s (at {self.reached}); try again shortly")
            with self._read:
                if self._reading:  # another reader is reading it: take what it finds
                    self._read.wait(left)
                    continue
                self._reading = True
            at = self.reached
            try:
                at = self.services.views.position()
            finally:
                with self._read:
                    self._reading = False
                    self.reached = max(self.reached, at)
                    self._read.notify_all()
            if self.reached < position:
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, 0.02)


class OneRunner:
    """The views of a serving process: kept by the runner here while this process holds the
    runner lock, else followed (`ViewsWatcher`) while it tries for the lock every `retry`
    seconds. `readers`: whether this process answers reads itself (not a server's main
    process, whose workers do)."""

    def __init__(self, services: Services, *, readers: bool = True, retry: float = RETRY) -> None:
        self.services = services
        self.readers = readers
        self.retry = retry
        self.lock = runner_lock(services.store)
        self.pipe = wake_pipe(services.store)
        self.runner: ViewRunner | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def holding(self) -> bool:
        return self.runner is not None

    def start(self) -> OneRunner:
        if self.lock is None or self.lock.acquire():
            self._lead()
            return self
        if self.readers:
            self.services.follow_views(ViewsWatcher(self.services, self.wake_holder))
        self._thread(self._try_again, "view-runner-lock")
        return self

    def wake_holder(self) -> None:
        if self.pipe is not None:
            self.pipe.send()  # (on PostgreSQL the commit's NOTIFY wakes it)

    def stop(self) -> None:
        self._stop.set()
        joined = 0
        while joined < len(self._threads):  # (a lock taken meanwhile has started one more)
            self._threads[joined].join(5.0)
            joined += 1
        if self.runner is not None:
            self.runner.stop()
        if self.lock is not None:
            self.lock.release()
        if self.pipe is not None:
            self.pipe.close()

    def _lead(self) -> None:
        runner = ViewRunner(self.services).start()  # (takes the views from any watcher)
        self.runner = runner
        if self.pipe is not None:
            pipe = self.pipe
            self._thread(lambda: pipe.receive(runner.wake, self._stop), "view-runner-wakes")

    def _try_again(self) -> None:
        assert self.lock is not None
        while not self._stop.wait(self.retry):
            try:
                if not self.lock.acquire():
                    continue
            except Exception:
                log.exception("trying for the view runner's lock failed; trying again")
                continue
            if self._stop.is_set():
                return
            log.info("the view runner's lock is free: this server keeps the views now")
            self._lead()
            return

    def _thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
