"""What the append path takes and gives: the rules it is handed, the follow-ups they answer
with, the receipts it returns, the clock it reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

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
