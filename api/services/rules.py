"""The trial's rules, handed to the ledger as its decider (the ledger never imports domain).

They keep a state per participant and access stream (`ledger.contract.StateRules`): the ledger
hands them the state folded so far instead of the history, and stores it as JSON
(api/services/state_codec.py). Streams whose state is their list of facts (protocol,
allocation, exports, clock, settings) are handed their history as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import domain
from api.services import state_codec
from api.services.randomiser import Randomiser
from domain import streams
from domain.access import AccessState
from domain.allocation import retire_slot
from domain.facts import Rejection
from domain.participant import ConsentEvent, ParticipantState
from domain.protocol import Protocol
from domain.trial import ALLOCATION_STREAM, PROTOCOL_STREAM, protocol_in_force
from ledger.entry import Record
from ledger.errors import RuleViolation
from ledger.ledger import FollowUp, StreamView
from projections import facts as facts_module
from projections.facts import to_fact

#: Which system actor (author id) writes the records each domain role asks for.
ACTORS = {"randomiser": "randomiser", "system": "system"}

#: The classes a stored state may hold, by name (nothing else is ever built from one).
STATE_CLASSES: dict[str, type] = {"ParticipantState": ParticipantState, "ConsentEvent": ConsentEvent,
                                  "AccessState": AccessState}
#: The stream kinds decided from a kept state: theirs is not simply their list of facts.
KEPT_KINDS = frozenset(kind.name for kind in streams.KINDS if kind.initial is not list)


def _state_format() -> str:
    """A digest of the code that makes a state (the domain's folds, the fact adapter, the codec,
    these rules): a state stored by other code is not used, so a changed fold never meets an
    old state."""
    sources = sorted(Path(domain.__file__).parent.rglob("*.py"))
    sources += [Path(facts_module.__file__), Path(state_codec.__file__), Path(__file__)]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(path.parents[1])).encode() + b"\0" + path.read_bytes() + b"\0")
    return "trial-state-1:" + digest.hexdigest()[:32]


class TrialRules:
    state_format = _state_format()

    def __init__(self) -> None:
        self.randomiser: Randomiser | None = None  # set when the randomiser's key is loaded
        # The protocol in force and the protocol stream it was read from (hashes, redactions).
        self._protocol: tuple[tuple[tuple[str, str | None], ...], Protocol | None] | None = None
        self._initials: dict[str, object] = {}  # stream kind -> its new streams' state

    def decide(self, history: Sequence[Record], candidate: Record,
               view: StreamView) -> Sequence[FollowUp]:
        try:
            kind = streams.kind_of(candidate.stream)
        except Rejection as exc:
            raise _violation(exc) from exc
        state = streams.fold(kind, [to_fact(r) for r in history])
        return self._decide(state, candidate, view)[0]

    # -- StateRules ------------------------------------------------------------------------
    def keeps_state(self, stream: str) -> bool:
        return any(kind.holds(stream) for kind in streams.KINDS if kind.name in KEPT_KINDS)

    def fold(self, stream: str, history: Sequence[Record]) -> Any:
        kind = streams.kind_of(stream)
        if not history and kind.name in KEPT_KINDS:
            return self._initial(kind)
        return streams.fold(kind, [to_fact(r) for r in history])

    def _initial(self, kind: streams.StreamKind) -> object:
        """A new stream's state, made once per kind and shared: a kept state is never changed
        (`decide_on` evolves a copy; `StateRules` says so), and making one validates every
        default of the model again, a cost each new participant would pay (P2's batches)."""
        state = self._initials.get(kind.name)
        if state is None:
            state = self._initials[kind.name] = streams.fold(kind, ())
        return state

    def decide_on(self, state: object, candidate: Record,
                  view: StreamView) -> tuple[Sequence[FollowUp], object]:
        return self._decide(state, candidate, view, evolve=True)

    def dump_state(self, state: object) -> bytes:
        return state_codec.dumps(state, STATE_CLASSES)

    def load_state(self, stream: str, data: bytes) -> object:
        state = state_codec.loads(data, STATE_CLASSES)
        if type(state) is not type(streams.kind_of(stream).initial()):
            raise ValueError(f"not a state of stream {stream}")
        return state

    # -------------------------------------------------------------------------------------
    def _decide(self, state: Any, candidate: Record, view: StreamView,
                evolve: bool = False) -> tuple[list[FollowUp], object]:
        try:
            fact = to_fact(candidate)
            protocol = self.protocol(view)
            consequences = streams.decide_from(state, fact, candidate.payload_text or "", protocol)
            if fact.type == "randomisation.invalidated":  # the slot held before it is retired
                consequences = [retire_slot(state, fact), *consequences]
            follow = [FollowUp(c.stream, c.type, c.payload, ACTORS[c.actor], c.reason)
                      for c in consequences]
            if fact.type == "randomisation.requested" and protocol is not None:
                if self.randomiser is None:
                    raise Rejection("randomisation.unavailable", "the randomiser is not running",
                                    field="entry.type")
                allocation = [to_fact(r) for r in view.history(ALLOCATION_STREAM)]
                follow = self.randomiser.allocate(allocation, fact, protocol) + follow
            return follow, (streams.kind_of(fact.stream).evolve(state, fact) if evolve else state)
        except Rejection as exc:
            raise _violation(exc) from exc

    def protocol(self, view: StreamView) -> Protocol | None:
        """The protocol in force, parsed again only when its stream has changed."""
        history = view.history(PROTOCOL_STREAM)
        key = tuple((r.hash, r.redacted_by) for r in history)
        cached = self._protocol
        if cached is not None and cached[0] == key:
            return cached[1]
        protocol = protocol_in_force([to_fact(r) for r in history])
        self._protocol = (key, protocol)
        return protocol


def _violation(exc: Rejection) -> RuleViolation:
    return RuleViolation(exc.message, rule=exc.rule, field=exc.field, errors=exc.errors)
