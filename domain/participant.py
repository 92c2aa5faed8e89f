"""A participant's stream: registration and consent.

Rules decided here (each with a stable rule id):
- a participant id is registered once (`participant.already_registered`), at the entry's site;
- consent needs a registration first (`consent.before_registration`);
- a form version is signed once while consent stands (`consent.already_signed`);
- withdrawal needs standing consent (`consent.withdrawal_without_consent`);
- re-consent after a withdrawal only on a form version not signed before
  (`consent.reconsent_needs_new_form`).

`consent.withdrawn` schema 2 adds `follow_up`: what the participant still agrees to after the
withdrawal ("none", "vital_status" or "safety", see domain/consent.py); schema 1 reads as "none".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .dates import past_day
from .facts import Fact, Rejection

PARTICIPANT_ID = r"^[A-Z0-9][A-Z0-9-]{1,31}$"
STREAM_PREFIX = "participant/"


class Payload(BaseModel):
    """Base of every payload schema: immutable, no unknown fields, strict JSON types."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class ParticipantRegistered(Payload):
    """`participant.registered`, schema 1: pseudonymous identity and baseline facts."""

    participant_id: Annotated[str, Field(pattern=PARTICIPANT_ID, description="pseudonymous id")]
    site: Annotated[str, Field(min_length=1, max_length=64)]
    sex: Literal["F", "M"]
    date_of_birth: date
    weight_kg: Annotated[float, Field(gt=20, lt=350, description="body weight at registration")]


class ConsentSigned(Payload):
    """`consent.signed`, schema 1."""

    form_version: Annotated[str, Field(min_length=1, max_length=32)]
    signed_on: date


class ConsentWithdrawn(Payload):
    """`consent.withdrawn`, schema 1."""

    form_version: Annotated[str, Field(min_length=1, max_length=32)]
    withdrawn_on: date


FollowUp = Literal["none", "vital_status", "safety"]


class ConsentWithdrawnFollowUp(ConsentWithdrawn):
    """`consent.withdrawn`, schema 2: with the follow-up the participant agreed to."""

    follow_up: FollowUp


class ConsentEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Literal["signed", "withdrawn"]
    form_version: str | None  # None once redacted
    on: date | None
    author: str
    recorded_at: datetime
    record_hash: str | None = None


class ParticipantState(BaseModel):
    """Everything the rules need to know about one participant, folded from the stream."""

    model_config = ConfigDict(frozen=True)

    participant_id: str | None = None
    site: str | None = None
    sex: str | None = None
    date_of_birth: date | None = None
    weight_kg: float | None = None
    registered_at: datetime | None = None
    status: Literal["new", "registered", "consented", "withdrawn"] = "new"  # consent
    consent_form: str | None = None
    consent_history: tuple[ConsentEvent, ...] = ()
    # Where the participant stands in the trial (see domain/treatment.py).
    stage: Literal["registered", "screen_failed", "eligible", "randomisation_requested", "randomised",
                   "treated", "withdrawn", "lost_to_follow_up", "completed", "died",
                   "transplanted"] = "registered"
    eligible: bool | None = None
    failed_criteria: tuple[str, ...] = ()
    assessed_on: date | None = None
    stratum: str | None = None
    slot: int | None = None
    arm: str | None = None
    infusions: tuple[dict[str, object], ...] = ()
    deviations: tuple[dict[str, object], ...] = ()
    unblindings: tuple[dict[str, object], ...] = ()
    visits: tuple[dict[str, object], ...] = ()
    labs: dict[str, dict[str, Any]] = {}  # "visit/analyte" -> current value and its history
    queries: dict[str, dict[str, Any]] = {}  # query record hash -> query
    record_hashes: tuple[str, ...] = ()
    sdv: dict[str, dict[str, Any]] = {}  # "visit/form" -> level, by, at
    locks: tuple[str, ...] = ()
    unlocked: tuple[str, ...] = ()  # scopes released at least once
    post_lock: tuple[str, ...] = ()  # records changed after an unlock
    signoffs: tuple[dict[str, Any], ...] = ()
    edit_checks: dict[str, dict[str, Any]] = {}  # refusal record hash -> what was refused (R9)
    assessments: dict[str, dict[str, Any]] = {}  # visit -> clinical findings
    # What the participant agreed to at the withdrawal of consent (domain/disposition.py):
    # "none", "vital_status" or "safety"; None while consent was never withdrawn.
    follow_up: Literal["none", "vital_status", "safety"] | None = None
    vital_status: tuple[dict[str, Any], ...] = ()
    treatment_discontinued: dict[str, Any] | None = None  # coded reason, date (domain/disposition.py)
    disposition: dict[str, Any] | None = None  # the study exit: kind, coded reason, date
    medical_history: dict[str, Any] | None = None  # aetiology, conditions (domain/history.py)
    medications: dict[str, dict[str, Any]] = {}  # record hash -> medication (domain/history.py)
    reported_deviations: dict[str, dict[str, Any]] = {}  # record hash -> deviation (deviations.py)
    missed_visits: tuple[dict[str, Any], ...] = ()  # visit, reason (domain/deviations.py)
    death: dict[str, Any] | None = None  # date, cause, the fatal event (domain/outcomes.py)
    transplant: dict[str, Any] | None = None  # liver transplantation (domain/outcomes.py)
    safety_reports: tuple[dict[str, Any], ...] = ()  # expedited reports (domain/safety.py)
    adverse_events: dict[str, dict[str, Any]] = {}  # record hash -> adverse event (adverse_events.py)

    @property
    def schedule_origin(self) -> datetime | None:
        """Day 0 of the follow-up schedule: the first infusion's start; for a participant whose
        treatment was discontinued before any infusion, the day it was (midnight UTC), so that
        they stay in follow-up (ITT) on the schedule they would have had. None before either."""
        if self.infusions:
            return datetime.fromisoformat(str(self.infusions[0]["started_at"]))
        if self.treatment_discontinued is not None and self.treatment_discontinued.get("on"):
            day = date.fromisoformat(str(self.treatment_discontinued["on"]))
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        return None

    @property
    def forms_signed(self) -> frozenset[str]:
        return frozenset(e.form_version for e in self.consent_history
                         if e.action == "signed" and e.form_version is not None)


