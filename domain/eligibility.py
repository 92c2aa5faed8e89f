"""Eligibility: the investigator's answers to every criterion, checked against the facts we hold.

Each inclusion criterion is answered True when met, each exclusion criterion True when it applies.
Two answers are not taken on trust (R21): age (inc-1) is derived from the date of birth, consent
(inc-3) from the participant's consent record; an answer that disagrees is refused, not corrected.

Rules decided here (each with a stable rule id):
- every criterion of the protocol is answered (`eligibility.incomplete`), and nothing else
  (`eligibility.unknown_criterion`);
- the age answer agrees with the date of birth (`eligibility.age_mismatch`), which is not after
  the assessment (`eligibility.born_after_assessment`);
- the consent answer agrees with the consent record (`eligibility.consent_mismatch`);
- the assessment names the protocol version in force (`eligibility.protocol_version`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .facts import Rejection
from .protocol import CRITERION_ID, Protocol

AGE = "inc-1"
ESLD = "inc-2"
CONSENT = "inc-3"


class EligibilityAssessed(BaseModel):
    """`eligibility.assessed`, schema 1: one complete assessment against one protocol version."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    protocol_version: Annotated[str, Field(min_length=1, max_length=32)]
    assessed_on: date
    esld_confirmed: bool
    answers: dict[Annotated[str, Field(pattern=CRITERION_ID)], bool]

    @model_validator(mode="after")
    def _esld_agrees(self) -> EligibilityAssessed:
        # the diagnosis is recorded twice on purpose (a field R21 names, and criterion inc-2);
        # two different answers in one assessment cannot both be true
        if ESLD in self.answers and self.answers[ESLD] != self.esld_confirmed:
            raise ValueError(f"esld_confirmed is {self.esld_confirmed} but {ESLD} is "
                             f"answered {self.answers[ESLD]}")
        return self


class Assessment(BaseModel):
    """The outcome: eligible only when every inclusion is met and no exclusion applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    eligible: bool
    failed: list[str]  # criterion ids, in protocol order
    age_years: int


def age_in_years(date_of_birth: date, on: date) -> int:
    """Completed years at `on`.

    Someone born on 29 February completes a year on 1 March in common years (the birthday has
    not come while (month, day) < (2, 29)), so no date is ever built that does not exist.
    """
    before_birthday = (on.month, on.day) < (date_of_birth.month, date_of_birth.day)
    return on.year - date_of_birth.year - int(before_birthday)


def assess(protocol: Protocol, answers: Mapping[str, bool], *, date_of_birth: date,
           consent_signed: bool, on: date) -> Assessment:
    """Check the answers against the protocol and the facts, then say who is eligible."""
    criteria = protocol.eligibility.criteria
    known = [c.id for c in criteria]
    problems = [_problem("eligibility.unknown_criterion", cid, f"{cid} is no criterion of protocol "
                         f"{protocol.version}") for cid in answers if cid not in known]
    problems += [_problem("eligibility.incomplete", cid, f"{cid} is not answered")
                 for cid in known if cid not in answers]
    if problems:
        raise Rejection(problems[0]["rule"], problems[0]["message"], field=problems[0]["field"],
                        errors=problems)
    if date_of_birth > on:
        raise Rejection("eligibility.born_after_assessment",
                        f"date of birth {date_of_birth} is after the assessment on {on}",
                        field="payload.assessed_on")
    age = age_in_years(date_of_birth, on)
    # 18–80 inclusive: eligible from the 18th birthday until the day before the 81st
    of_age = protocol.age_min <= age <= protocol.age_max
    if AGE in answers and answers[AGE] != of_age:
        raise Rejection("eligibility.age_mismatch",
                        f"{AGE} is answered {answers[AGE]}, but the participant is {age} on {on} "
                        f"(protocol: {protocol.age_min}–{protocol.age_max})", field=f"payload.answers.{AGE}")
    if CONSENT in answers and answers[CONSENT] != consent_signed:
        held = "a standing" if consent_signed else "no standing"
        raise Rejection("eligibility.consent_mismatch",
                        f"{CONSENT} is answered {answers[CONSENT]}, but the ledger holds {held} consent",
                        field=f"payload.answers.{CONSENT}")
    met = {c.id: answers[c.id] for c in protocol.eligibility.inclusion}
    applies = {c.id: answers[c.id] for c in protocol.eligibility.exclusion}
    failed = [cid for cid in known if (cid in met and not met[cid]) or applies.get(cid, False)]
    return Assessment(eligible=not failed, failed=failed, age_years=age)


def assess_payload(protocol: Protocol, payload: EligibilityAssessed, *, date_of_birth: date,
                   consent_signed: bool) -> Assessment:
    """`assess` for a recorded assessment: same protocol version, on its own assessment date."""
    if payload.protocol_version != protocol.version:
        raise Rejection("eligibility.protocol_version",
                        f"assessed against protocol {payload.protocol_version}, "
                        f"protocol {protocol.version} is in force", field="payload.protocol_version")
    return assess(protocol, payload.answers, date_of_birth=date_of_birth,
                  consent_signed=consent_signed, on=payload.assessed_on)


def _problem(rule: str, criterion: str, message: str) -> dict[str, Any]:
    return {"rule": rule, "field": f"payload.answers.{criterion}", "message": message}
