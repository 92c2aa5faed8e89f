"""Keeps the views current in the background while the API serves, off the request path.

Started, the runner takes the views over from the appends (`Services.follow_views`): a group
commit answers its callers once it is committed and wakes the runner, which catches the views up
right after it; wakes that come while it works are one more pass (coalesced). A reader waits until
the runner has reached the log's end as it stood when the read began (`reach`), so whoever wrote
a record reads it back; a runner that does not get there in time is answered as ViewsBehind (503).

Records that come from elsewhere wake it too: on SQLite, which has no notifications, a poll; on
PostgreSQL, eventsourcing's LISTEN/NOTIFY subscription (a second process's appends), with the
poll as a safety net. Its first pass, at start, applies whatever a crash left committed but not
yet applied. Tracking makes several runners (several API workers) safe: a record is applied once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from api.services.bootstrap import Services
from ledger.store_postgres import PostgresStore
from projections.views import ViewsBehind

log = logging.getLogger("trial_ledger.runner")

#: How long a read waits for the views to reach its position before it is refused (503).
WAIT = 10.0


class ViewRunner:
    def __init__(self, services: Services, *, interval: float = 0.5, wait: float = WAIT) -> None:
        self.services = services
        self.interval = interval
        self.wait = wait
        self.reached = 0  # the active views' position when last caught up (read without a lock)
        self.passes = 0  # catch-up passes made (for benchmarks and tests)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._caught_up = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="view-runner", daemon=True)
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
        if self._subscription is not None:
            self._subscription.stop()  # unblocks a listener waiting for a notice
        with self._caught_up:
            self._caught_up.notify_all()
        self._thread.join(timeout)
        if self._listener is not None:
            self._listener.join(timeout)

    def wake(self) -> None:
        """Something was committed: catch up soon (never blocks)."""
        self._wake.set()

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
            with self._caught_up:
                self.reached = reached
                self.passes += 1
                self._caught_up.notify_all()

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
