"""Deciding entries under the write lock: one transaction's state (stream histories, the key
registry as it grows, pending redactions) and the deciders of each kind of stream.

Every entry is decided the same way, top to bottom: it must be for this ledger and signed on the
stream's head; it is sealed at the transaction's time (never earlier than the stream's last
record); its stream's decider checks it and names the records that must follow it (the key
registry's rules for `keys`, the redaction rules for `redactions`, the trial's `Rules` for every
other stream); the follow-ups are signed by their system actor and decided in their turn.

A stream the rules keep a state for (`StateRules`) is decided from that state, found by
ledger/stream_state.py for the head read here under the write lock, never from its history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import redaction
from .contract import FollowUp
from .entry import ZERO_HASH, Record, parse_time
from .errors import Conflict, Head, MalformedEntry, NotInitialised, RuleViolation, SignatureRefused
from .keys import signature_valid
from .prepared import Prepared, prepare
from .registry import GENESIS, KEYS_STREAM, KeyRegistry, genesis_key
from .store import Row, StoredState
from .stream_state import Kept, state_key
from .trusted import read_trusted

if TYPE_CHECKING:
    from .ledger import Ledger

#: How deep follow-ups may answer follow-ups: an entry's answer, and that answer's answer.
MAX_DEPTH = 2

#: A stream's decider: checks the sealed candidate (raising to refuse it) and returns the
#: records that must follow it.
Decider = Callable[["Deciding", Prepared, Record, list[Record]], Sequence[FollowUp]]


class Deciding:
    """One write transaction's decisions: what was decided so far, in the order it was."""

    def __init__(self, ledger: Ledger, cur: Any, registry: KeyRegistry, now: str,
                 redactions: int = 0) -> None:
        self.ledger, self.cur, self.registry, self.now = ledger, cur, registry, now
        self.redactions = redactions  # the redactions table's count as this transaction began
        self.histories: dict[str, list[Record]] = {}
        self.redacting: list[tuple[Record, Record]] = []  # (redaction, target)
        self.state_rules = ledger.states.rules_of(ledger.rules)
        self.states: dict[str, Kept] = {}  # streams decided from their state
        self.unstored: set[str] = set()  # ... whose state `stream_states` lacks as it stands
        self.pending: dict[str, list[Record]] = {}  # records decided here on those streams
        self._key: bytes | None = None
        # Read ahead for a group's streams, as they stood when this transaction began (valid for
        # a stream until a decision on it lands in `states`): its last row, its stored state.
        self._heads: dict[str, Row] | None = None
        self._stored: dict[str, StoredState] = {}
        self._read_ahead: frozenset[str] = frozenset()

    @property
    def origin(self) -> str | None:
        return self.ledger._origin or self.registry.origin

    def decide(self, item: Prepared, depth: int = 0) -> list[Record]:
        """Decide one entry; its record followed by the records decided in answer to it."""
        entry = item.entry
        stream = entry.fields["stream"]
        if entry.fields["ledger"] != (self.origin or entry.fields["ledger"]):
            raise MalformedEntry(f"entry is for ledger {entry.fields['ledger']}, this is "
                                 f"{self.origin}", rule="entry.wrong_ledger", field="entry.ledger")
        kept = self.kept(stream)
        history = self.history(stream) if kept is None else None
        head = kept.head if kept is not None else head_of(stream, history or ())
        if entry.fields["version"] != head.version + 1 or entry.fields["prev"] != head.record_hash:
            raise Conflict(f"entry was signed for version {entry.fields['version']} after "
                           f"{entry.fields['prev'][:12]}…; stream {stream} is at version "
                           f"{head.version}", head=head)
        # recorded_at is the server's clock, but never earlier than the stream's last record.
        recorded_at = max(self.now, head.recorded_at or self.now)
        record = Record.seal(entry, item.signature, recorded_at, item.payload_text, item.salt,
                             payload_checked=True)
        if history is not None:
            follow_ups = DECIDERS.get(stream, trial_stream)(self, item, record, history)
            history.append(record)
        else:
            assert kept is not None and self.state_rules is not None
            authorise_trial(self, item, record)
            follow_ups, state = self.state_rules.decide_on(kept.state, record, _View(self.history))
            self.states[stream] = Kept(head_of(stream, [record]), state)
            self.unstored.add(stream)
            self.pending.setdefault(stream, []).append(record)
            if stream in self.histories:  # a rule read it: it grows as it would have
                self.histories[stream].append(record)
        chain = [record]
        for follow in follow_ups:
            if depth >= MAX_DEPTH:
                raise RuleViolation("rules answered a follow-up with more follow-ups",
                                    rule="rules.follow_up_depth")
            chain += self.decide(self.sign(follow, recorded_at), depth + 1)
        return chain

    def attempt(self, item: Prepared) -> list[Record]:
        """`decide`, leaving the transaction as it was if the entry is refused (or breaks)."""
        registry, redactions = self.registry, len(self.redacting)
        marks = {stream: len(history) for stream, history in self.histories.items()}
        pending = {stream: len(records) for stream, records in self.pending.items()}
        states, unstored = dict(self.states), set(self.unstored)
        self.registry = registry.copy()
        try:
            return self.decide(item)
        except Exception:
            self.registry = registry
            del self.redacting[redactions:]
            _truncate(self.histories, marks)
            _truncate(self.pending, pending)
            self.states, self.unstored = states, unstored
            raise

    def history(self, stream: str) -> list[Record]:
        """The stream as it stands in this transaction (read once, then grown by decisions)."""
        if stream not in self.histories:
            self.histories[stream] = [*self.ledger.histories.history(self.cur, stream),
                                      *self.pending.get(stream, ())]
        return self.histories[stream]

    def kept(self, stream: str) -> Kept | None:
        """The stream's state as it stands in this transaction, if the rules keep one for it:
        found (or folded) for the head read here, under the write lock, then grown here."""
        rules = self.state_rules
        if rules is None or stream in DECIDERS or not rules.keeps_state(stream):
            return None
        if stream not in self.states:
            ahead = self._heads is not None and stream in self._read_ahead
            row = (self._heads.get(stream) if ahead and self._heads is not None
                   else self.ledger.store.last_row(self.cur, stream))
            head = (Head(stream, 0, ZERO_HASH) if row is None
                    else head_of(stream, [read_trusted(row.state, row.position)]))
            kept, stored = self.ledger.states.find(
                self.cur, rules, self.key, head, self.redactions,
                lambda: self.ledger.histories.history(self.cur, stream),
                (lambda: self._stored.get(stream)) if ahead else None)
            self.states[stream] = kept
            if not stored:
                self.unstored.add(stream)
        return self.states[stream]

    def read_ahead(self, items: Sequence[Prepared | Exception]) -> None:
        """For a group: the last row and stored state of every stream its entries keep a state
        for, read in one query each instead of two per entry (a round trip each on PostgreSQL).
        Read under the write lock, in this transaction: what `kept` would have read."""
        rules = self.state_rules
        if rules is None:
            return
        streams = {i.entry.fields["stream"] for i in items if isinstance(i, Prepared)}
        streams = {s for s in streams if isinstance(s, str) and s not in DECIDERS
                   and s not in self.states and rules.keeps_state(s)}
        if len(streams) < 2:
            return
        self._read_ahead = frozenset(streams)
        self._heads = self.ledger.store.last_rows(self.cur, sorted(streams))
        self._stored = self.ledger.store.stream_states(self.cur, sorted(streams))

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = state_key(self.ledger.sealer, self.ledger.states.process_key)
        return self._key

    def store_states(self) -> None:
        """Before the commit: the states this transaction changed (or found unstored), written
        in it. Not after a redaction: the count under their MAC is moving."""
        if self.state_rules is not None and self.unstored and not self.redacting:
            self.ledger.states.store_states(self.cur, self.state_rules, self.key, self.redactions,
                                            [self.states[s] for s in sorted(self.unstored)])

    def committed(self) -> None:
        """After the commit: the states are the streams' as committed."""
        if self.redacting:
            self.ledger.states.clear()
        elif self.states:
            self.ledger.states.committed(self.states.values(), self.redactions)

    def sign(self, follow: FollowUp, at: str) -> Prepared:
        """A follow-up signed with its system actor's key, on its stream's head right now."""
        signer = self.ledger.system_signers.get(follow.actor)
        if signer is None:
            raise NotInitialised(f"the {follow.actor} key is not loaded; cannot answer this entry",
                                 rule="ledger.no_system_key")
        kept = self.kept(follow.stream)
        head = kept.head if kept is not None else head_of(follow.stream, self.history(follow.stream))
        submission = signer.sign(ledger=self.origin or "", head=head,
                                 type=follow.type, payload=follow.payload,
                                 occurred_at=parse_time(at), reason=follow.reason)
        return prepare(submission)

    def record_by_hash(self, record_hash: object) -> Record | None:
        if not isinstance(record_hash, str):
            return None
        leaf = self.ledger.tree.leaf_in(self.cur, record_hash)
        row = None if leaf is None else self.ledger.store.row_at(self.cur, leaf.position)
        return None if row is None else Record.from_stored(row.state, row.position)


