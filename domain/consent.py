"""Consent first (GCP R40): every trial procedure is dated on or after the consent that stands,
and once consent is withdrawn no new trial data is accepted (what was recorded before stays),
but for the follow-up the participant agreed to at withdrawal.

Rules, each with a stable id:
- a procedure without standing consent, or dated before the day it was signed, is refused
  (`consent.procedure_before_consent`, naming the procedure's date field);
- new trial data after a withdrawal of consent is refused (`consent.withdrawn_no_new_data`);
  cleaning and review of existing records is not new data and is decided elsewhere;
- a follow-up record (vital status, the safety records) after a withdrawal of consent is
  accepted only where the withdrawal's `follow_up` agreed to its kind
  (`consent.follow_up_not_agreed`).
"""

from __future__ import annotations

from datetime import date

from .facts import Rejection
from .participant import ParticipantState

VITAL_STATUS = "vital_status.recorded"
DEATH = "death.recorded"
#: The safety records a participant may agree to at withdrawal (`follow_up` "safety"): vital
#: status, the adverse events (domain/adverse_events.py), the death and the liver transplant
#: (domain/outcomes.py). An expedited safety report (domain/safety.py) is not among them: it is
#: the sponsor's duty, not new trial data, and is never asked about consent.
SAFETY_TYPES: frozenset[str] = frozenset({VITAL_STATUS, "adverse_event.reported",
                                          "adverse_event.updated", "adverse_event.resolved",
                                          DEATH, "transplant.recorded"})
#: What each `follow_up` of `consent.withdrawn` lets be recorded after the withdrawal: a death is
#: the vital status's last word, so agreeing to vital status agrees to it.
AGREED: dict[str, frozenset[str]] = {"none": frozenset(),
                                     "vital_status": frozenset({VITAL_STATUS, DEATH}),
                                     "safety": SAFETY_TYPES | {VITAL_STATUS}}
#: Every kind of record a withdrawal may agree to.
FOLLOW_UP_TYPES: frozenset[str] = AGREED["safety"]


def standing_consent_on(state: ParticipantState) -> date | None:
    """The date of the consent that stands (the latest signing not followed by a withdrawal),
    or None when none stands or its date is redacted."""
    if state.status != "consented" or not state.consent_history:
        return None
    latest = state.consent_history[-1]
    return latest.on if latest.action == "signed" else None


def last_signed_on(state: ParticipantState) -> date | None:
    """The date of the latest signing, standing or withdrawn since (None: never, or redacted)."""
    signed = [e for e in state.consent_history if e.action == "signed"]
    return signed[-1].on if signed else None


def agreed_follow_up(state: ParticipantState) -> frozenset[str]:
    """The kinds of record the participant agreed to at the withdrawal of consent."""
    return AGREED.get(state.follow_up or "none", frozenset())


def check_after_consent(state: ParticipantState, day: date | None, field: str,
                        kind: str | None = None) -> None:
    """Refuse a procedure on `day` (None: undated, order only) unless consent stands and was
    signed on or before `day`. A record of `kind` (its entry type) in `FOLLOW_UP_TYPES` is also
    accepted after a withdrawal of consent that agreed to it, dated on or after the signing."""
    if state.status == "withdrawn":
        if kind not in FOLLOW_UP_TYPES:
            raise Rejection("consent.withdrawn_no_new_data", "consent is withdrawn: no new trial "
                            "data is accepted", field="entry.type")
        if kind not in agreed_follow_up(state):
            raise Rejection("consent.follow_up_not_agreed", f"consent is withdrawn with follow-up "
                            f"{state.follow_up or 'none'}: {kind} was not agreed to",
                            field="entry.type")
        _not_before(day, last_signed_on(state), field)
        return
    if state.status != "consented":
        raise Rejection("consent.procedure_before_consent", "no consent is recorded: trial "
                        "procedures follow consent", field="entry.type")
    # A redacted consent keeps its order but not its date: only the order can be checked.
    _not_before(day, standing_consent_on(state), field)


def check_consent_given(state: ParticipantState, day: date, field: str) -> None:
    """A record of the participant's course in the trial (discontinuation, exit) may follow a
    withdrawal of consent, but never precedes the latest consent (or stands without one)."""
    if state.status not in ("consented", "withdrawn"):
        raise Rejection("consent.procedure_before_consent", "no consent is recorded: the "
                        "participant's course in the trial follows consent", field="entry.type")
    _not_before(day, last_signed_on(state), field)


def _not_before(day: date | None, signed: date | None, field: str) -> None:
    if day is not None and signed is not None and day < signed:
        raise Rejection("consent.procedure_before_consent", f"{field.split('.')[-1]} {day} is "
                        f"before consent was signed on {signed}", field=field)
