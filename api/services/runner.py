"""Keeps the views current in the background while the API serves.

On SQLite, which has no notifications, the runner polls the notification log; on PostgreSQL it
waits on eventsourcing's LISTEN/NOTIFY subscription and catches up on each notice (with a poll as
a safety net). Tracking makes several runners (several API workers) safe: a record is applied once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from api.services.bootstrap import Services
from ledger.store_postgres import PostgresStore

log = logging.getLogger("trial_ledger.runner")


class ViewRunner:
    def __init__(self, services: Services, *, interval: float = 0.5) -> None:
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="view-runner", daemon=True)
        self._subscription: Any = None

    def start(self) -> ViewRunner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._subscription is not None:
            self._subscription.stop()  # unblocks a runner waiting for a notice
        self._thread.join(timeout)

    def _run(self) -> None:
        view = self.services.views
        while not self._stop.is_set():
            try:
                view.catch_up()
                if isinstance(self.services.store, PostgresStore):
                    self._wait_for_notice()
                else:
                    self._stop.wait(self.interval)
            except Exception:  # a view must not silently drift: say so, then try again
                log.exception("view runner failed; retrying")
                self._stop.wait(self.interval * 4)

    def _wait_for_notice(self) -> None:
        with self.services.store.subscribe(after=self.services.views.position()) as notices:
            self._subscription = notices
            for _ in notices:  # blocks until a record is inserted (or the runner stops)
                if self._stop.is_set():
                    return
                self.services.views.catch_up()
