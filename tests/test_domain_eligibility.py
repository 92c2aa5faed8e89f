"""Eligibility (R21): age 18–80 at the assessment date, ESLD confirmed, all 11 exclusions "No",
consent on record; the answers that the ledger can check are checked."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.eligibility import Assessment, EligibilityAssessed, age_in_years, assess, assess_payload
from domain.facts import Rejection
from domain.protocol import load_protocol

PROTOCOL = load_protocol(json.loads(
    resources.files("domain.protocols").joinpath("nct06167473.json").read_text(encoding="utf-8")))
ON = date(2026, 3, 2)
BORN = date(1961, 4, 2)  # 64 on ON
CLEAR = {**{f"inc-{n}": True for n in range(1, 4)}, **{f"exc-{n}": False for n in range(1, 12)}}


def check(answers: dict[str, bool] = CLEAR, *, born: date = BORN, consent: bool = True,
          on: date = ON) -> Assessment:
    return assess(PROTOCOL, answers, date_of_birth=born, consent_signed=consent, on=on)


def refused(answers: dict[str, bool] = CLEAR, *, born: date = BORN, consent: bool = True) -> Rejection:
    with pytest.raises(Rejection) as caught:
        check(answers, born=born, consent=consent)
    return caught.value


def test_r21_eligible_when_every_inclusion_is_met_and_no_exclusion_applies() -> None:
    assert check() == Assessment(eligible=True, failed=[], age_years=64)


@pytest.mark.parametrize("exclusion", [f"exc-{n}" for n in range(1, 12)])
def test_r21_any_one_of_the_11_exclusions_makes_ineligible(exclusion: str) -> None:
    outcome = check({**CLEAR, exclusion: True})
    assert (outcome.eligible, outcome.failed) == (False, [exclusion])


def test_r21_esld_not_confirmed_makes_ineligible() -> None:
    assert check({**CLEAR, "inc-2": False}).failed == ["inc-2"]


def test_r21_without_consent_ineligible_and_the_answer_must_match_the_record() -> None:
    assert check({**CLEAR, "inc-3": False}, consent=False).failed == ["inc-3"]
    assert refused(consent=False).rule == "eligibility.consent_mismatch"
    rejection = refused({**CLEAR, "inc-3": False}, consent=True)
    assert (rejection.rule, rejection.field) == ("eligibility.consent_mismatch", "payload.answers.inc-3")


@pytest.mark.parametrize(("born", "age", "of_age"), [
    (date(2008, 3, 2), 18, True),    # 18th birthday today
    (date(2008, 3, 3), 17, False),   # 18 tomorrow
    (date(1945, 3, 3), 80, True),    # last day at 80
    (date(1945, 3, 2), 81, False),   # 81st birthday today
])
def test_r21_age_18_to_80_at_the_assessment_date(born: date, age: int, of_age: bool) -> None:
    outcome = check({**CLEAR, "inc-1": of_age}, born=born)
    assert outcome.age_years == age
    assert outcome.eligible is of_age and outcome.failed == ([] if of_age else ["inc-1"])
    rejection = refused({**CLEAR, "inc-1": not of_age}, born=born)
    assert (rejection.rule, rejection.field) == ("eligibility.age_mismatch", "payload.answers.inc-1")


def test_failed_criteria_are_listed_in_protocol_order() -> None:
    answers = {**CLEAR, "exc-11": True, "inc-2": False, "exc-3": True, "inc-3": False}
    assert check(answers, consent=False).failed == ["inc-2", "inc-3", "exc-3", "exc-11"]


def test_every_criterion_must_be_answered() -> None:
    answers = {k: v for k, v in CLEAR.items() if k not in ("exc-7", "inc-2")}
    rejection = refused(answers)
    assert (rejection.rule, rejection.field) == ("eligibility.incomplete", "payload.answers.inc-2")
    assert [e["field"] for e in rejection.errors] == ["payload.answers.inc-2", "payload.answers.exc-7"]


def test_unknown_criteria_are_refused() -> None:
    rejection = refused({**CLEAR, "exc-12": False})
    assert (rejection.rule, rejection.field) == ("eligibility.unknown_criterion", "payload.answers.exc-12")


def test_a_birth_after_the_assessment_is_refused() -> None:
    assert refused(born=ON + timedelta(days=1)).rule == "eligibility.born_after_assessment"


@pytest.mark.parametrize(("on", "age"), [
    (date(2018, 2, 28), 17), (date(2018, 3, 1), 18), (date(2020, 2, 28), 19), (date(2020, 2, 29), 20),
    (date(2000, 2, 29), 0), (date(2001, 2, 28), 0), (date(2001, 3, 1), 1)])
def test_age_of_someone_born_on_a_leap_day(on: date, age: int) -> None:
    assert age_in_years(date(2000, 2, 29), on) == age


def _age_by_counting_birthdays(born: date, on: date) -> int:
    """Reference: count the birthdays passed, a 29 February birthday falling on 1 March."""
    def birthday(year: int) -> date:
        try:
            return born.replace(year=year)
        except ValueError:
            return date(year, 3, 1)
    return sum(1 for year in range(born.year + 1, on.year + 1) if birthday(year) <= on)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(min_value=0, max_value=40_000))
def test_age_agrees_with_counting_birthdays(born: date, days: int) -> None:
    on = born + timedelta(days=days)
    assert age_in_years(born, on) == _age_by_counting_birthdays(born, on)


PAYLOAD = {"protocol_version": "1.0", "assessed_on": "2026-03-02", "esld_confirmed": True, "answers": CLEAR}


def test_r21_a_recorded_assessment_is_checked_on_its_own_date() -> None:
    payload = EligibilityAssessed.model_validate_json(json.dumps(PAYLOAD))
    assert assess_payload(PROTOCOL, payload, date_of_birth=BORN, consent_signed=True).eligible
    old = payload.model_copy(update={"protocol_version": "0.9"})
    with pytest.raises(Rejection) as caught:
        assess_payload(PROTOCOL, old, date_of_birth=BORN, consent_signed=True)
    assert caught.value.rule == "eligibility.protocol_version"


@pytest.mark.parametrize("change", [
    {"esld_confirmed": False},                       # disagrees with inc-2
    {"esld_confirmed": "true"},                      # strict: no strings for booleans
    {"answers": {**CLEAR, "exc-1": "no"}},
    {"answers": {**CLEAR, "exclusion-1": False}},    # not a criterion id
    {"assessed_on": "02/03/2026"},
    {"site_note": "x"},                              # unknown field
])
def test_assessment_payloads_are_strict(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EligibilityAssessed.model_validate_json(json.dumps({**PAYLOAD, **change}))


def test_esld_not_confirmed_agrees_with_inc_2_answered_no() -> None:
    payload = {**PAYLOAD, "esld_confirmed": False, "answers": {**CLEAR, "inc-2": False}}
    parsed = EligibilityAssessed.model_validate_json(json.dumps(payload))
    assert assess_payload(PROTOCOL, parsed, date_of_birth=BORN, consent_signed=True).failed == ["inc-2"]
