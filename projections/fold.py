"""One fold for every view: a batch of records applied to the documents they touch.

The live runner, a rebuild from zero, an as-of fold and `verify-bundle` all apply records through
`apply` and `finish`, so they cannot disagree. A batch loads what it touches once (from the
view tables, or from nothing) and hands back the documents to write.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from domain import participant
from domain.facts import Fact
from domain.participant import ParticipantState
from domain.protocol import Protocol, load_protocol
from domain.streams import evolve_participant_all
from domain.trial import PROTOCOL_STREAM, protocol_in_force
from ledger.entry import Record
from ledger.store import Store
from ledger.trusted import read_trusted

from . import allocation_table, audit_trail, participants, score_history
from .facts import to_fact

PENDING = 256  # facts held for one participant before they are folded

Loader = Callable[[str, str], str | None]  # (view, key) -> stored document text, or None

#: The views, in the order their tables are listed and fingerprinted.
NAMES = (participants.NAME, score_history.NAME, allocation_table.NAME, audit_trail.NAME)


def _nothing(view: str, key: str) -> str | None:
    return None


class Folding(ParticipantState):
    """A participant's state that a fold from zero updates in place. The domain's evolve returns
    `state.model_copy(update=...)`; nothing but the fold holds an earlier state here, so copying
    every field per record (a fifth of a rebuild) buys nothing. The evolve code, and therefore
    the state and its document, are the same as the immutable fold's; only the copy is gone."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Folding:
        if deep:
            raise ValueError("a folding state is never deep-copied")
        if update:
            self.__dict__.update(update)
        return self


class Batch:
    """The participants and documents a run of records touches, and what changed. `in_place`:
    participants start from nothing and are updated in place (a fold from zero, whose states are
    dropped once their documents are written: never handed to anyone else)."""

    def __init__(self, load: Loader = _nothing, *, in_place: bool = False,
                 protocol: Protocol | None = None, follow_protocol: bool = True) -> None:
        self._load = load
        # The protocol the scores are computed under: the one in force where the fold stands
        # (followed through the protocol's records as they come), or, for a fold that reads
        # the log a stream at a time, the one in force at its end (`follow_protocol` False).
        self.protocol = protocol
        self.follow_protocol = follow_protocol
        self.protocol_changed = False  # an adoption or amendment was applied: rescore everyone
        self._initial = Folding if in_place else participant.initial
        self.states: dict[str, ParticipantState] = {}
        # Facts not folded into their participant's state yet: folded together when the state
        # is asked for (`participant`), so that a run of lab results costs one copy, not one each.
        self.pending: dict[str, list[Fact]] = {}
        self.changed: set[str] = set()  # participants whose state changed
        self.docs: dict[str, dict[str, Any]] = {name: {} for name in NAMES}  # to write
        # Slots randomised in this batch (key -> leaf index), and invalidations it could not
        # place yet (slot, invalidation, leaf index): a rebuild joins them at its end.
        self.slots: dict[str, int] = {}
        self.orphans: list[tuple[str, dict[str, Any], int]] = []
        self.dropped = 0  # participants whose documents were written and state let go

    @property
    def seen(self) -> int:
        """Participants this batch has folded."""
        return len(self.states) + self.dropped

    def participant(self, pid: str) -> ParticipantState:
        """The participant's state with every fact added so far folded in."""
        state = self.states.get(pid)
        if state is None:
            text = self._load(participants.NAME, pid)
            state = self._initial() if text is None else \
                ParticipantState.model_validate_json(text)
            self.states[pid] = state
        facts = self.pending.pop(pid, None)
        if facts:
            state = self.states[pid] = evolve_participant_all(state, facts)
        return state

    def add(self, pid: str, fact: Fact) -> None:
        """Fold `fact` into the participant's state (when the state is next asked for)."""
        facts = self.pending.get(pid)
        if facts is None:
            if pid not in self.states:
                self.participant(pid)  # loaded (or begun) now: `seen` counts it
            facts = self.pending[pid] = []
        facts.append(fact)
        self.changed.add(pid)
        if len(facts) >= PENDING:  # a fold in log order holds few facts per participant
            self.participant(pid)

    def set_participant(self, pid: str, state: ParticipantState) -> None:
        """Replace the participant's state (facts added before are part of `state`)."""
        self.pending.pop(pid, None)
        self.states[pid] = state
        self.changed.add(pid)

    def settle(self) -> None:
        """Fold every pending fact."""
        for pid in list(self.pending):
            self.participant(pid)

    def doc(self, view: str, key: str) -> Any | None:
        if key in self.docs[view]:
            return self.docs[view][key]
        text = self._load(view, key)
        return None if text is None else orjson.loads(text)

    def put(self, view: str, key: str, doc: Any) -> None:
        self.docs[view][key] = doc


