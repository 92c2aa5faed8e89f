"""Keeps the views current in the background while the API serves, off the request path.

Started, the runner takes the views over from the appends (`Services.follow_views`): a group
commit answers its callers once it is committed and wakes the runner, which catches the views up
right after it; wakes that come while it works are one more pass (coalesced). A reader waits until
the runner has reached the log's end as it stood when the read began (`reach`), so whoever wrote
a record reads it back; a runner that does not get there in time is answered as ViewsBehind (503).

The catch-up runs in a child process of its own where the database can be opened from another
process (`process`, the default): it is CPU work, and in the server's process it would take turns
with the requests for the interpreter. The child is woken through its stdin (a byte per wake; it
reads all that are pending at once) and says each position it reaches on its stdout; it ends when
its stdin closes, the server's own end included (a killed server leaves no runner behind), and a
child that dies is started again. Otherwise the catch-up runs on a thread.

Records that come from elsewhere wake it too: on SQLite, which has no notifications, a poll; on
PostgreSQL, eventsourcing's LISTEN/NOTIFY subscription (a second process's appends), with the
poll as a safety net. Its first pass, at start, applies whatever a crash left committed but not
yet applied. Tracking makes several runners (several API workers) safe: a record is applied once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
from typing import Any

from api.services.bootstrap import Services, database_url
from ledger.store import open_store
from ledger.store_postgres import PostgresStore
from projections.views import Views, ViewsBehind

log = logging.getLogger("trial_ledger.runner")

#: How long a read waits for the views to reach its position before it is refused (503).
WAIT = 10.0


class ViewRunner:
    def __init__(self, services: Services, *, interval: float = 0.5, wait: float = WAIT,
                 process: bool = True) -> None:
        self.services = services
        self.interval = interval
        self.wait = wait
        self.process = process and services.store.shared()
        self.reached = 0  # the active views' position when last caught up (read without a lock)
        self.passes = 0  # catch-up passes made (for benchmarks and tests)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._caught_up = threading.Condition()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._follow_child if self.process else self._run,
                                        name="view-runner", daemon=True)
        self._listener: threading.Thread | None = None
        self._subscription: Any = None

    def start(self) -> ViewRunner:
        self.reached = self.services.views.position()
        self._wake.set()  # the first pass heals what a crash left unapplied
        self._thread.start()
        if isinstance(self.services.store, PostgresStore):
            self._listener = threading.Thread(target=self._listen, name="view-listener", daemon=True)
            self._listener.start()
        self.services.follow_views(self)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.services.follow_views(None)
        self._stop.set()
        self._wake.set()
        child = self._child
        if child is not None and child.stdin is not None:
            child.stdin.close()  # the child's signal to end
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self._subscription is not None:
            self._subscription.stop()  # unblocks a listener waiting for a notice
        with self._caught_up:
            self._caught_up.notify_all()
        self._thread.join(timeout)
        if self._listener is not None:
            self._listener.join(timeout)

    def wake(self) -> None:
        """Something was committed: catch up soon (never blocks)."""
        child = self._child
        if child is None or child.stdin is None:
            self._wake.set()
            return
        # A full pipe holds wakes enough; a closed one is a child being stopped or replaced.
        with contextlib.suppress(OSError, ValueError):
            os.write(child.stdin.fileno(), b"w")

    def reach(self, position: int) -> None:
        """Return once the active views have applied the log up to `position`."""
        if self.reached >= position:
            return
        self.wake()
        with self._caught_up:
            self._caught_up.wait_for(lambda: self.reached >= position or self._stop.is_set(),
                                     self.wait)
        if self.reached >= position or self.services.views.position() >= position:
            return  # (another process's runner may have applied it)
        raise ViewsBehind(f"the views have not reached log position {position} within "
                          f"{self.wait:g} s (at {self.reached}); try again shortly")

    def _reached(self, position: int) -> None:
        with self._caught_up:
            self.reached = position
            self.passes += 1
            self._caught_up.notify_all()

    def _run(self) -> None:
        views = self.services.views
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()  # before the pass: a commit during it is one more pass
            if self._stop.is_set():
                return
            try:
                views.apply()
                reached = views.position()
            except Exception:  # a view must not silently drift: say so, then try again
                log.exception("view runner failed; retrying")
                self._stop.wait(self.interval * 4)
                self._wake.set()
                continue
            self._reached(reached)

    def _follow_child(self) -> None:
        """Start the child, take in the positions it reaches; start it again if it dies."""
        while not self._stop.is_set():
            # The database URL (which may hold a password) in the child's environment, not on
            # its command line, where any user of the machine could read it.
            child = subprocess.Popen(
                [sys.executable, "-m", "api.services.runner", str(self.interval)],
                env={**os.environ, "TRIAL_LEDGER_DB": self.services.store.url},
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                start_new_session=True)  # a terminal's Ctrl-C is the server's to handle
            assert child.stdin is not None and child.stdout is not None
            os.set_blocking(child.stdin.fileno(), False)
            self._child = child
            if self._stop.is_set():  # stopped while starting: stop() saw no child to close
                child.stdin.close()
            with child.stdout:
                for line in child.stdout:
                    self._reached(int(line))
            child.wait()
            child.stdin.close()
            if not self._stop.is_set():
                log.error("view runner process ended (%s); starting it again", child.returncode)
                self._stop.wait(self.interval * 4)

    def _listen(self) -> None:
        """PostgreSQL: wake the runner on each record another process inserts."""
        while not self._stop.is_set():
            try:
                with self.services.store.subscribe(after=self.reached) as notices:
                    self._subscription = notices
                    if self._stop.is_set():
                        return
                    for _ in notices:  # blocks until a record is inserted (or the runner stops)
                        if self._stop.is_set():
                            return
                        self.wake()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("view runner's subscription failed; listening again")
                self._stop.wait(self.interval * 4)


def run_child(url: str, interval: float) -> None:
    """The runner's process: a pass at start, then one per batch of wakes on stdin (or each
    `interval`), each followed by the position reached on stdout; ends when stdin closes."""
    views = Views(open_store(url))
    stdin = sys.stdin.fileno()
    try:
        while True:
            try:
                views.apply()
                print(views.position(), flush=True)
            except BrokenPipeError:
                return  # the server is gone
            except Exception:  # a view must not silently drift: say so, then try again
                log.exception("view runner failed; retrying")
            ready, _, _ = select.select([stdin], [], [], interval)
            if ready and not os.read(stdin, 65536):
                return  # stdin closed: the server stopped (or died)
    finally:
        views.store.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    run_child(database_url(), float(sys.argv[1]))
