"""The append path: verify, decide under the write lock, seal, insert — one batch, one transaction.

    submission ─ parse + digest (no lock) ─┐
                                           ├─ write lock ─ heads ─ key registry ─ signature
                                           │   ─ decider ─ recorded_at ─ insert ─ commit
A single entry is a batch of one, so batch import and group commit share this path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from eventsourcing.persistence import IntegrityError

from . import redaction
from .contract import BatchError, Clock, FollowUp, Receipt, Rules, StreamView, system_clock
from .entry import ZERO_HASH, Record, Submission, format_time, parse_time
from .errors import (
    Conflict,
    Head,
    MalformedEntry,
    NotInitialised,
    RuleViolation,
    SignatureRefused,
)
from .histories import HistoryCache
from .keys import signature_valid
from .note import NoteSigner
from .prepared import Prepared, numbered, prepare
from .registry import GENESIS, KEYS_STREAM, KeyRegistry, genesis_key
from .signer import Signer
from .store import Store
from .tree import SignedCheckpoint, Tree
from .trusted import read_trusted


class Ledger:
    def __init__(self, store: Store, *, rules: Rules, clock: Clock = system_clock,
                 origin: str | None = None, sealer: NoteSigner | None = None,
                 redactors: frozenset[str] = redaction.REDACTOR_ROLES,
                 system_signers: Mapping[str, Signer] | None = None,
                 unredactable: frozenset[str] = frozenset()) -> None:
        """`sealer` holds the ledger key; without it records get leaves but no new checkpoint.
        `unredactable`: entry types a redaction may not target."""
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
        self.clock_step: Callable[[str, str], FollowUp] | None = None
        self._latest: str | None = None  # latest recorded_at this process has seen committed
        self.histories = HistoryCache(store)

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
            return self.tree.sign(cur, border, self.sealer, self.origin)

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

    def records(self, start: int = 1) -> Iterator[Record]:
        """Every record in log order (the total order of the notification log)."""
        for row in self.store.iter_log(start):
            yield read_trusted(row.state, row.position)

    # -- appending ------------------------------------------------------------------------
    def append(self, submission: Submission) -> Receipt:
        return self.append_batch([submission])[0]

    def append_batch(self, submissions: Sequence[Submission]) -> list[Receipt]:
        """All of them in one transaction, or none (the failing entry named by BatchError)."""
        prepared = [numbered(i, len(submissions), prepare, s) for i, s in enumerate(submissions)]
        return cast(list[Receipt], self._append(self._check_early(prepared), each=False))

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

    def append_each(self, items: Sequence[Prepared | Exception]) -> list[Receipt | Exception]:
        """Each entry decided on its own, the accepted ones in one transaction with one signed
        checkpoint (group commit): a refused entry comes back as its error and takes nothing
        else with it. An item that is an error already (it failed to prepare) is handed back."""
        return self._append(items, each=True)

    def _check_early(self, items: list[Prepared]) -> list[Prepared]:
        """Start the Ed25519 checks outside the write lock (`KeyRegistry.start_checks`); entries
        whose key is new here are checked under it."""
        started = self._registry.start_checks([(i.entry, i.signature) for i in items])
        return [i if check is None else
                Prepared(i.entry, i.signature, i.payload_text, i.payload, i.salt, check)
                for i, check in zip(items, started, strict=True)]

    def _append(self, items: Sequence[Prepared | Exception], each: bool) -> list[Receipt | Exception]:
        outcome: list[int | Exception] = []  # per item: how many follow-ups it brought, or its error
        records: list[Record] = []
        positions: list[int] = []
        try:
            with self.store.write() as cur:
                self.histories.begin(cur)
                registry = self._refreshed_registry(cur).copy()
                histories: dict[str, list[Record]] = {}
                redacting: list[tuple[Record, Record]] = []  # (redaction, target)
                now, stepped = self._now(cur)
                for i, item in enumerate(items):
                    if isinstance(item, Exception):
                        outcome.append(item)
                    elif not each:
                        chain = numbered(i, len(items), self._decide, cur, registry, histories,
                                         item, now, redacting)
                        records.extend(chain)
                        outcome.append(len(chain) - 1)
                    else:
                        trial, marks, redactions = registry.copy(), _marks(histories), len(redacting)
                        try:
                            chain = self._decide(cur, trial, histories, item, now, redacting)
                        except Exception as exc:  # this entry alone is refused (or broke)
                            _rewind(histories, marks)
                            del redacting[redactions:]
                            outcome.append(exc)
                            continue
                        registry = trial
                        records.extend(chain)
                        outcome.append(len(chain) - 1)
                if stepped is not None:  # the step is recorded in the same transaction
                    records.extend(self._decide(cur, registry, histories, self._sign_follow_up(
                        stepped, histories, cur, registry, now), now, redacting, 1))
                if not records:
                    return list(cast(list[Exception], outcome))
                positions = self.store.insert(
                    cur, [(r.stream, r.version, r.type, r.stored_bytes()) for r in records])
                for r, p in zip(records, positions, strict=True):
                    # Sealed before its position existed: set once, before anyone else sees it.
                    object.__setattr__(r, "position", p)
                border = self.tree.append(cur, [(p, r.hash, r.sealed)
                                                for p, r in zip(positions, records, strict=True)])
                for by, target in redacting:
                    assert target.position is not None
                    self.store.redact(cur, target.position, by.hash,
                                      target.redacted(by.hash).stored_bytes())
                signed = None
                if self.sealer is not None:
                    signed = self.tree.sign(cur, border, self.sealer,
                                            self._origin or registry.origin or "")
        except IntegrityError as exc:
            # Only reachable if another writer bypassed the lock; report like a stale head.
            first = next((i.entry.fields["stream"] for i in items if isinstance(i, Prepared)), "")
            raise Conflict(f"stream {first} moved on: {exc}", head=self.head(first)) from exc
        self.tree.committed(border)
        self.histories.committed(histories, bool(redacting))
        with self._lock:
            if registry.version > self._registry.version:
                self._registry = registry
            self._latest = max(self._latest or "", *(r.recorded_at for r in records))
        first = border.size - len(records)
        note = signed.note if signed is not None else None
        every = [Receipt(r.hash, r.stream, r.version, p, r.recorded_at, first + i, note, r.type)
                 for i, (r, p) in enumerate(zip(records, positions, strict=True))]
        results: list[Receipt | Exception] = []
        at = 0
        for n in outcome:
            if isinstance(n, Exception):
                results.append(n)
                continue
            results.append(replace(every[at], follow_ups=tuple(every[at + 1: at + 1 + n])))
            at += 1 + n
        return results

    def _now(self, cur: Any) -> tuple[str, FollowUp | None]:
        """The time to record: the clock's, but never earlier than the latest record in the log
        (R10, R11). A clock that steps back is answered by a record of the step, when the
        trial says how (`clock_step`) and the system key to sign it is loaded."""
        now = format_time(self.clock())
        if self._latest is None:
            last = self.store.latest_row(cur)
            self._latest = read_trusted(last.state, last.position).recorded_at \
                if last is not None else ""
        if now >= self._latest:
            return now, None
        step = None
        if self.clock_step is not None and "system" in self.system_signers:
            step = self.clock_step(now, self._latest)
        return self._latest, step

    def _decide(self, cur: Any, registry: KeyRegistry, histories: dict[str, list[Record]],
                item: Prepared, now: str, redacting: list[tuple[Record, Record]],
                depth: int = 0) -> list[Record]:
        """Decide one entry; returns its record followed by the records the rules added."""
        entry = item.entry
        stream = entry.fields["stream"]
        if entry.fields["ledger"] != (self._origin or registry.origin or entry.fields["ledger"]):
            raise MalformedEntry(f"entry is for ledger {entry.fields['ledger']}, this is "
                                 f"{self._origin or registry.origin}", rule="entry.wrong_ledger",
                                 field="entry.ledger")
        history = self._history(cur, histories, stream)
        head = _head_of(stream, history)
        if entry.fields["version"] != head.version + 1 or entry.fields["prev"] != head.record_hash:
            raise Conflict(f"entry was signed for version {entry.fields['version']} after "
                           f"{entry.fields['prev'][:12]}…; stream {stream} is at version "
                           f"{head.version}", head=head)
        # recorded_at is the server's clock, but never earlier than the stream's last record.
        recorded_at = max(now, head.recorded_at or now)
        record = Record.seal(entry, item.signature, recorded_at, item.payload_text, item.salt,
                             payload_checked=True)
        if stream == KEYS_STREAM:
            registry.check(entry, item.payload)
            if entry.fields["type"] == GENESIS:
                if not signature_valid(genesis_key(entry, item.payload), item.signature, entry.raw):
                    raise SignatureRefused("genesis signature does not verify",
                                           rule="signature.invalid", field="signature")
            else:
                registry.authorise(entry, item.signature, recorded_at, item.checked)
            registry.apply(record)
        elif stream == redaction.REDACTIONS_STREAM:
            registry.authorise(entry, item.signature, recorded_at, item.checked)
            target = self._record_by_hash(cur, item.payload.get("record"))
            if any(t.hash == getattr(target, "hash", None) for _, t in redacting):
                raise RuleViolation("this record is redacted already", rule="redaction.already",
                                    field="payload.record")
            redaction.check(entry, item.payload, target, self.redactors, self.unredactable)
            assert target is not None
            redacting.append((record, target))
        else:
            if registry.origin is None:
                raise NotInitialised("the ledger is not initialised: run `trial-ledger init`")
            registry.authorise(entry, item.signature, recorded_at, item.checked)
            view = _View(lambda name: self._history(cur, histories, name))
            follow_ups = self.rules.decide(history, record, view)
            history.append(record)
            chain = [record]
            for follow in follow_ups:
                if depth >= 2:
                    raise RuleViolation("rules answered a follow-up with more follow-ups",
                                        rule="rules.follow_up_depth")
                chain += self._decide(cur, registry, histories, self._sign_follow_up(
                    follow, histories, cur, registry, recorded_at), now, redacting, depth + 1)
            return chain
        history.append(record)
        return [record]

    def _history(self, cur: Any, histories: dict[str, list[Record]], stream: str) -> list[Record]:
        if stream not in histories:
            histories[stream] = self.histories.history(cur, stream)
        return histories[stream]

    def _sign_follow_up(self, follow: FollowUp, histories: dict[str, list[Record]], cur: Any,
                        registry: KeyRegistry, at: str) -> Prepared:
        """Sign a follow-up with the system actor's key, against the stream's head right now."""
        signer = self.system_signers.get(follow.actor)
        if signer is None:
            raise NotInitialised(f"the {follow.actor} key is not loaded; cannot answer this entry",
                                 rule="ledger.no_system_key")
        history = self._history(cur, histories, follow.stream)
        submission = signer.sign(ledger=self._origin or registry.origin or "",
                                 head=_head_of(follow.stream, history), type=follow.type,
                                 payload=follow.payload, occurred_at=parse_time(at),
                                 reason=follow.reason)
        return prepare(submission)

    def append_follow_up(self, follow: FollowUp) -> Receipt:
        """Append one record by a system actor on its own (e.g. a refusal worth keeping, R9)."""
        signer = self.system_signers.get(follow.actor)
        if signer is None:
            raise NotInitialised(f"the {follow.actor} key is not loaded", rule="ledger.no_system_key")
        return self.append(signer.sign(ledger=self.origin, head=self.head(follow.stream), type=follow.type,
                                       payload=follow.payload, occurred_at=self.clock(),
                                       reason=follow.reason))

    # -- internals ------------------------------------------------------------------------
    def _record_by_hash(self, cur: Any, record_hash: object) -> Record | None:
        if not isinstance(record_hash, str):
            return None
        leaf = self.tree.leaf_in(cur, record_hash)
        row = None if leaf is None else self.store.row_at(cur, leaf.position)
        return None if row is None else Record.from_stored(row.state, row.position)

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


@dataclass(frozen=True)
class _View:
    read: Callable[[str], Sequence[Record]]

    def history(self, stream: str) -> Sequence[Record]:
        return self.read(stream)


def _marks(histories: dict[str, list[Record]]) -> dict[str, int]:
    return {stream: len(history) for stream, history in histories.items()}


def _rewind(histories: dict[str, list[Record]], marks: dict[str, int]) -> None:
    """Forget what a refused entry added to the transaction's histories."""
    for stream in list(histories):
        if stream not in marks:
            del histories[stream]
        else:
            del histories[stream][marks[stream]:]


def _head_of(stream: str, history: Sequence[Record]) -> Head:
    if not history:
        return Head(stream, 0, ZERO_HASH)
    last = history[-1]
    return Head(stream, last.version, last.hash, last.recorded_at)


__all__ = ["BatchError", "Clock", "FollowUp", "Ledger", "Receipt", "RuleViolation", "Rules", "StreamView",
           "system_clock"]