SCHEMAS: dict[tuple[str, int], type[Payload]] = {
    ("participant.registered", 1): ParticipantRegistered,
    ("consent.signed", 1): ConsentSigned,
    ("consent.withdrawn", 1): ConsentWithdrawn,
    ("consent.withdrawn", 2): ConsentWithdrawnFollowUp,
}


def participant_id_of(stream: str) -> str:
    return stream.removeprefix(STREAM_PREFIX)


def initial() -> ParticipantState:
    return ParticipantState()


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    """Fold one accepted fact into the state (no checks: facts are accepted already)."""
    if fact.redacted:
        return _evolve_redacted(state, fact)
    p = fact.payload
    if fact.type == "participant.registered":
        return state.model_copy(update={
            "participant_id": p["participant_id"], "site": p["site"], "sex": p["sex"],
            "date_of_birth": date.fromisoformat(p["date_of_birth"]),
            "weight_kg": float(p["weight_kg"]), "registered_at": fact.recorded_at,
            "status": "registered",
        })
    if fact.type in ("consent.signed", "consent.withdrawn"):
        signed = fact.type == "consent.signed"
        event = ConsentEvent(
            action="signed" if signed else "withdrawn", form_version=p["form_version"],
            on=date.fromisoformat(p["signed_on" if signed else "withdrawn_on"]),
            author=fact.author, recorded_at=fact.recorded_at, record_hash=fact.record_hash,
        )
        return state.model_copy(update={
            "status": "consented" if signed else "withdrawn",
            "consent_form": p["form_version"] if signed else None,
            "consent_history": (*state.consent_history, event),
            # a re-consent clears what the withdrawal agreed to; schema 1 agreed to nothing
            "follow_up": None if signed else p.get("follow_up", "none"),
        })
    return state


def _evolve_redacted(state: ParticipantState, fact: Fact) -> ParticipantState:
    """A redacted fact still happened (who, when); what it said is gone."""
    if fact.type == "participant.registered":
        return state.model_copy(update={"participant_id": participant_id_of(fact.stream),
                                        "site": fact.site, "registered_at": fact.recorded_at,
                                        "status": "registered"})
    if fact.type in ("consent.signed", "consent.withdrawn"):
        signed = fact.type == "consent.signed"
        event = ConsentEvent(action="signed" if signed else "withdrawn", form_version=None, on=None,
                             author=fact.author, recorded_at=fact.recorded_at,
                             record_hash=fact.record_hash)
        # what a redacted withdrawal agreed to is gone: the narrowest reading, nothing
        return state.model_copy(update={"status": "consented" if signed else "withdrawn",
                                        "consent_form": None,
                                        "consent_history": (*state.consent_history, event),
                                        "follow_up": None if signed else "none"})
    return state


def decide(state: ParticipantState, fact: Fact, now: datetime) -> None:
    """Raise Rejection if `fact` may not follow `state`; `now` is the record time."""
    p = fact.payload
    if state.site is not None and fact.site != state.site:
        raise Rejection("participant.other_site",
                        f"participant belongs to site {state.site}, entry is from {fact.site}",
                        field="entry.site")
    if fact.type == "participant.registered":
        _decide_registration(state, fact, now)
    elif state.status == "new":
        raise Rejection("consent.before_registration",
                        "the participant must be registered before consent is recorded",
                        field="entry.stream")
    elif fact.type == "consent.signed":
        signed_on = date.fromisoformat(p["signed_on"])
        past_day(signed_on, now, "payload.signed_on")
        if state.status == "consented" and p["form_version"] == state.consent_form:
            raise Rejection("consent.already_signed",
                            f"consent on form {state.consent_form} stands already",
                            field="payload.form_version")
        if state.status == "withdrawn" and p["form_version"] in state.forms_signed:
            raise Rejection("consent.reconsent_needs_new_form",
                            f"after withdrawal, consent needs a form version other than "
                            f"{', '.join(sorted(state.forms_signed))}", field="payload.form_version")
    elif fact.type == "consent.withdrawn":
        if state.status != "consented":
            raise Rejection("consent.withdrawal_without_consent",
                            "there is no standing consent to withdraw", field="entry.type")
        if p["form_version"] != state.consent_form:
            raise Rejection("consent.withdrawal_wrong_form",
                            f"standing consent is on form {state.consent_form}",
                            field="payload.form_version")
        past_day(date.fromisoformat(p["withdrawn_on"]), now, "payload.withdrawn_on")


def _decide_registration(state: ParticipantState, fact: Fact, now: datetime) -> None:
    p = fact.payload
    if state.status != "new":
        raise Rejection("participant.already_registered",
                        f"participant {state.participant_id} is registered already",
                        field="payload.participant_id")
    if STREAM_PREFIX + p["participant_id"] != fact.stream:
        raise Rejection("participant.stream_mismatch",
                        f"participant {p['participant_id']} belongs in stream "
                        f"{STREAM_PREFIX}{p['participant_id']}", field="payload.participant_id")
    if p["site"] != fact.site:
        raise Rejection("participant.site_mismatch",
                        f"registered at site {p['site']} by a user of site {fact.site}",
                        field="payload.site")
    past_day(date.fromisoformat(p["date_of_birth"]), now, "payload.date_of_birth")