def apply(batch: Batch, record: Record, leaf_index: int) -> None:
    """Fold one record (the `leaf_index`-th of the log) into every view that reads it (a
    rebuild calls this for every record of the log)."""
    payload = record.payload()
    audit_trail.apply(batch, record, payload, leaf_index)  # first: it reads the value replaced
    stream = record.stream
    if stream == PROTOCOL_STREAM and batch.follow_protocol:
        document = (payload or {}).get("document")
        if isinstance(document, dict):  # (a redacted record keeps no document)
            batch.protocol = load_protocol(document)
            batch.protocol_changed = True
    if stream.startswith(participant.STREAM_PREFIX):
        batch.add(participant.participant_id_of(stream), to_fact(record, payload))
    if record.entry.fields["type"] in allocation_table.KINDS:
        allocation_table.apply(batch, record, payload, leaf_index)


def finish(batch: Batch, pids: Iterable[str] | None = None) -> None:
    """Documents of the participants that changed (their state, their scores); `pids` limits
    it to some of them."""
    chosen = set(batch.changed if pids is None else pids)
    for pid in chosen:
        batch.participant(pid)  # pending facts folded in
    participants.finish(batch, chosen)
    score_history.finish(batch, chosen, batch.protocol)
    batch.changed -= chosen


def let_go(batch: Batch, pid: str) -> None:
    """Finish one participant whose stream has ended and drop its state (a fold from zero
    that reads the log a stream at a time: nothing after this touches the participant)."""
    finish(batch, (pid,))
    del batch.states[pid]
    batch.dropped += 1


def finish_in_chunks(batch: Batch, write: Callable[[dict[str, dict[str, Any]]], None],
                     size: int = 1000) -> None:
    """Finish a whole fold's participants a chunk at a time, in key order, handing each chunk's
    documents to `write` and dropping them: a rebuild never holds every document at once."""
    pending = sorted(batch.changed)
    for start in range(0, len(pending), size):
        finish(batch, pending[start:start + size])
        chunk = {name: batch.docs[name] for name in (participants.NAME, score_history.NAME)}
        write(chunk)
        for docs in chunk.values():
            docs.clear()


class ProtocolAt:
    """The protocol in force after a position of the log (the protocol stream holds a few
    records), decoded again only when a new adoption or amendment has come."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._last: tuple[int, Protocol | None] = (-1, None)

    def __call__(self, cur: Any, upto: int) -> Protocol | None:
        rows = [r for r in self.store.stream_rows(cur, PROTOCOL_STREAM) if r.position <= upto]
        last = rows[-1].position if rows else 0
        if last != self._last[0]:
            facts = [to_fact(read_trusted(r.state, r.position)) for r in rows]
            self._last = (last, protocol_in_force(facts))
        return self._last[1]


@contextmanager
def bulk() -> Iterator[None]:
    """A long fold allocates millions of small objects and frees few, so the cyclic collector
    would scan the growing heap again and again for nothing (a third of a rebuild's time).
    It pauses for the fold; reference counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
