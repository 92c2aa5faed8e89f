"""One dispatch table for the trial's streams: which schemas, roles and decider apply.

Replay, the API and projections all go through here, so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from . import (
    access,
    adverse_events,
    baseline,
    clock,
    deviations,
    disposition,
    exports,
    history,
    labs,
    outcomes,
    participant,
    review,
    safety,
    settings,
    treatment,
    trial,
    unblinding,
    visit_scores,
)
from .facts import Consequence, Fact, Rejection
from .part import Part
from .protocol import Protocol


@dataclass(frozen=True)
class StreamKind:
    name: str  # a stream name, or a prefix ending in "/"
    schemas: Mapping[tuple[str, int], type[BaseModel]]
    roles: Mapping[str, frozenset[str]]  # entry type -> roles that may author it
    initial: Callable[[], Any]
    evolve: Callable[[Any, Fact], Any]
    decide: Callable[[Any, Fact, datetime, Protocol | None], list[Consequence]]
    # `evolve` over a whole history at once, where that is cheaper than one fact at a time.
    evolve_all: Callable[[Any, Sequence[Fact]], Any] | None = None

    def holds(self, stream: str) -> bool:
        if self.name.endswith("/"):
            return stream.startswith(self.name) and len(stream) > len(self.name)
        return stream == self.name


REVIEWERS = frozenset({"data_manager", "monitor"})
DATA_MANAGER = frozenset({"data_manager"})
LAB_SOURCES = frozenset({"investigator", "lab_interface"})  # a lab's machine interface may report
INVESTIGATOR, RANDOMISER, SYSTEM, ADMIN = (frozenset({"investigator"}), frozenset({"randomiser"}),
                                           frozenset({"system"}), frozenset({"admin"}))


#: The parts of the participant's stream that live in their own modules (domain/part.py).
PARTS: tuple[Part, ...] = (disposition.PART, history.PART, deviations.PART, adverse_events.PART,
                          outcomes.PART, safety.PART, baseline.PART)
#: Every type still accepted once the participant has left the trial.
AFTER_EXIT = treatment.AFTER_EXIT.union(*(p.after_exit for p in PARTS))


def evolve_participant(state: participant.ParticipantState, fact: Fact) -> participant.ParticipantState:
    state = participant.evolve(state, fact)
    state = treatment.evolve(state, fact)
    state = labs.evolve(unblinding.evolve(state, fact), fact)
    state = review.evolve(visit_scores.evolve(state, fact), fact)
    for part in PARTS:
        state = part.evolve(state, fact)
    return state


def evolve_participant_all(state: participant.ParticipantState,
                           facts: Sequence[Fact]) -> participant.ParticipantState:
    """`evolve_participant` over `facts` in order, with each run of plain lab results folded in
    one step (`labs.add_results`) while a data change marks nothing for review: the same state,
    without a copy of the lab map and the record hashes per result."""
    run: list[Fact] = []
    for fact in facts:
        # (results change neither unlocks nor sign-offs: the state is asked once per run)
        if labs.is_plain_result(fact) and (run or review.leaves_data_changes_unmarked(state)):
            run.append(fact)
            continue
        if run:
            state, run = labs.add_results(state, run), []
        state = evolve_participant(state, fact)
    return labs.add_results(state, run) if run else state


def _decide_participant(state: participant.ParticipantState, fact: Fact, now: datetime,
                        protocol: Protocol | None) -> list[Consequence]:
    review.check_lock(state, fact)
    follow = _decide_own(state, fact, now, protocol)
    for part in PARTS:  # rules the parts add to every entry (after its own rules accepted it)
        follow += part.check(state, fact, now, protocol)
    return follow


def _decide_own(state: participant.ParticipantState, fact: Fact, now: datetime,
                protocol: Protocol | None) -> list[Consequence]:
    if (fact.type, fact.schema) in participant.SCHEMAS:
        participant.decide(state, fact, now)
        return []
    if (fact.type, fact.schema) in visit_scores.SCHEMAS:
        treatment.decide_common(state, fact, AFTER_EXIT)
        visit_scores.decide(state, fact)
        return []
    if (fact.type, fact.schema) in review.SCHEMAS:
        treatment.decide_common(state, fact, AFTER_EXIT)
        review.decide(state, fact, now)
        return []
    if (fact.type, fact.schema) in labs.SCHEMAS:
        treatment.decide_common(state, fact, AFTER_EXIT)
        return labs.decide(state, fact, now, protocol)
    if (fact.type, fact.schema) in unblinding.SCHEMAS:
        treatment.decide_common(state, fact, AFTER_EXIT)
        return unblinding.decide(state, fact, now)
    for part in PARTS:
        if part.owns(fact):
            treatment.decide_common(state, fact, AFTER_EXIT)
            return part.decide(state, fact, now, protocol)
    return treatment.decide(state, fact, now, protocol)


def _keep(history: list[Fact], fact: Fact) -> list[Fact]:
    return [*history, fact]


KINDS: tuple[StreamKind, ...] = (
    StreamKind(
        name=participant.STREAM_PREFIX,
        schemas={**participant.SCHEMAS, **treatment.SCHEMAS, **unblinding.SCHEMAS, **labs.SCHEMAS,
                 **review.SCHEMAS, **visit_scores.SCHEMAS,
                 **{k: v for part in PARTS for k, v in part.schemas.items()}},
        roles={"participant.registered": INVESTIGATOR, "consent.signed": INVESTIGATOR,
               "consent.withdrawn": INVESTIGATOR, "eligibility.assessed": INVESTIGATOR,
               "eligibility.determined": SYSTEM, "randomisation.requested": INVESTIGATOR,
               "participant.randomised": RANDOMISER, "infusion.administered": INVESTIGATOR,
               "deviation.recorded": SYSTEM,
               "randomisation.invalidated": INVESTIGATOR, "visit.completed": INVESTIGATOR,
               "unblinding.requested": INVESTIGATOR,
               "participant.unblinded": RANDOMISER, "lab.resulted": LAB_SOURCES,
               "lab.corrected": INVESTIGATOR, "lab.removed": INVESTIGATOR,
               "query.opened": REVIEWERS | SYSTEM, "edit_check.failed": SYSTEM,
               "query.answered": INVESTIGATOR, "query.closed": REVIEWERS,
               "sdv.recorded": frozenset({"monitor"}), "lock.applied": DATA_MANAGER,
               "lock.released": DATA_MANAGER, "signoff.signed": INVESTIGATOR,
               "assessment.recorded": INVESTIGATOR,
               **{t: r for part in PARTS for t, r in part.roles.items()}},
        initial=participant.initial,
        evolve=evolve_participant,
        decide=_decide_participant,
        evolve_all=evolve_participant_all,
    ),
    StreamKind(name=trial.PROTOCOL_STREAM, schemas=trial.PROTOCOL_SCHEMAS,
               roles={"protocol.adopted": ADMIN, "protocol.amended": ADMIN},
               initial=list, evolve=_keep, decide=trial.decide_protocol),
    StreamKind(name=exports.STREAM, schemas=exports.SCHEMAS, roles=exports.ROLES,
               initial=list, evolve=_keep, decide=exports.decide),
    StreamKind(name=clock.STREAM, schemas=clock.SCHEMAS, roles=clock.ROLES,
               initial=list, evolve=_keep, decide=clock.decide),
    StreamKind(name=settings.STREAM, schemas=settings.SCHEMAS, roles=settings.ROLES,
               initial=list, evolve=_keep, decide=settings.decide),
    StreamKind(name=access.STREAM_PREFIX, schemas=access.SCHEMAS, roles=access.ROLES,
               initial=access.initial, evolve=access.evolve, decide=access.decide),
    StreamKind(name=trial.ALLOCATION_STREAM, schemas=trial.ALLOCATION_SCHEMAS,
               roles={t: RANDOMISER for t, _ in trial.ALLOCATION_SCHEMAS},
               initial=list, evolve=_keep, decide=trial.decide_allocation),
)


def kind_of(stream: str) -> StreamKind:
    for kind in KINDS:
        if kind.holds(stream):
            return kind
    raise Rejection("stream.unknown", f"no trial stream is called {stream}", field="entry.stream")


def validate(kind: StreamKind, type_: str, schema: int, payload_json: str) -> None:
    """Check the entry type, its schema version and the payload against the schema."""
    if not any(t == type_ for t, _ in kind.schemas):
        raise Rejection("entry.unknown_type", f"{type_} is not an entry type of this stream",
                        field="entry.type")
    model = kind.schemas.get((type_, schema))
    if model is None:
        raise Rejection("entry.unknown_schema", f"{type_} has no schema version {schema}",
                        field="entry.schema")
    try:
        model.model_validate_json(payload_json)
    except ValidationError as exc:
        errors = [{"field": "payload." + ".".join(str(x) for x in e["loc"]), "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        first = errors[0] if errors else {"field": "payload", "message": "invalid"}
        raise Rejection("payload.invalid", f"{first['field']}: {first['message']}",
                        field=first["field"], errors=errors) from None


def decide(history: Iterable[Fact], candidate: Fact, payload_json: str,
           protocol: Protocol | None = None) -> list[Consequence]:
    """The whole decision for one entry: type, schema, payload, role, then the stream's rules."""
    return decide_from(fold(kind_of(candidate.stream), history), candidate, payload_json, protocol)


def decide_from(state: Any, candidate: Fact, payload_json: str,
                protocol: Protocol | None = None) -> list[Consequence]:
    """`decide`, given the stream's state as `fold` makes it from the history."""
    kind = kind_of(candidate.stream)
    validate(kind, candidate.type, candidate.schema, payload_json)
    if candidate.role not in kind.roles.get(candidate.type, frozenset()):
        raise Rejection("entry.role_not_allowed",
                        f"role {candidate.role} may not record {candidate.type}", field="entry.role")
    return kind.decide(state, candidate, candidate.recorded_at, protocol)


def fold(kind: StreamKind, history: Iterable[Fact]) -> Any:
    state = kind.initial()
    if kind.evolve_all is not None:
        return kind.evolve_all(state, list(history))
    for fact in history:
        state = kind.evolve(state, fact)
    return state
