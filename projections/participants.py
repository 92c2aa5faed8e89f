"""Participant state: one document per participant, the domain's own fold of its stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from domain import participant
from domain.facts import Fact
from ledger.entry import Record

if TYPE_CHECKING:
    from .fold import Batch

NAME = "participants"


def apply(batch: Batch, record: Record, fact: Fact) -> None:
    batch.add(participant.participant_id_of(record.stream), fact)


def finish(batch: Batch, pids: Iterable[str]) -> None:
    for pid in pids:
        batch.put(NAME, pid, batch.states[pid].model_dump(mode="json"))
