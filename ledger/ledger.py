"""The append path: verify, decide under the write lock, seal, insert — one transaction.

    submission ─ parse + digest (no lock) ─┐
                                           ├─ write lock ─ heads ─ key registry ─ signature
                                           │   ─ decider ─ recorded_at ─ insert ─ commit
Two ways in, one way to the log (`_commit`): a batch commits or fails whole (`append_batch`; a
single entry is a batch of one), and a group's entries are each answered on their own
(`append_each`, group commit). Deciding is ledger/deciding.py's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

from eventsourcing.persistence import IntegrityError

from . import gc_pause, redaction
from .contract import BatchError, Clock, FollowUp, Receipt, Rules, StreamView, system_clock
from .deciding import Deciding
from .entry import ZERO_HASH, Record, Submission, format_time
from .errors import Conflict, Head, NotInitialised, RuleViolation
from .histories import HistoryCache
from .note import NoteSigner
from .prepared import Prepared, numbered, prepare
from .registry import KEYS_STREAM, KeyRegistry
from .signer import Signer
from .store import Store
from .stream_state import StateKeeper
from .tree import SignedCheckpoint, Tree
from .trusted import read_trusted


class Ledger:
    def __init__(self, store: Store, *, rules: Rules, clock: Clock = system_clock,
                 origin: str | None = None, sealer: NoteSigner | None = None,
                 redactors: frozenset[str] = redaction.REDACTOR_ROLES,
                 system_signers: Mapping[str, Signer] | None = None,
                 unredactable: frozenset[str] = frozenset(),
                 clock_step: Callable[[str, str], FollowUp] | None = None,
                 checkpoint_interval_ms: int = 0) -> None:
        """`sealer` holds the ledger key; without it records get leaves but no new checkpoint
        (`sealer` may also be set once the key is loaded). `unredactable`: entry types a
        redaction may not target. `checkpoint_interval_ms`: 0 signs a checkpoint at every commit;
        N > 0 at most one every N ms, the leaves in between left to `seal_if_due`."""
        self.store = store
        self.tree = Tree(store)
        self.sealer = sealer
        self.redactors = redactors
        self.unredactable = unredactable
        self.system_signers: dict[str, Signer] = dict(system_signers or {})
        self.rules = rules
        self.clock = clock
        self._registry = KeyRegistry()
        self._lock = threading.Lock()
        self._origin = origin
        #: R10: what to record when the clock reads earlier than the latest record (its stream,
        #: type and payload are the trial's); None records nothing, but time is still held.
        self.clock_step = clock_step
        self._latest: str | None = None  # latest recorded_at this process has seen committed
        self._latest_size = -1  # the log's size (leaves) when `_latest` was last made true
        self.histories = HistoryCache(store)
        self.states = StateKeeper(store)  # decider states, for rules that keep them
        self.checkpoint_interval_ms = checkpoint_interval_ms
        #: False: commits never sign, their leaves wait for `seal` by a timer in another process
        #: (the workers of one server share the server's timer and its interval).
        self.commits_sign = True
        self._signed_at: float | None = None  # monotonic time a checkpoint was last signed here
        self._unsealed = 0  # tree size a commit here left without a checkpoint (0: none waits)

    def create_tables(self) -> None:
        """The migration step: records (eventsourcing), tracking, Merkle tables, triggers."""
        self.store.create_tables()
        with self.store.transaction() as cur:
            self.tree.create_tables(cur)

    def seal(self) -> SignedCheckpoint | None:
        """Sign a checkpoint covering every leaf, if the latest one does not (needs the sealer)."""
        if self.sealer is None:
            raise NotInitialised("the ledger key is not loaded; checkpoints cannot be signed",
                                 rule="ledger.no_sealer")
        with self.store.write() as cur:
            border = self.tree.border(cur)
            signed = self.tree.sign(cur, border, self.sealer, self.origin)
        self._sealed(border.size, signed)
        return signed

    def seal_due_in(self) -> float | None:
        """Seconds until `seal_if_due` signs (0: now); None while no leaf left by a commit here
        waits for a checkpoint (or the ledger key is not loaded)."""
        with self._lock:
            if not self._unsealed or self.sealer is None:
                return None
            return self._wait()

    def seal_if_due(self, *, now: bool = False) -> SignedCheckpoint | None:
        """The timer's call with a checkpoint interval: sign a checkpoint over every leaf once the
        interval has passed since the latest signed here (`now`: at once, e.g. on stopping);
        None when no leaf waits or it is not due yet."""
        wait = self.seal_due_in()
        if wait is None or (wait > 0 and not now):
            return None
        return self.seal()

    def _wait(self) -> float:
        """Seconds until a checkpoint may be signed under the interval (call with `_lock`)."""
        if self.checkpoint_interval_ms <= 0 or self._signed_at is None:
            return 0.0
        return max(0.0, self._signed_at + self.checkpoint_interval_ms / 1000 - time.monotonic())

    def _sealed(self, size: int, signed: SignedCheckpoint | None) -> None:
        """A transaction committed the tree up to `size`, with `signed` or with no checkpoint.
        Sizes, not flags: commits may report out of order, and the largest pending size wins."""
        with self._lock:
            if signed is None:
                self._unsealed = max(self._unsealed, size)
                return
            self._signed_at = time.monotonic()
            if signed.size >= self._unsealed:
                self._unsealed = 0

    # -- reading --------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        if self._origin is None:
            self._origin = self.registry().origin
            if self._origin is None:
                raise NotInitialised("the ledger is not initialised: run `trial-ledger init`")
        return self._origin

    def registry(self) -> KeyRegistry:
        with self.store.read() as cur:
            return self._refreshed_registry(cur)

    def head(self, stream: str) -> Head:
        with self.store.read() as cur:
            return self._head(cur, stream)

    def stream(self, stream: str) -> list[Record]:
        with self.store.read() as cur:
            return [read_trusted(r.state, r.position)
                    for r in self.store.stream_rows(cur, stream)]

    def first_record(self, stream: str) -> Record | None:
        """The stream's first record as committed now (a fact that never changes once written,
        read without waiting for any view)."""
        with self.store.read() as cur:
            row = self.store.first_row(cur, stream)
        return None if row is None else read_trusted(row.state, row.position)

    def records(self, start: int = 1) -> Iterator[Record]:
        """Every record in log order (the total order of the notification log)."""
        for row in self.store.iter_log(start):
            yield read_trusted(row.state, row.position)

    # -- appending ------------------------------------------------------------------------
    def append(self, submission: Submission | Prepared) -> Receipt:
        return self.append_batch([submission])[0]

    def append_batch(self, submissions: Sequence[Submission | Prepared]) -> list[Receipt]:
        """All of them in one transaction, or none (the failing entry named by BatchError).
        An entry the caller prepared already (`prepare`) is not parsed again."""
        with gc_pause.paused(len(submissions)):
            prepared = self._check_early([
                s if isinstance(s, Prepared) else numbered(i, len(submissions), prepare, s)
                for i, s in enumerate(submissions)])

            def decide_all(txn: Deciding) -> list[list[Record] | Exception]:
                txn.read_ahead(prepared)
                return [numbered(i, len(prepared), txn.decide, item)
                        for i, item in enumerate(prepared)]

            return cast(list[Receipt], self._commit(decide_all, prepared))

    def append_each(self, items: Sequence[Prepared | Exception]) -> list[Receipt | Exception]:
        """Each entry decided on its own, the accepted ones in one transaction with one signed
        checkpoint (group commit): a refused entry comes back as its error and takes nothing
        else with it. An item that is an error already (it failed to prepare) is handed back."""

        def decide_each(txn: Deciding) -> list[list[Record] | Exception]:
            txn.read_ahead(items)
            decided: list[list[Record] | Exception] = []
            for item in items:
                if isinstance(item, Exception):
                    decided.append(item)
                    continue
                try:
                    decided.append(txn.attempt(item))
                except Exception as exc:  # this entry alone is refused (or broke)
                    decided.append(exc)
            return decided

        with gc_pause.paused(len(items)):
            return self._commit(decide_each, [i for i in items if isinstance(i, Prepared)])

    def prepare(self, submission: Submission) -> Prepared:
        """What needs no lock, done by the caller's thread: parse, digest, signature check."""
        return self._check_early([prepare(submission)])[0]

    def prepare_each(self, submissions: Sequence[Submission]) -> list[Prepared | Exception]:
        """`prepare` for many at once (their signature checks started together); a submission
        that cannot be prepared comes back as its error."""
        ready: list[Prepared] = []
        failed: dict[int, Exception] = {}
        for n, submission in enumerate(submissions):
            try:
                ready.append(prepare(submission))
            except Exception as exc:
                failed[n] = exc
        checked = iter(self._check_early(ready))
        return [failed[n] if n in failed else next(checked) for n in range(len(submissions))]

    def _check_early(self, items: list[Prepared]) -> list[Prepared]:
        """Start the Ed25519 checks outside the write lock (`KeyRegistry.start_checks`); entries
        whose key is new here are checked under it, as are those started already."""
        started = iter(self._registry.start_checks([(i.entry, i.signature) for i in items
                                                     if i.checked is None]))
        ready = []
        for item in items:
            check = None if item.checked is not None else next(started)
            ready.append(item if check is None else item.with_check(check))
        return ready

    def _commit(self, decide: Callable[[Deciding], list[list[Record] | Exception]],
                entries: Sequence[Prepared]) -> list[Receipt | Exception]:
        """The one way to the log: under the write lock, `decide` answers each entry with its
        records (the entry's own, then its follow-ups) or its error; every record decided is
        inserted, given its leaf, its redactions made, and one checkpoint signed for them all
        (with a checkpoint interval, only when one is due: else their receipts carry none)."""
        try:
            with self.store.write() as cur:
                redactions = self.histories.begin(cur)
                self.states.begin(cur, redactions)
                registry = self._refreshed_registry(cur).copy()
                now, stepped = self._now(cur)
                txn = Deciding(self, cur, registry, now, redactions)
                decided = decide(txn)
                records = [r for chain in decided if not isinstance(chain, Exception) for r in chain]
                if stepped is not None:  # the step is recorded in the same transaction
                    records += txn.decide(txn.sign(stepped, now), 1)
                if not records:
                    return cast(list[Receipt | Exception], decided)
                positions = self.store.insert(
                    cur, [(r.stream, r.version, r.type, r.stored_bytes()) for r in records])
                for r, p in zip(records, positions, strict=True):
                    # Sealed before its position existed: set once, before anyone else sees it.
                    object.__setattr__(r, "position", p)
                border = self.tree.append(cur, [(p, r.hash, r.sealed)
                                                for p, r in zip(positions, records, strict=True)])
                for by, target in txn.redacting:
                    assert target.position is not None
                    self.store.redact(cur, target.position, by.hash,
                                      target.redacted(by.hash).stored_bytes())
                txn.store_states()
                signed = None
                with self._lock:
                    due = self.commits_sign and self._wait() == 0
                if self.sealer is not None and due:
                    signed = self.tree.sign(cur, border, self.sealer, txn.origin or "")
        except IntegrityError as exc:
            # Only reachable if another writer bypassed the lock; report like a stale head.
            first = entries[0].entry.fields["stream"] if entries else ""
            raise Conflict(f"stream {first} moved on: {exc}", head=self.head(first)) from exc
        self.tree.committed(border)
        self._sealed(border.size, signed)
        self.histories.committed(txn.histories, bool(txn.redacting))
        txn.committed()
        with self._lock:
            if txn.registry.version > self._registry.version:
                self._registry = txn.registry
            self._latest = max(self._latest or "", *(r.recorded_at for r in records))
            self._latest_size = border.size
        note = signed.note if signed is not None else None
        first_leaf = border.size - len(records)
        receipts = {id(r): Receipt(r.hash, r.stream, r.version, p, r.recorded_at, first_leaf + n,
                                   note, r.type)
                    for n, (r, p) in enumerate(zip(records, positions, strict=True))}
        # (a receipt is made without follow-ups: an entry that has none keeps it as it is)
        return [chain if isinstance(chain, Exception) else
                receipts[id(chain[0])] if len(chain) == 1 else
                replace(receipts[id(chain[0])],
                        follow_ups=tuple(receipts[id(r)] for r in chain[1:]))
                for chain in decided]

    def _now(self, cur: Any) -> tuple[str, FollowUp | None]:
        """The time to record: the clock's, but never earlier than the latest record in the log
        (R10, R11). A clock that steps back is answered by a record of the step, when the
        trial says how (`clock_step`) and the system key to sign it is loaded."""
        now = format_time(self.clock())
        size = self.tree.border(cur).size  # (read under the write lock: another process may
        if self._latest is None or size != self._latest_size:  # have written since)
            last = self.store.latest_row(cur)
            seen = read_trusted(last.state, last.position).recorded_at if last is not None else ""
            self._latest, self._latest_size = max(self._latest or "", seen), size
        if now >= self._latest:
            return now, None
        step = None
        if self.clock_step is not None and "system" in self.system_signers:
            step = self.clock_step(now, self._latest)
        return self._latest, step

    def append_follow_up(self, follow: FollowUp) -> Receipt:
        """Append one record by a system actor on its own (e.g. a refusal worth keeping, R9)."""
        signer = self.system_signers.get(follow.actor)
        if signer is None:
            raise NotInitialised(f"the {follow.actor} key is not loaded", rule="ledger.no_system_key")
        return self.append(signer.sign(ledger=self.origin, head=self.head(follow.stream), type=follow.type,
                                       payload=follow.payload, occurred_at=self.clock(),
                                       reason=follow.reason))

    # -- internals ------------------------------------------------------------------------
    def _refreshed_registry(self, cur: Any) -> KeyRegistry:
        with self._lock:
            registry = self._registry
            rows = self.store.stream_rows(cur, KEYS_STREAM, after=registry.version)
            if rows:
                registry = registry.copy()
                for row in rows:
                    registry.apply(Record.from_stored(row.state))
                self._registry = registry
            return registry

    def _head(self, cur: Any, stream: str) -> Head:
        row = self.store.last_row(cur, stream)
        if row is None:
            return Head(stream, 0, ZERO_HASH)
        record = Record.from_stored(row.state)
        return Head(stream, record.version, record.hash, record.recorded_at)


__all__ = ["BatchError", "Clock", "FollowUp", "Ledger", "Receipt", "RuleViolation", "Rules", "StreamView",
           "system_clock"]
