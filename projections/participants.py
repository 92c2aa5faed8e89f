"""Participant state: one document per participant, the domain's own fold of its stream (the
facts are added by `fold.apply`, folded when the state is asked for)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fold import Batch

NAME = "participants"


def finish(batch: Batch, pids: Iterable[str]) -> None:
    for pid in pids:
        batch.put(NAME, pid, batch.states[pid].model_dump(mode="json"))
