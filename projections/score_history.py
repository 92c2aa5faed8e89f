"""Score histories: per participant and visit, every algorithm's result with its version and
input records (or what is missing), as the participant's state gives them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from domain.visit_scores import scores_by_visit

if TYPE_CHECKING:
    from .fold import Batch

NAME = "scores"


def finish(batch: Batch, pids: Iterable[str]) -> None:
    for pid in pids:
        batch.put(NAME, pid, scores_by_visit(batch.states[pid]))
