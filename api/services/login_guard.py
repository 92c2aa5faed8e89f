"""Logins that were not signed by a valid key of the person they name: limited per source and
summed up per account, so that a stranger neither locks an account nor grows the log.

In memory, for one server process: a restart forgets the counts (and the attempts not yet
written, at most one window's worth per account). Several processes would each keep their own."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=1)
PER_SOURCE = 20  # unauthenticated attempts a source may make in a window before 429
MAX_SOURCES = 16  # sources named in one record
MAX_CHECKS = 8  # distinct refusals named in one record
MAX_TRACKED = 10_000  # sources remembered before the stale ones are dropped


@dataclass
class Pending:
    """Attempts naming one account not yet written to its stream."""

    first_at: datetime
    last_at: datetime
    count: int = 0
    sources: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def add(self, at: datetime, source: str, check: str) -> None:
        self.count += 1
        self.last_at = at
        if source not in self.sources and len(self.sources) < MAX_SOURCES:
            self.sources.append(source)
        if check not in self.checks and len(self.checks) < MAX_CHECKS:
            self.checks.append(check)


@dataclass
class Guard:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_source: dict[str, tuple[datetime, int]] = field(default_factory=dict)  # window start, count
    last_written: dict[str, datetime] = field(default_factory=dict)  # per account
    pending: dict[str, Pending] = field(default_factory=dict)

    def throttled(self, source: str, now: datetime) -> bool:
        """Whether `source` is over its limit of refused attempts in the current window (a
        look only: a login that then succeeds counts nothing)."""
        with self.lock:
            start, count = self.by_source.get(source, (now, 0))
            return now - start < WINDOW and count >= PER_SOURCE

    def refused(self, source: str, now: datetime) -> None:
        """Count one unauthenticated attempt from `source`."""
        with self.lock:
            start, count = self.by_source.get(source, (now, 0))
            if now - start >= WINDOW:
                start, count = now, 0
            if source not in self.by_source and len(self.by_source) >= MAX_TRACKED:
                self.by_source = {s: v for s, v in self.by_source.items() if now - v[0] < WINDOW}
            self.by_source[source] = (start, count + 1)

    def note(self, author: str, source: str, check: str, now: datetime) -> Pending | None:
        """Add an attempt naming `author`; hand back what to write when the account has had no
        record for a window (the attempts since its last one), else None."""
        with self.lock:
            pending = self.pending.setdefault(author, Pending(now, now))
            pending.add(now, source, check)
            last = self.last_written.get(author)
            if last is not None and now - last < WINDOW:
                return None
            self.last_written[author] = now
            return self.pending.pop(author)


_GUARDS: weakref.WeakKeyDictionary[object, Guard] = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


def guard_for(owner: object) -> Guard:
    """One guard per ledger (so that each test's trial starts clean)."""
    with _GUARDS_LOCK:
        guard = _GUARDS.get(owner)
        if guard is None:
            guard = _GUARDS[owner] = Guard()
        return guard
