"""Score histories: per participant and visit, every algorithm's result with its version and
input records (or what is missing), each visit's change from the baseline visit, and the
protocol's primary score marked, as the participant's state gives them.

The scores follow the protocol in force (Child-Pugh's coagulation criterion and cholestatic
bands, the primary score); without one, they are scored as protocol 1.0 scores them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from domain.protocol import Protocol
from domain.visit_scores import scores_by_visit

if TYPE_CHECKING:
    from .fold import Batch

NAME = "scores"


def finish(batch: Batch, pids: Iterable[str], protocol: Protocol | None = None) -> None:
    for pid in pids:
        batch.put(NAME, pid, scores_by_visit(batch.states[pid], protocol))