def key_stream(txn: Deciding, item: Prepared, record: Record,
               history: list[Record]) -> Sequence[FollowUp]:
    """The key registry's rules: what may be registered or revoked, and by whom."""
    entry = item.entry
    txn.registry.check(entry, item.payload)
    if entry.fields["type"] == GENESIS:
        if not signature_valid(genesis_key(entry, item.payload), item.signature, entry.raw):
            raise SignatureRefused("genesis signature does not verify", rule="signature.invalid",
                                   field="signature")
    else:
        txn.registry.authorise(entry, item.signature, record.recorded_at, item.checked)
    txn.registry.apply(record)
    return ()


def redaction_stream(txn: Deciding, item: Prepared, record: Record,
                     history: list[Record]) -> Sequence[FollowUp]:
    """The redaction rules: who may remove which record's payload, once."""
    txn.registry.authorise(item.entry, item.signature, record.recorded_at, item.checked)
    target = txn.record_by_hash(item.payload.get("record"))
    if any(t.hash == getattr(target, "hash", None) for _, t in txn.redacting):
        raise RuleViolation("this record is redacted already", rule="redaction.already",
                            field="payload.record")
    redaction.check(item.entry, item.payload, target, txn.ledger.redactors,
                    txn.ledger.unredactable)
    assert target is not None
    txn.redacting.append((record, target))
    return ()


