"""What the append path takes and gives: the rules it is handed, the follow-ups they answer
with, the receipts it returns, the clock it reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from .entry import Record
from .errors import LedgerError

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FollowUp:
    """A record the rules add in answer to an entry, signed by a system actor's key in the same
    transaction (a randomisation request is answered by the randomiser's allocation)."""

    stream: str
    type: str
    payload: Mapping[str, Any]
    actor: str  # author id of the system actor whose key signs it
    reason: str | None = None


class StreamView(Protocol):
    """What rules may read while deciding: any stream, as it stands inside the transaction."""

    def history(self, stream: str) -> Sequence[Record]: ...


class Rules(Protocol):
    """The rules of a trial's streams, passed in: the ledger knows none of them."""

    def decide(self, history: Sequence[Record], candidate: Record,
               view: StreamView) -> Sequence[FollowUp]:
        """Raise RuleViolation to refuse `candidate` given the stream's `history`; return the
        records that must follow it."""


@runtime_checkable
class StateRules(Protocol):
    """What rules may add so that an append folds no history (ledger/stream_state.py): the
    decider's state of a stream, carried from one entry to the next. Optional: rules without
    it are handed the history. The ledger never looks inside a state; it keeps them in memory
    and in `stream_states`, each bound to its stream's head, and falls back to `decide` on the
    history whenever a kept state cannot be shown to belong to the head."""

    #: Names the fold and the state's form: a state stored under another is not used.
    state_format: str

    def keeps_state(self, stream: str) -> bool:
        """Whether this stream is decided from a state (others are handed their history)."""

    def fold(self, stream: str, history: Sequence[Record]) -> object:
        """The state after `history` (the stream's records, in order)."""

    def decide_on(self, state: object, candidate: Record,
                  view: StreamView) -> tuple[Sequence[FollowUp], object]:
        """`decide`, given the state folded from the history: the follow-ups, and the state
        after `candidate`. Must not change `state` (it may be kept for another transaction)."""

    def dump_state(self, state: object) -> bytes:
        """The state as bytes to store (not pickle: whoever edits the database could forge it)."""

    def load_state(self, stream: str, data: bytes) -> object:
        """`dump_state` undone; raises (anything) for bytes it does not accept."""


@dataclass(frozen=True)
class Receipt:
    record_hash: str
    stream: str
    version: int
    position: int
    recorded_at: str
    leaf_index: int
    checkpoint: str | None = None
    type: str = ""
    follow_ups: tuple[Receipt, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "follow_ups": [f.as_dict() for f in self.follow_ups],
            "record_hash": self.record_hash,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "recorded_at": self.recorded_at,
            "leaf_index": self.leaf_index,
            "checkpoint": self.checkpoint,
        }


class BatchError(LedgerError):
    """One entry of a batch failed; nothing of the batch was written."""

    def __init__(self, index: int, error: LedgerError) -> None:
        super().__init__(f"entry {index}: {error.message}", rule=error.rule, field=error.field)
        self.index = index
        self.error = error
