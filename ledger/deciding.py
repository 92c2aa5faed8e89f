"""Deciding entries under the write lock: one transaction's state (stream histories, the key
registry as it grows, pending redactions) and the deciders of each kind of stream.

Every entry is decided the same way, top to bottom: it must be for this ledger and signed on the
stream's head; it is sealed at the transaction's time (never earlier than the stream's last
record); its stream's decider checks it and names the records that must follow it (the key
registry's rules for `keys`, the redaction rules for `redactions`, the trial's `Rules` for every
other stream); the follow-ups are signed by their system actor and decided in their turn.
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

if TYPE_CHECKING:
    from .ledger import Ledger

#: How deep follow-ups may answer follow-ups: an entry's answer, and that answer's answer.
MAX_DEPTH = 2

#: A stream's decider: checks the sealed candidate (raising to refuse it) and returns the
#: records that must follow it.
Decider = Callable[["Deciding", Prepared, Record, list[Record]], Sequence[FollowUp]]


class Deciding:
    """One write transaction's decisions: what was decided so far, in the order it was."""

    def __init__(self, ledger: Ledger, cur: Any, registry: KeyRegistry, now: str) -> None:
        self.ledger, self.cur, self.registry, self.now = ledger, cur, registry, now
        self.histories: dict[str, list[Record]] = {}
        self.redacting: list[tuple[Record, Record]] = []  # (redaction, target)

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
        history = self.history(stream)
        head = head_of(stream, history)
        if entry.fields["version"] != head.version + 1 or entry.fields["prev"] != head.record_hash:
            raise Conflict(f"entry was signed for version {entry.fields['version']} after "
                           f"{entry.fields['prev'][:12]}…; stream {stream} is at version "
                           f"{head.version}", head=head)
        # recorded_at is the server's clock, but never earlier than the stream's last record.
        recorded_at = max(self.now, head.recorded_at or self.now)
        record = Record.seal(entry, item.signature, recorded_at, item.payload_text, item.salt,
                             payload_checked=True)
        follow_ups = DECIDERS.get(stream, trial_stream)(self, item, record, history)
        history.append(record)
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
        self.registry = registry.copy()
        try:
            return self.decide(item)
        except Exception:
            self.registry = registry
            del self.redacting[redactions:]
            for stream in list(self.histories):
                if stream not in marks:
                    del self.histories[stream]
                else:
                    del self.histories[stream][marks[stream]:]
            raise

    def history(self, stream: str) -> list[Record]:
        """The stream as it stands in this transaction (read once, then grown by decisions)."""
        if stream not in self.histories:
            self.histories[stream] = self.ledger.histories.history(self.cur, stream)
        return self.histories[stream]

    def sign(self, follow: FollowUp, at: str) -> Prepared:
        """A follow-up signed with its system actor's key, on its stream's head right now."""
        signer = self.ledger.system_signers.get(follow.actor)
        if signer is None:
            raise NotInitialised(f"the {follow.actor} key is not loaded; cannot answer this entry",
                                 rule="ledger.no_system_key")
        submission = signer.sign(ledger=self.origin or "",
                                 head=head_of(follow.stream, self.history(follow.stream)),
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
    if txn.registry.origin is None:
        raise NotInitialised("the ledger is not initialised: run `trial-ledger init`")
    txn.registry.authorise(item.entry, item.signature, record.recorded_at, item.checked)
    return txn.ledger.rules.decide(history, record, _View(txn.history))


DECIDERS: dict[str, Decider] = {KEYS_STREAM: key_stream, redaction.REDACTIONS_STREAM: redaction_stream}


@dataclass(frozen=True)
class _View:
    read: Callable[[str], Sequence[Record]]

    def history(self, stream: str) -> Sequence[Record]:
        return self.read(stream)


def head_of(stream: str, history: Sequence[Record]) -> Head:
    if not history:
        return Head(stream, 0, ZERO_HASH)
    last = history[-1]
    return Head(stream, last.version, last.hash, last.recorded_at)
