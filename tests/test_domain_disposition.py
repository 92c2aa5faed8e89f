"""Consent withdrawal follow-up (R41) and the coded discontinuation and exit, pure: what a
withdrawal of consent still lets be recorded, the DS reasons, and each rule's refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.consent import SAFETY_TYPES
from domain.disposition import CDISC_TERMS, REASONS
from domain.facts import Fact
from tests.domain_stream import P10, ParticipantStream

PARTICIPANT = ParticipantStream(P10)
fact, run, refusal, rule = PARTICIPANT.fact, PARTICIPANT.run, PARTICIPANT.refusal, PARTICIPANT.rule
ENROLLED = PARTICIPANT.enrolled(signed_on="2026-03-01", assessed_on="2026-03-02")
REGISTER, CONSENT = ENROLLED[:2]
RANDOMISED = (*ENROLLED, PARTICIPANT.request(), PARTICIPANT.randomised())
INFUSION = PARTICIPANT.infusion("2026-03-03")


def withdrawal_of_consent(follow_up: str | None, on: str = "2026-03-05") -> Fact:
    payload = {"form_version": "1.0", "withdrawn_on": on}
    if follow_up is None:  # schema 1: before the follow-up was asked
        return fact("consent.withdrawn", payload)
    return fact("consent.withdrawn", {**payload, "follow_up": follow_up}, schema=2)


def vital(status: str = "alive", on: str = "2026-03-08", known_alive_on: str | None = None) -> Fact:
    payload = {"status": status, "on": on}
    return fact("vital_status.recorded",
                payload if known_alive_on is None else {**payload, "known_alive_on": known_alive_on})


def discontinued(reason: str = "adverse_event", on: str = "2026-03-04", **more: str) -> Fact:
    return fact("treatment.discontinued", {"on": on, "reason": reason, **more})


def withdrawn(reason: str = "withdrawal_by_subject", on: str = "2026-03-06", **more: str) -> Fact:
    return fact("participant.withdrawn", {"on": on, "reason": reason, **more}, schema=2)


def lost(on: str = "2026-03-04", attempts: int = 3, last_attempt_on: str = "2026-03-09") -> Fact:
    return fact("participant.lost_to_follow_up", {"on": on, "attempts": attempts,
                                                  "last_attempt_on": last_attempt_on}, schema=2)


def lab(on: str = "2026-03-07") -> Fact:
    return fact("lab.resulted", {"visit": "baseline", "analyte": "ALT", "value": 30.0,
                                 "unit": "U/L", "sampled_at": f"{on}T08:30:00+00:00"})


# -- R41: what a withdrawal of consent still lets be recorded ------------------------------------

def test_r41_a_withdrawal_that_agreed_to_nothing_refuses_vital_status() -> None:
    for withdrawal in (withdrawal_of_consent("none"), withdrawal_of_consent(None)):  # schema 1 reads none
        assert rule(*RANDOMISED, withdrawal, vital()) == ("consent.follow_up_not_agreed", "entry.type")
        assert run(*RANDOMISED, withdrawal).follow_up == "none"


def test_r41_a_withdrawal_agreeing_to_vital_status_accepts_it_and_nothing_else_new() -> None:
    state = run(*RANDOMISED, withdrawal_of_consent("vital_status"), vital("dead", "2026-03-09",
                                                                         "2026-03-07"))
    assert state.follow_up == "vital_status"
    assert [(v["status"], v["known_alive_on"]) for v in state.vital_status] == [("dead", "2026-03-07")]
    assert rule(*RANDOMISED, withdrawal_of_consent("vital_status"), lab()) == \
        ("consent.withdrawn_no_new_data", "entry.type")


def test_r41_a_withdrawal_agreeing_to_safety_accepts_every_safety_record() -> None:
    assert "vital_status.recorded" in SAFETY_TYPES
    state = run(*RANDOMISED, withdrawal_of_consent("safety"), vital())
    assert state.follow_up == "safety" and len(state.vital_status) == 1
    assert rule(*RANDOMISED, withdrawal_of_consent("safety"), lab()) == \
        ("consent.withdrawn_no_new_data", "entry.type")


def test_r41_follow_up_after_withdrawal_is_not_dated_before_the_consent() -> None:
    assert rule(*RANDOMISED, withdrawal_of_consent("safety"), vital(on="2026-02-27")) == \
        ("consent.procedure_before_consent", "payload.on")


def test_r41_data_recorded_before_the_withdrawal_stays_in_the_state() -> None:
    before = (*RANDOMISED, INFUSION, lab("2026-03-04"), vital(on="2026-03-04"))
    state = run(*before, withdrawal_of_consent("none"))
    assert state.status == "withdrawn" and len(state.infusions) == 1
    assert state.labs["baseline/ALT"]["value"] == 30.0 and len(state.vital_status) == 1


def test_r41_a_reconsent_clears_the_follow_up_and_data_are_accepted_again() -> None:
    reconsent = fact("consent.signed", {"form_version": "1.1", "signed_on": "2026-03-06"})
    state = run(*RANDOMISED, withdrawal_of_consent("none"), reconsent, lab(), vital())
    assert state.follow_up is None and state.status == "consented"


def test_r41_the_withdrawal_of_consent_still_lets_the_participant_withdraw_from_the_study() -> None:
    state = run(*RANDOMISED, withdrawal_of_consent("vital_status"), withdrawn(), vital())
    assert state.stage == "withdrawn" and state.disposition is not None
    assert state.disposition["reason"] == "withdrawal_by_subject"


def test_r41_the_follow_up_choice_is_one_of_three() -> None:
    caught = refusal(*RANDOMISED, withdrawal_of_consent("everything"))
    assert (caught.rule, caught.field) == ("payload.invalid", "payload.follow_up")


# -- discontinuation of treatment ---------------------------------------------------------------

def test_a_discontinued_participant_stays_in_follow_up_without_an_infusion() -> None:
    state = run(*RANDOMISED, discontinued(), lab("2026-03-05"),
                fact("visit.completed", {"visit": "baseline", "on": "2026-03-05"}))
    assert state.treatment_discontinued is not None
    assert state.treatment_discontinued["reason"] == "adverse_event"
    assert state.stage == "randomised" and state.labs and state.visits
    assert rule(*RANDOMISED, discontinued(), INFUSION) == ("infusion.discontinued", "entry.type")


def test_a_participant_never_infused_is_followed_on_the_schedule_from_the_day_it_was_not() -> None:
    week_1 = fact("visit.completed", {"visit": "week_1", "on": "2026-03-09"})
    sample = fact("lab.resulted", {"visit": "week_1", "analyte": "ALT", "value": 41.0,
                                   "unit": "U/L", "sampled_at": "2026-03-09T08:30:00+00:00"})
    # before the discontinuation there is no day 0 to follow from
    assert rule(*RANDOMISED, week_1) == ("visit.before_infusion", "payload.visit")
    state = run(*RANDOMISED, discontinued(on="2026-03-04"), week_1, sample)
    assert state.schedule_origin is not None and str(state.schedule_origin.date()) == "2026-03-04"
    assert [v["visit"] for v in state.visits] == ["week_1"] and "week_1/ALT" in state.labs
    early = fact("visit.completed", {"visit": "week_1", "on": "2026-03-03"})
    assert rule(*RANDOMISED, discontinued(on="2026-03-04"), early) == \
        ("visit.before_infusion", "payload.on")


def test_treatment_is_discontinued_once_after_randomisation_and_before_the_infusion() -> None:
    assert rule(*ENROLLED, discontinued()) == ("disposition.not_randomised", "entry.type")
    assert rule(*RANDOMISED, discontinued(), discontinued("death", "2026-03-05")) == \
        ("disposition.discontinued_already", "entry.type")
    assert rule(*RANDOMISED, INFUSION, discontinued()) == ("disposition.treated_already", "entry.type")


# -- coded reasons ------------------------------------------------------------------------------

def test_every_reason_is_a_coded_ds_term_with_its_cdisc_submission_value() -> None:
    assert len(REASONS) == 10 and set(REASONS) <= set(CDISC_TERMS)
    assert CDISC_TERMS["withdrawal_by_subject"] == "WITHDRAWAL BY SUBJECT"
    assert CDISC_TERMS["lost_to_follow_up"] == "LOST TO FOLLOW-UP"
    for reason in REASONS:
        if reason != "lost_to_follow_up":
            extra = {"reason_text": "moved abroad"} if reason == "other" else {}
            assert run(*RANDOMISED, withdrawn(reason, **extra)).disposition["reason"] == reason  # type: ignore[index]


def test_an_uncoded_reason_is_refused_naming_the_field() -> None:
    caught = refusal(*RANDOMISED, withdrawn("moved abroad"))
    assert (caught.rule, caught.field) == ("payload.invalid", "payload.reason")
    caught = refusal(*RANDOMISED, discontinued("felt unwell"))
    assert (caught.rule, caught.field) == ("payload.invalid", "payload.reason")


def test_the_reason_other_needs_its_text() -> None:
    assert rule(*RANDOMISED, withdrawn("other")) == \
        ("disposition.reason_text_required", "payload.reason_text")
    assert rule(*RANDOMISED, discontinued("other", reason_text=" ")) == \
        ("disposition.reason_text_required", "payload.reason_text")
    state = run(*RANDOMISED, discontinued("other", reason_text="product out of specification"))
    assert state.treatment_discontinued["reason_text"] == "product out of specification"  # type: ignore[index]


def test_loss_to_follow_up_is_its_own_entry_with_its_attempts() -> None:
    assert rule(*RANDOMISED, withdrawn("lost_to_follow_up")) == \
        ("disposition.use_lost_to_follow_up", "payload.reason")
    state = run(*RANDOMISED, lost())
    assert state.stage == "lost_to_follow_up" and state.disposition is not None
    assert (state.disposition["attempts"], state.disposition["last_attempt_on"]) == (3, "2026-03-09")
    assert rule(*RANDOMISED, lost(on="2026-03-06", last_attempt_on="2026-03-05")) == \
        ("disposition.last_attempt_before_contact", "payload.last_attempt_on")
    caught = refusal(*RANDOMISED, lost(attempts=0))
    assert (caught.rule, caught.field) == ("payload.invalid", "payload.attempts")


def test_new_exits_of_schema_1_are_refused_and_old_ones_replay() -> None:
    old = replace(fact("participant.withdrawn", {"on": "2026-03-06"}), reason="moved abroad")
    assert rule(*RANDOMISED, old) == ("disposition.reason_not_coded", "entry.schema")
    assert rule(*RANDOMISED, fact("participant.lost_to_follow_up", {"on": "2026-03-06"})) == \
        ("disposition.reason_not_coded", "entry.schema")
    state = PARTICIPANT.state_of(*RANDOMISED, old)
    assert state.stage == "withdrawn" and state.disposition is not None
    assert (state.disposition["reason"], state.disposition["reason_text"]) == (None, "moved abroad")


def test_completion_stays_schema_1_and_ends_the_trial_but_for_vital_status() -> None:
    completed = fact("participant.completed", {"on": "2026-03-09"})
    state = run(*RANDOMISED, INFUSION, completed, vital(on="2026-03-10"))
    assert state.stage == "completed" and state.disposition["kind"] == "completed"  # type: ignore[index]
    assert len(state.vital_status) == 1
    assert rule(*RANDOMISED, INFUSION, completed, lab()) == ("participant.exited", "entry.type")


# -- dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("record", "expected"), [
    (discontinued(on="2026-03-11"), ("date.in_future", "payload.on")),
    (withdrawn(on="2026-02-28"), ("consent.procedure_before_consent", "payload.on")),
    (lost(on="2026-02-28"), ("consent.procedure_before_consent", "payload.on")),
    (lost(last_attempt_on="2026-03-11"), ("date.in_future", "payload.last_attempt_on")),
    (vital(on="2026-03-11"), ("date.in_future", "payload.on")),
    (vital(on="2026-03-05", known_alive_on="2026-03-06"), ("vital_status.dates",
                                                           "payload.known_alive_on")),
    (withdrawn(on="1890-01-01"), ("date.implausible", "payload.on")),
])
def test_disposition_dates_are_not_in_the_future_nor_before_consent(
        record: Fact, expected: tuple[str, str]) -> None:
    assert rule(*RANDOMISED, record) == expected


def test_no_disposition_without_a_consent_ever_given() -> None:
    assert rule(REGISTER, withdrawn()) == ("consent.procedure_before_consent", "entry.type")
    assert rule(REGISTER, vital()) == ("consent.procedure_before_consent", "entry.type")


def test_only_investigators_record_the_disposition() -> None:
    assert rule(*RANDOMISED, replace(withdrawn(), role="monitor")) == \
        ("entry.role_not_allowed", "entry.role")
