"""Reads as the log stood at a cut (`as_of`: a UTC time, a day, position:N or checkpoint:SIZE):
every view folded from the records the cut keeps, or one participant from their stream."""

from __future__ import annotations

from api.services.bootstrap import Services
from domain import participant
from domain.participant import ParticipantState
from domain.protocol import Protocol
from domain.streams import evolve_participant_all
from domain.trial import PROTOCOL_STREAM, protocol_in_force
from ledger.entry import Record
from projections.asof import Cut, within
from projections.facts import to_fact
from projections.replay import Folded, replay


def folded(services: Services, as_of: str) -> Folded:
    """Every view folded from the records the cut keeps (streamed from the log)."""
    return replay(within(services.ledger.records(), cut_of(services, as_of)))


def cut_of(services: Services, as_of: str) -> Cut:
    """The cut as a log prefix (tree size), however it was named."""
    cut = Cut.parse(as_of)
    if cut.position is not None:  # a position names a log prefix: the leaves it holds
        size = services.ledger.tree.size_at_position(cut.position)
        cut = Cut(time=cut.time, size=size if cut.size is None else min(size, cut.size))
    return cut


def _kept(services: Services, stream: str, as_of: str) -> list[Record]:
    """The stream's records the cut keeps."""
    cut = Cut.parse(as_of)
    if cut.size is not None:  # a checkpoint's size is a log prefix: its last leaf's position
        last = services.ledger.tree.leaf_by_index(cut.size - 1) if cut.size else None
        cut = Cut(time=cut.time, position=last.position if last else 0)
    return [r for r in services.ledger.stream(stream)
            if (cut.time is None or r.recorded_at <= cut.time)
            and (cut.position is None or (r.position or 0) <= cut.position)]


def protocol_as_of(services: Services, as_of: str | None) -> Protocol | None:
    """The protocol in force at the cut (now, without one): what scores are computed under."""
    records = services.ledger.stream(PROTOCOL_STREAM) if as_of is None else \
        _kept(services, PROTOCOL_STREAM, as_of)
    return protocol_in_force([to_fact(record) for record in records])


def participant_as_of(services: Services, participant_id: str, as_of: str) -> ParticipantState | None:
    """One participant folded from its stream, keeping only the records the cut keeps."""
    kept = _kept(services, participant.STREAM_PREFIX + participant_id, as_of)
    if not kept:
        return None
    return evolve_participant_all(participant.initial(), [to_fact(record) for record in kept])
