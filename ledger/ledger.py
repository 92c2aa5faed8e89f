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
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from . import redaction
from .canonical import b64decode, parse_canonical
from .contract import BatchError, Clock, FollowUp, Receipt, Rules, StreamView, system_clock
from .entry import ZERO_HASH, Entry, Record, Submission, format_time, parse_time, payload_digest
from .errors import (
    Conflict,
    Head,
    LedgerError,
    MalformedEntry,
    NotInitialised,
    RuleViolation,
    SignatureRefused,
)
from .keys import signature_valid
from .note import NoteSigner
from .registry import GENESIS, KEYS_STREAM, KeyRegistry, genesis_key
from .signer import Signer
from .store import Store
from .tree import SignedCheckpoint, Tree


@dataclass(frozen=True)
class _Prepared:
    entry: Entry
    signature: bytes
    payload_text: str
    payload: dict[str, Any]
    salt: bytes


class Ledger:
    def __init__(self, store: Store, *, rules: Rules, clock: Clock = system_clock,
                 origin: str | None = None, sealer: NoteSigner | None = None,
                 redactors: frozenset[str] = redaction.REDACTOR_ROLES,
                 system_signers: Mapping[str, Signer] | None = None) -> None:
        """`sealer` holds the ledger key; without it records get leaves but no new checkpoint."""
        self.store = store
        self.tree = Tree(store)
        self.sealer = sealer
        self.redactors = redactors
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
            return [Record.from_stored(r.state, r.position, check=False)
                    for r in self.store.stream_rows(cur, stream)]

    def records(self, start: int = 1) -> Iterator[Record]:
        """Every record in log order (the total order of the notification log)."""
        for row in self.store.iter_log(start):
            yield Record.from_stored(row.state, row.position, check=False)

    # -- appending ------------------------------------------------------------------------
    def append(self, submission: Submission) -> Receipt:
        return self.append_batch([submission])[0]

    def append_batch(self, submissions: Sequence[Submission]) -> list[Receipt]:
        prepared = [_numbered(i, len(submissions), _prepare, s) for i, s in enumerate(submissions)]
        try:
            with self.store.write() as cur:
                registry = self._refreshed_registry(cur).copy()
                histories: dict[str, list[Record]] = {}
                records: list[Record] = []
                caused: list[int] = []  # how many follow-ups each submission brought
                redacting: list[tuple[Record, Record]] = []  # (redaction, target)
                now, stepped = self._now(cur)
                for i, item in enumerate(prepared):
                    chain = _numbered(i, len(prepared), self._decide, cur, registry, histories,
                                      item, now, redacting)
                    records.extend(chain)
                    caused.append(len(chain) - 1)
                if stepped is not None:  # the step is recorded in the same transaction
                    records.extend(self._decide(cur, registry, histories, self._sign_follow_up(
                        stepped, histories, cur, registry, now), now, redacting, 1))
                positions = self.store.insert(cur, [
                    StoredEvent(originator_id=r.stream, originator_version=r.version,
                                topic=r.type, state=r.stored_bytes()) for r in records])
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
            first = prepared[0].entry.fields["stream"]
            raise Conflict(f"stream {first} moved on: {exc}", head=self.head(first)) from exc
        self.tree.committed(border)
        with self._lock:
            if registry.version > self._registry.version:
                self._registry = registry
            self._latest = max(self._latest or "", *(r.recorded_at for r in records))
        first = border.size - len(records)
        note = signed.note if signed is not None else None
        every = [Receipt(r.hash, r.stream, r.version, p, r.recorded_at, first + i, note, r.type)
                 for i, (r, p) in enumerate(zip(records, positions, strict=True))]
        receipts, at = [], 0
        for n in caused:
            receipts.append(replace(every[at], follow_ups=tuple(every[at + 1: at + 1 + n])))
            at += 1 + n
        return receipts

    def _now(self, cur: Any) -> tuple[str, FollowUp | None]:
        """The time to record: the clock's, but never earlier than the latest record in the log
        (R10, R11). A clock that steps back is answered by a record of the step, when the
        trial says how (`clock_step`) and the system key to sign it is loaded."""
        now = format_time(self.clock())
        if self._latest is None:
            last = self.store.latest_row(cur)
            self._latest = Record.from_stored(last.state, last.position, check=False).recorded_at \
                if last is not None else ""
        if now >= self._latest:
            return now, None
        step = None
        if self.clock_step is not None and "system" in self.system_signers:
            step = self.clock_step(now, self._latest)
        return self._latest, step

    def _decide(self, cur: Any, registry: KeyRegistry, histories: dict[str, list[Record]],
                item: _Prepared, now: str, redacting: list[tuple[Record, Record]],
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
        record = Record.seal(entry, item.signature, recorded_at, item.payload_text, item.salt)
        if stream == KEYS_STREAM:
            registry.check(entry, item.payload)
            if entry.fields["type"] == GENESIS:
                if not signature_valid(genesis_key(entry, item.payload), item.signature, entry.raw):
                    raise SignatureRefused("genesis signature does not verify",
                                           rule="signature.invalid", field="signature")
            else:
                registry.authorise(entry, item.signature, recorded_at)
            registry.apply(record)
        elif stream == redaction.REDACTIONS_STREAM:
            registry.authorise(entry, item.signature, recorded_at)
            target = self._record_by_hash(cur, item.payload.get("record"))
            if any(t.hash == getattr(target, "hash", None) for _, t in redacting):
                raise RuleViolation("this record is redacted already", rule="redaction.already",
                                    field="payload.record")
            redaction.check(entry, item.payload, target, self.redactors)
            assert target is not None
            redacting.append((record, target))
        else:
            if registry.origin is None:
                raise NotInitialised("the ledger is not initialised: run `trial-ledger init`")
            registry.authorise(entry, item.signature, recorded_at)
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
            histories[stream] = [Record.from_stored(r.state, r.position, check=False)
                                 for r in self.store.stream_rows(cur, stream)]
        return histories[stream]

    def _sign_follow_up(self, follow: FollowUp, histories: dict[str, list[Record]], cur: Any,
                        registry: KeyRegistry, at: str) -> _Prepared:
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
        return _prepare(submission)

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


def _head_of(stream: str, history: Sequence[Record]) -> Head:
    if not history:
        return Head(stream, 0, ZERO_HASH)
    last = history[-1]
    return Head(stream, last.version, last.hash, last.recorded_at)


def _prepare(submission: Submission) -> _Prepared:
    """Everything that needs no lock: parse, canonical form, payload digest."""
    for name in ("entry", "signature", "payload", "salt"):
        if not isinstance(getattr(submission, name), str):
            raise MalformedEntry(f"{name} must be a string", field=name)
    entry = Entry.parse(submission.entry)
    signature = b64decode(submission.signature, "signature", length=64)
    salt = b64decode(submission.salt, "salt", length=32)
    payload = parse_canonical(submission.payload, "payload")
    if not isinstance(payload, dict):
        raise MalformedEntry("payload must be a JSON object", field="payload")
    digest = payload_digest(salt, submission.payload.encode("utf-8"))
    if digest != entry.fields["payload_digest"]:
        raise MalformedEntry("payload_digest does not match SHA-256(salt ‖ payload)",
                             rule="entry.payload_digest", field="entry.payload_digest")
    return _Prepared(entry, signature, submission.payload, payload, salt)


def _numbered(index: int, total: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one entry's step; in a batch of several, say which entry failed."""
    if total == 1:
        return fn(*args)
    try:
        return fn(*args)
    except Conflict:
        raise
    except LedgerError as exc:
        raise BatchError(index, exc) from exc


__all__ = ["BatchError", "Clock", "FollowUp", "Ledger", "Receipt", "RuleViolation", "Rules", "StreamView",
           "system_clock"]
