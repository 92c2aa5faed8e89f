"""Deaths and liver transplants (R45): the two outcomes that end a participant's follow-up in a
trial of end-stage liver disease, each with its own end state rather than a withdrawal.

- `death.recorded` (investigator): the day, the cause, whether it was liver related, whether
  there was an autopsy, and the adverse event whose outcome is fatal (CTCAE grade 5). The stage
  becomes `died` (DS DEATH).
- `transplant.recorded` (investigator): the day and the graft. The stage becomes `transplanted`
  (DS OTHER, "liver transplantation"): the trial's follow-up ends, safety follow-up goes on.

Rules, each with a stable id:
- a death names an adverse event of this participant whose current outcome is fatal, grade 5
  (`death.fatal_event_required`); only after a withdrawal of consent that agreed to vital status
  alone, where adverse events may not be recorded, may it name none;
- a death is recorded once (`death.recorded_already`);
- nothing is dated after the death (`death.after_death`): not the death before its fatal event's
  onset or before a record already made (a visit, infusion, sample, adverse event, transplant,
  the participant known alive), and after it no adverse event beginning or ending later, no
  vital status and no transplant;
- dates are plausible and not in the future (`date.*`), on or after consent (`consent.*`); after
  a withdrawal of consent a death needs vital-status or safety follow-up, a transplant safety
  follow-up (domain/consent.py).
After a death or a transplant no new trial data is accepted (`participant.exited`); the safety
records (adverse events, vital status, expedited reports) and, after a transplant, the death are.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .consent import DEATH, check_after_consent
from .dates import past_day
from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState, Payload
from .protocol import Protocol

HASH = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
TRANSPLANT = "transplant.recorded"
#: Each end state's CDISC disposition term (DSDECOD) and, for OTHER, its text (DSTERM).
END_STATES: dict[str, tuple[str, str | None]] = {"died": ("DEATH", None),
                                                 "transplanted": ("OTHER", "liver transplantation")}


class DeathRecorded(Payload):
    """`death.recorded`, schema 1 (investigator)."""

    died_on: date
    cause: Annotated[str, Field(min_length=1, max_length=500)]
    liver_related: bool
    autopsy: bool
    event: HASH | None = None  # the adverse event whose outcome is fatal (its report's hash)


class TransplantRecorded(Payload):
    """`transplant.recorded`, schema 1 (investigator)."""

    transplanted_on: date
    graft: Literal["deceased_donor", "living_donor"]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    (DEATH, 1): DeathRecorded,
    (TRANSPLANT, 1): TransplantRecorded,
}
INVESTIGATOR = frozenset({"investigator"})
AE_TYPES = ("adverse_event.reported", "adverse_event.updated", "adverse_event.resolved")


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    """A redacted record still happened (the end state it leaves); what it said is gone."""
    if (fact.type, fact.schema) not in SCHEMAS:
        return state
    p: dict[str, Any] = {} if fact.redacted else dict(fact.payload)
    entry = {**p, "record_hash": fact.record_hash, "at": fact.recorded_text}
    if fact.type == DEATH:
        return state.model_copy(update={"death": entry, "stage": "died"})
    return state.model_copy(update={"transplant": entry, "stage": "transplanted"})


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    """Raise Rejection to refuse `fact` (registration, site and exit are checked already)."""
    p = fact.payload
    if fact.type == TRANSPLANT:
        on = past_day(p["transplanted_on"], now, "payload.transplanted_on")
        check_after_consent(state, on, "payload.transplanted_on", fact.type)
        return []
    died_on = past_day(p["died_on"], now, "payload.died_on")
    if state.death is not None:
        raise Rejection("death.recorded_already", f"the death on {state.death.get('died_on')} is "
                        "recorded already", field="entry.type")
    check_after_consent(state, died_on, "payload.died_on", fact.type)
    _check_fatal_event(state, p.get("event"))
    for what, day in _dated_records(state):
        if day > died_on:
            raise Rejection("death.after_death", f"{what} on {day} is after the death on "
                            f"{died_on}", field="payload.died_on")
    return []


def _check_fatal_event(state: ParticipantState, event_hash: str | None) -> None:
    if event_hash is None:
        # With vital status alone agreed at the withdrawal of consent, the adverse event cannot
        # be recorded: the death stands on the vital-status follow-up.
        if state.status == "withdrawn" and state.follow_up == "vital_status":
            return
        raise Rejection("death.fatal_event_required", "a death names the adverse event whose "
                        "outcome is fatal", field="payload.event")
    event = state.adverse_events.get(event_hash)
    if event is None:
        raise Rejection("death.fatal_event_required", "event names no adverse event of this "
                        "participant", field="payload.event")
    if event["outcome"] != "fatal" or event["grade"] != 5:
        raise Rejection("death.fatal_event_required", f"the adverse event {event['term']!r} is "
                        f"grade {event['grade']}, outcome {event['outcome']}: record its fatal "
                        "outcome (grade 5) first", field="payload.event")


def _dated_records(state: ParticipantState) -> Iterator[tuple[str, date]]:
    """Every day a record already made says the participant was alive (or had an event begin)."""
    for e in state.adverse_events.values():
        yield f"the adverse event {e['term']!r} beginning", date.fromisoformat(e["onset_on"])
    for v in state.visits:
        yield f"visit {v['visit']}", date.fromisoformat(str(v["on"]))
    for i in state.infusions:
        yield "the infusion", datetime.fromisoformat(str(i["started_at"])).date()
    for lab in state.labs.values():
        if lab.get("sampled_at"):
            yield f"the {lab['analyte']} sample", datetime.fromisoformat(lab["sampled_at"]).date()
    if state.transplant is not None and state.transplant.get("transplanted_on"):
        yield "the transplant", date.fromisoformat(state.transplant["transplanted_on"])
    for status in state.vital_status:
        if status.get("known_alive_on"):
            yield "the participant known alive", date.fromisoformat(status["known_alive_on"])
        if status.get("status") == "alive":
            yield "the participant known alive", date.fromisoformat(status["on"])


def check(state: ParticipantState, fact: Fact, now: datetime,
          protocol: Protocol | None) -> list[Consequence]:
    """After a death: no adverse event beginning or ending after it, no vital status, no
    transplant (a record about a participant who has died can only describe what came before)."""
    if state.death is None or fact.redacted or not state.death.get("died_on"):
        return []
    died_on = date.fromisoformat(state.death["died_on"])
    p = fact.payload
    if fact.type in AE_TYPES:
        for name in ("onset_on", "end_on"):
            if p.get(name) and date.fromisoformat(p[name]) > died_on:
                raise Rejection("death.after_death", f"{name} {p[name]} is after the death on "
                                f"{died_on}", field=f"payload.{name}")
    elif fact.type in ("vital_status.recorded", TRANSPLANT):
        raise Rejection("death.after_death", f"the participant died on {died_on}: no "
                        f"{fact.type} follows", field="entry.type")
    return []


PART = Part(
    schemas=SCHEMAS,
    roles={t: INVESTIGATOR for t, _ in SCHEMAS},
    evolve=evolve,
    decide=decide,
    check=check,
    after_exit=frozenset({DEATH}),  # a death after an exit or a transplant is still recorded
)
