"""One dispatch table for the trial's streams: which schemas, roles and decider apply.

Replay, the API and projections all go through here, so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from . import participant
from .facts import Fact, Rejection


@dataclass(frozen=True)
class StreamKind:
    prefix: str
    schemas: Mapping[tuple[str, int], type[participant.Payload]]
    roles: Mapping[str, frozenset[str]]  # entry type -> roles that may author it
    initial: Callable[[], Any]
    evolve: Callable[[Any, Fact], Any]
    decide: Callable[[Any, Fact, datetime], None]


INVESTIGATOR = frozenset({"investigator"})

KINDS: tuple[StreamKind, ...] = (
    StreamKind(
        prefix=participant.STREAM_PREFIX,
        schemas=participant.SCHEMAS,
        roles={"participant.registered": INVESTIGATOR, "consent.signed": INVESTIGATOR,
               "consent.withdrawn": INVESTIGATOR},
        initial=participant.initial,
        evolve=participant.evolve,
        decide=participant.decide,
    ),
)


def kind_of(stream: str) -> StreamKind:
    for kind in KINDS:
        if stream.startswith(kind.prefix) and len(stream) > len(kind.prefix):
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


def decide(history: Iterable[Fact], candidate: Fact, payload_json: str) -> None:
    """The whole decision for one entry: type, schema, payload, role, then the stream's rules."""
    kind = kind_of(candidate.stream)
    validate(kind, candidate.type, candidate.schema, payload_json)
    if candidate.role not in kind.roles.get(candidate.type, frozenset()):
        raise Rejection("entry.role_not_allowed",
                        f"role {candidate.role} may not record {candidate.type}", field="entry.role")
    kind.decide(fold(kind, history), candidate, candidate.recorded_at)


def fold(kind: StreamKind, history: Iterable[Fact]) -> Any:
    state = kind.initial()
    for fact in history:
        state = kind.evolve(state, fact)
    return state
