"""Every view folded in memory from a run of records: for as-of reads, for `verify-bundle`, and
for comparing a live view with the log. Streams: the audit trail is hashed as it is folded, so
memory grows with participants and slots, not with the log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from domain.participant import ParticipantState
from ledger.canonical import canonical
from ledger.entry import Record

from . import audit_trail, participants, score_history
from .fold import NAMES, Batch, apply, bulk, finish_in_chunks
from .tables import Digest, fingerprint, text

_FLUSH = 2000


@dataclass
class Folded:
    """Views as a run of records leaves them: participant states and the allocation table in
    memory; participants, scores and the audit trail as digests (hashed as they were folded)."""

    batch: Batch
    digests: dict[str, Digest] = field(default_factory=lambda: {
        name: Digest() for name in (participants.NAME, score_history.NAME, audit_trail.NAME)})
    records: int = 0
    last_position: int = 0

    @property
    def participants(self) -> dict[str, ParticipantState]:
        self.batch.settle()
        return dict(sorted(self.batch.states.items()))

    def docs(self, view: str) -> dict[str, Any]:
        return dict(sorted(self.batch.docs[view].items()))

    def fingerprints(self) -> dict[str, str]:
        return {view: self.digests[view].hexdigest() if view in self.digests else
                fingerprint({k: canonical(d) for k, d in self.batch.docs[view].items()})
                for view in NAMES}

    def sizes(self) -> dict[str, int]:
        return {view: self.digests[view].count if view in self.digests else len(self.batch.docs[view])
                for view in NAMES}


def replay(records: Iterable[Record]) -> Folded:
    """Fold records (a log from its first record, or a prefix of it) into every view."""
    folded = Folded(Batch())
    audit = folded.batch.docs[audit_trail.NAME]
    with bulk():
        for index, record in enumerate(records):
            apply(folded.batch, record, index)
            folded.records, folded.last_position = index + 1, record.position or 0
            if len(audit) >= _FLUSH:
                _hash(folded, {audit_trail.NAME: audit})
        _hash(folded, {audit_trail.NAME: audit})
        finish_in_chunks(folded.batch, lambda docs: _hash(folded, docs))
    return folded


def _hash(folded: Folded, docs: dict[str, dict[str, Any]]) -> None:
    """Feed documents to their views' digests in key order, then drop them."""
    for view, changed in docs.items():
        for key in sorted(changed):
            folded.digests[view].add(key, text(view, changed[key]))
        changed.clear()
