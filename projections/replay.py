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

from . import audit_trail
from .fold import NAMES, Batch, apply, bulk, finish
from .tables import Digest, fingerprint

_FLUSH = 2000


@dataclass
class Folded:
    """Views as a run of records leaves them; `audit_rows` only when asked to keep them."""

    batch: Batch
    audit: Digest
    records: int = 0
    last_position: int = 0
    audit_rows: list[dict[str, Any]] | None = field(default=None)

    @property
    def participants(self) -> dict[str, ParticipantState]:
        return dict(sorted(self.batch.states.items()))

    def docs(self, view: str) -> dict[str, Any]:
        return dict(sorted(self.batch.docs[view].items()))

    def fingerprints(self) -> dict[str, str]:
        out = {view: fingerprint({k: canonical(d) for k, d in self.batch.docs[view].items()})
               for view in NAMES if view != audit_trail.NAME}
        out[audit_trail.NAME] = self.audit.hexdigest()
        return {view: out[view] for view in NAMES}

    def sizes(self) -> dict[str, int]:
        return {view: (self.audit.count if view == audit_trail.NAME else len(self.batch.docs[view]))
                for view in NAMES}


def replay(records: Iterable[Record], *, keep_audit: bool = False) -> Folded:
    """Fold records (a log from its first record, or a prefix of it) into every view."""
    folded = Folded(Batch(), Digest(), audit_rows=[] if keep_audit else None)
    audit = folded.batch.docs[audit_trail.NAME]
    with bulk():
        for index, record in enumerate(records):
            apply(folded.batch, record, index)
            folded.records, folded.last_position = index + 1, record.position or 0
            if len(audit) >= _FLUSH:
                _drain(folded)
        _drain(folded)
        finish(folded.batch)
    return folded


def _drain(folded: Folded) -> None:
    audit = folded.batch.docs[audit_trail.NAME]
    for key in sorted(audit):
        folded.audit.add(key, canonical(audit[key]))
        if folded.audit_rows is not None:
            folded.audit_rows.append(audit[key])
    audit.clear()
