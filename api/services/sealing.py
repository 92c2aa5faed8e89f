"""The checkpoint timer of a server run with a checkpoint interval (`serve
--checkpoint-interval-ms N`).

With an interval a commit signs a checkpoint only when the latest one this ledger signed is N ms
old or more; the leaves of the commits in between wait. This thread wakes when the next
checkpoint is due and signs one over everything waiting (`Ledger.seal_if_due`), so while the
server runs no leaf waits much more than N ms. Stopping signs a final checkpoint over whatever
the log holds, so nothing is left uncovered when the server ends. Interval 0 starts no thread:
every commit signs its own checkpoint.

A server with several workers (`serve --workers N`) has one timer, in its main process, over the
workers' commits (`shared`): the workers' commits sign none (`Ledger.commits_sign`), and every
N ms the timer signs one over whatever the log holds beyond the latest checkpoint, so the server
as a whole still signs at most one every N ms.
"""

from __future__ import annotations

import logging
import threading

from ledger.ledger import Ledger
from ledger.tree import SignedCheckpoint

log = logging.getLogger("trial_ledger.sealing")


class CheckpointTimer:
    def __init__(self, ledger: Ledger, *, shared: bool = False) -> None:
        self.ledger = ledger
        self.shared = shared  # the leaves are other processes' (the server's workers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint-timer", daemon=True)

    def start(self) -> CheckpointTimer:
        if self.ledger.checkpoint_interval_ms > 0:
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> SignedCheckpoint | None:
        """Stop the timer, then sign a final checkpoint covering the whole log (None without
        the ledger key, or if it could not be signed: that is logged)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.ledger.sealer is None:
            return None
        try:
            return self.ledger.seal()
        except Exception:  # the server is ending anyway; the next start signs what is left
            log.exception("the final checkpoint could not be signed")
            return None

    def _run(self) -> None:
        idle = self.ledger.checkpoint_interval_ms / 1000
        if self.shared:
            while not self._stop.wait(idle):
                try:
                    if self.ledger.tree.uncovered():
                        self.ledger.seal()
                except Exception:  # a checkpoint must not silently stop coming: say so, try again
                    log.exception("signing a checkpoint failed; retrying")
            return
        while not self._stop.is_set():
            try:
                wait = self.ledger.seal_due_in()
                if wait == 0:
                    self.ledger.seal_if_due()
                    continue
                # Nothing waits: a commit made meanwhile is due within one interval of now.
                self._stop.wait(idle if wait is None else wait)
            except Exception:  # a checkpoint must not silently stop coming: say so, try again
                log.exception("signing a checkpoint failed; retrying")
                self._stop.wait(idle)
