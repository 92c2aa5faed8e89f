"""Consent first (GCP R40): every trial procedure is dated on or after the consent that stands,
and once consent is withdrawn no new trial data is accepted (what was recorded before stays).

Rules, each with a stable id:
- a procedure without standing consent, or dated before the day it was signed, is refused
  (`consent.procedure_before_consent`, naming the procedure's date field);
- new trial data after a withdrawal of consent is refused (`consent.withdrawn_no_new_data`);
  cleaning and review of existing records is not new data and is decided elsewhere.
"""

from __future__ import annotations

from datetime import date

from .facts import Rejection
from .participant import ParticipantState


def standing_consent_on(state: ParticipantState) -> date | None:
    """The date of the consent that stands (the latest signing not followed by a withdrawal),
    or None when none stands or its date is redacted."""
    if state.status != "consented" or not state.consent_history:
        return None
    latest = state.consent_history[-1]
    return latest.on if latest.action == "signed" else None


def check_after_consent(state: ParticipantState, day: date | None, field: str) -> None:
    """Refuse a procedure on `day` (None: undated, order only) unless consent stands and was
    signed on or before `day`."""
    if state.status == "withdrawn":
        raise Rejection("consent.withdrawn_no_new_data", "consent is withdrawn: no new trial data "
                        "is accepted", field="entry.type")
    if state.status != "consented":
        raise Rejection("consent.procedure_before_consent", "no consent is recorded: trial "
                        "procedures follow consent", field="entry.type")
    signed = standing_consent_on(state)
    # A redacted consent keeps its order but not its date: only the order can be checked.
    if day is not None and signed is not None and day < signed:
        raise Rejection("consent.procedure_before_consent", f"{field.split('.')[-1]} {day} is "
                        f"before consent was signed on {signed}", field=field)
