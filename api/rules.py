"""The trial's rules, handed to the ledger as its decider (the ledger never imports domain)."""

from __future__ import annotations

from collections.abc import Sequence

from domain import streams
from domain.facts import Rejection
from ledger.entry import Record
from ledger.errors import RuleViolation
from ledger.ledger import FollowUp, StreamView
from projections.facts import to_fact


class TrialRules:
    def decide(self, history: Sequence[Record], candidate: Record,
               view: StreamView) -> Sequence[FollowUp]:
        try:
            streams.decide([to_fact(r) for r in history], to_fact(candidate),
                           candidate.payload_text or "")
        except Rejection as exc:
            raise RuleViolation(exc.message, rule=exc.rule, field=exc.field, errors=exc.errors) from exc
        return ()
