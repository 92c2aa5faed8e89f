"""The trial's rules, handed to the ledger as its decider (the ledger never imports domain)."""

from __future__ import annotations

from collections.abc import Sequence

from api.services.randomiser import Randomiser
from domain import streams
from domain.allocation import follow_ups as allocation_follow_ups
from domain.facts import Rejection
from domain.protocol import Protocol
from domain.trial import ALLOCATION_STREAM, PROTOCOL_STREAM, protocol_in_force
from ledger.entry import Record
from ledger.errors import RuleViolation
from ledger.ledger import FollowUp, StreamView
from projections.facts import to_fact

#: Which system actor (author id) writes the records each domain role asks for.
ACTORS = {"randomiser": "randomiser", "system": "system"}


class TrialRules:
    def __init__(self) -> None:
        self.randomiser: Randomiser | None = None  # set when the randomiser's key is loaded

    def decide(self, history: Sequence[Record], candidate: Record,
               view: StreamView) -> Sequence[FollowUp]:
        try:
            fact = to_fact(candidate)
            protocol = self.protocol(view)
            facts = [to_fact(r) for r in history]
            consequences = streams.decide(facts, fact, candidate.payload_text or "", protocol)
            follow = [FollowUp(c.stream, c.type, c.payload, ACTORS[c.actor], c.reason)
                      for c in [*allocation_follow_ups(facts, fact), *consequences]]
            if fact.type == "randomisation.requested" and protocol is not None:
                if self.randomiser is None:
                    raise Rejection("randomisation.unavailable", "the randomiser is not running",
                                    field="entry.type")
                allocation = [to_fact(r) for r in view.history(ALLOCATION_STREAM)]
                follow = self.randomiser.allocate(allocation, fact, protocol) + follow
            return follow
        except Rejection as exc:
            raise RuleViolation(exc.message, rule=exc.rule, field=exc.field, errors=exc.errors) from exc

    def protocol(self, view: StreamView) -> Protocol | None:
        return protocol_in_force([to_fact(r) for r in view.history(PROTOCOL_STREAM)])
