"""Consent first (R40), pure: every procedure is dated on or after the consent that stands, and
no new trial data follows a withdrawal of consent; what was recorded before stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from domain.consent import standing_consent_on
from domain.facts import Fact, Rejection
from tests.domain_stream import P10, ParticipantStream

PARTICIPANT = ParticipantStream(P10)
fact, run, refusal = PARTICIPANT.fact, PARTICIPANT.run, PARTICIPANT.refusal
assessed, infusion = PARTICIPANT.assessed, PARTICIPANT.infusion
SIGNED, BEFORE, ON = "2026-03-05", "2026-03-04", "2026-03-05"


def consent(on: str = SIGNED, form: str = "1.0") -> Fact:
    return PARTICIPANT.consent(on, form)


def withdrawal(on: str = "2026-03-08", form: str = "1.0") -> Fact:
    return fact("consent.withdrawn", {"form_version": form, "withdrawn_on": on})


def visit(on: str) -> Fact:
    return fact("visit.completed", {"visit": "baseline", "on": on})


def lab(on: str, analyte: str = "ALT") -> Fact:
    return fact("lab.resulted", {"visit": "baseline", "analyte": analyte, "value": 30.0,
                                 "unit": "U/L", "sampled_at": f"{on}T08:30:00+00:00"})


def findings(on: str) -> Fact:
    return fact("assessment.recorded", {"visit": "baseline", "ascites": "none",
                                        "encephalopathy_grade": 0, "dialysis": False,
                                        "observed_on": on}, schema=2)


ASSESSMENT = findings("2026-03-06")
REGISTER = PARTICIPANT.registered()
ENROLLED = (REGISTER, consent(), assessed("2026-03-06"), PARTICIPANT.determined())
REQUEST = PARTICIPANT.request()
RANDOMISED = (*ENROLLED, REQUEST, PARTICIPANT.randomised())


def before_consent(rejection: Rejection, field: str) -> None:
    assert (rejection.rule, rejection.field) == ("consent.procedure_before_consent", field)


def test_r40_the_standing_consent_is_the_latest_signing_not_withdrawn() -> None:
    history = (REGISTER, consent(), withdrawal(), consent("2026-03-09", "1.1"))
    assert str(standing_consent_on(PARTICIPANT.state_of(*history[:2]))) == SIGNED
    assert standing_consent_on(PARTICIPANT.state_of(*history[:3])) is None
    assert str(standing_consent_on(PARTICIPANT.state_of(*history))) == "2026-03-09"


def test_r40_eligibility_is_assessed_on_or_after_consent() -> None:
    before_consent(refusal(REGISTER, consent(), assessed(BEFORE)), "payload.assessed_on")
    run(REGISTER, consent(), assessed(ON))
    assert refusal(REGISTER, consent(), withdrawal(), assessed("2026-03-09")).rule == \
        "consent.withdrawn_no_new_data"
    assert refusal(REGISTER, assessed(ON)).rule == "eligibility.no_consent"


def test_r40_randomisation_is_requested_on_or_after_consent() -> None:
    early = fact("randomisation.requested", {}, at=datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    before_consent(refusal(*ENROLLED, early), "entry.recorded_at")
    run(*ENROLLED, REQUEST)
    assert refusal(*ENROLLED, withdrawal(), REQUEST).rule == "randomisation.no_consent"


def test_r40_infusion_starts_on_or_after_consent() -> None:
    before_consent(refusal(*RANDOMISED, infusion(BEFORE)), "payload.started_at")
    run(*RANDOMISED, infusion(ON))
    assert refusal(*RANDOMISED, withdrawal(), infusion("2026-03-09")).rule == "infusion.no_consent"


def test_r40_a_visit_takes_place_on_or_after_consent() -> None:
    before_consent(refusal(REGISTER, consent(), visit(BEFORE)), "payload.on")
    run(REGISTER, consent(), visit(ON))
    assert refusal(REGISTER, consent(), withdrawal(), visit("2026-03-09")).rule == \
        "consent.withdrawn_no_new_data"


def test_r40_a_lab_is_sampled_on_or_after_consent() -> None:
    before_consent(refusal(REGISTER, consent(), lab(BEFORE)), "payload.sampled_at")
    run(REGISTER, consent(), lab(ON))
    assert refusal(REGISTER, consent(), withdrawal(), lab("2026-03-09")).rule == \
        "consent.withdrawn_no_new_data"


def test_r40_clinical_findings_follow_consent() -> None:
    before_consent(refusal(REGISTER, ASSESSMENT), "entry.type")  # no consent at all
    before_consent(refusal(REGISTER, consent(), findings(BEFORE)), "payload.observed_on")
    run(REGISTER, consent(), ASSESSMENT)
    assert refusal(REGISTER, consent(), withdrawal(), ASSESSMENT).rule == \
        "consent.withdrawn_no_new_data"


def test_r40_without_any_consent_no_procedure_is_accepted() -> None:
    before_consent(refusal(REGISTER, lab(ON)), "entry.type")
    before_consent(refusal(REGISTER, visit(ON)), "entry.type")


def test_r40_after_reconsent_the_new_signing_date_counts() -> None:
    history = (REGISTER, consent(), withdrawal(), consent("2026-03-09", "1.1"))
    before_consent(refusal(*history, lab("2026-03-08")), "payload.sampled_at")
    run(*history, lab("2026-03-09"))


def test_r40_data_recorded_before_a_withdrawal_stay_and_can_still_be_cleaned() -> None:
    first = lab(ON)
    history = (REGISTER, consent(), first, withdrawal())
    correction = replace(fact("lab.corrected", {"supersedes": first.record_hash, "value": 31.0,
                                                "unit": "U/L"}), reason="transcription error")
    run(*history, correction)
    state = PARTICIPANT.state_of(*history)
    assert state.labs["baseline/ALT"]["value"] == 30.0