def trial_stream(txn: Deciding, item: Prepared, record: Record,
                 history: list[Record]) -> Sequence[FollowUp]:
    """The trial's rules (`Rules`, handed to the ledger), once the signature's key may sign."""
    authorise_trial(txn, item, record)
    return txn.ledger.rules.decide(history, record, _View(txn.history))


def authorise_trial(txn: Deciding, item: Prepared, record: Record) -> None:
    """Before the trial's rules: the ledger is initialised and the entry's key may sign it."""
    if txn.registry.origin is None:
        raise NotInitialised("the ledger is not initialised: run `trial-ledger init`")
    txn.registry.authorise(item.entry, item.signature, record.recorded_at, item.checked)


DECIDERS: dict[str, Decider] = {KEYS_STREAM: key_stream, redaction.REDACTIONS_STREAM: redaction_stream}


@dataclass(frozen=True)
class _View:
    read: Callable[[str], Sequence[Record]]

    def history(self, stream: str) -> Sequence[Record]:
        return self.read(stream)


def _truncate(lists: dict[str, list[Record]], marks: dict[str, int]) -> None:
    """Each list back to its length at `marks`; lists begun since dropped."""
    for stream in list(lists):
        if stream not in marks:
            del lists[stream]
        else:
            del lists[stream][marks[stream]:]


def head_of(stream: str, history: Sequence[Record]) -> Head:
    if not history:
        return Head(stream, 0, ZERO_HASH)
    last = history[-1]
    return Head(stream, last.version, last.hash, last.recorded_at)
