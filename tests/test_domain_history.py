"""Medical history and medications (R47), pure: courses with their dates, the medication
exclusion of protocol 1.1 (exc-6: interferon or glucocorticoid within a year) raised as a query
on the course, in either order of course and eligibility assessment, and the history's rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from domain.facts import Consequence, Fact
from tests.domain_stream import NOW, P10, P11, ParticipantStream, refused

PARTICIPANT = ParticipantStream(P11)
fact, follow, run = PARTICIPANT.fact, PARTICIPANT.follow, PARTICIPANT.run
refusal, state_of = PARTICIPANT.refusal, PARTICIPANT.state_of
SIGNED, ASSESSED, YEAR_BEFORE = "2026-03-05", "2026-03-06", "2025-03-06"


def queries(*facts: Fact) -> list[Mapping[str, Any]]:
    return [c.payload for c in follow(*facts) if c.type == "query.opened"]


def as_fact(consequence: Consequence) -> Fact:
    """The follow-up as the ledger writes it: by the system."""
    return fact(consequence.type, consequence.payload, role=consequence.actor)


def consent(on: str = SIGNED) -> Fact:
    return PARTICIPANT.consent(on)


def assessed(on: str = ASSESSED) -> Fact:
    return PARTICIPANT.assessed(on)


def medication(category: str = "glucocorticoid", start: str = "2025-06-01",
               stop: str | None = "2025-08-01", name: str = "prednisolone",
               at: datetime = NOW) -> Fact:
    course: dict[str, Any] = {"name": name, "category": category, "indication": "hepatitis flare",
                              "dose": "40 mg daily", "route": "oral", "start": start,
                              "ongoing": stop is None}
    if stop is not None:
        course["stop"] = stop
    return fact("medication.recorded", course, at=at)


def stopped(course: Fact | str, on: str) -> Fact:
    record = course if isinstance(course, str) else course.record_hash
    return fact("medication.stopped", {"medication": record, "stop": on})


def history(taken_on: str = SIGNED, aetiology: str = "hbv", reason: str | None = None,
            **more: Any) -> Fact:
    return fact("medical_history.recorded", {
        "taken_on": taken_on, "aetiology": aetiology,
        "conditions": [{"term": "type 2 diabetes", "onset": "2015-05-01", "ongoing": True}], **more},
        reason=reason)


REGISTER = PARTICIPANT.registered()
CONSENTED = (REGISTER, consent())
ENROLLED = (*CONSENTED, assessed(), PARTICIPANT.determined())


def test_r47_a_medication_is_recorded_with_its_start_and_stop_and_stopped_later() -> None:
    albumin = medication("albumin", start="2026-03-07", stop=None, name="human albumin 20%")
    diuretic = medication("diuretic", start="2026-01-10", stop="2026-02-20", name="spironolactone")
    facts = (*ENROLLED, albumin, diuretic, stopped(albumin, "2026-03-09"))
    run(*facts)
    courses: dict[Any, dict[str, Any]] = state_of(*facts).medications  # keyed by record hash
    assert {k: courses[albumin.record_hash][k] for k in ("name", "start", "stop", "ongoing", "by")} \
        == {"name": "human albumin 20%", "start": "2026-03-07", "stop": "2026-03-09",
            "ongoing": False, "by": "inv-001"}
    assert courses[albumin.record_hash]["stopped"]["on"] == "2026-03-09"
    assert (courses[diuretic.record_hash]["start"], courses[diuretic.record_hash]["stop"],
            courses[diuretic.record_hash]["ongoing"]) == ("2026-01-10", "2026-02-20", False)
    assert "stopped" not in courses[diuretic.record_hash]


def test_r47_a_glucocorticoid_course_in_the_year_before_eligibility_opens_the_exc6_query() -> None:
    course = medication()
    [query] = queries(*ENROLLED, course)
    assert (query["record"], query["field"]) == (course.record_hash, "start")
    assert query["text"].startswith("exc-6 (Interferon or glucocorticoid therapy within 1 year)")
    for named in ("prednisolone", "2025-06-01", "2025-08-01", ASSESSED, YEAR_BEFORE):
        assert named in query["text"]
    run(*ENROLLED, course, fact("query.opened", query, role="system"))  # on a record of the participant
    ongoing = medication("interferon", start="2019-04-01", stop=None, name="peginterferon alfa-2a")
    [query] = queries(*ENROLLED, ongoing)
    assert query["record"] == ongoing.record_hash and "ongoing" in query["text"]


def test_r47_a_course_recorded_before_the_assessment_is_queried_when_eligibility_is_assessed() -> None:
    # Ended 2025-03-08: outside the year up to the day it is recorded (2026-03-10), inside the
    # year up to the assessment dated 2026-03-06.
    course = medication(start="2025-01-15", stop="2025-03-08")
    assert queries(*CONSENTED, course) == []
    after = follow(*CONSENTED, course, assessed())
    assert [c.type for c in after] == ["eligibility.determined", "query.opened"]
    assert after[1].actor == "system"
    assert (after[1].payload["record"], after[1].payload["field"]) == (course.record_hash, "start")
    assert ASSESSED in after[1].payload["text"]


def test_r47_a_course_queried_when_recorded_is_queried_again_only_once_its_query_is_closed() -> None:
    course = medication()
    [query] = follow(*CONSENTED, course)  # no assessment yet: the year up to the record's day
    assert query.type == "query.opened" and str(NOW.date()) in query.payload["text"]
    opened = as_fact(query)
    assert queries(*CONSENTED, course, opened, assessed()) == []
    closed = fact("query.closed", {"query": opened.record_hash}, role="monitor")
    [again] = queries(*CONSENTED, course, opened, closed, assessed())
    assert again["record"] == course.record_hash and ASSESSED in again["text"]


def test_r47_no_query_outside_the_year_for_other_categories_or_courses_begun_after_eligibility() -> None:
    assert queries(*ENROLLED, medication(start="2024-01-01", stop="2025-03-05")) == []
    assert len(queries(*ENROLLED, medication(start="2024-01-01", stop=YEAR_BEFORE))) == 1
    assert queries(*ENROLLED, medication("albumin", stop=None)) == []
    assert queries(*ENROLLED, medication("antiviral", start="2020-01-01", stop=None,
                                         name="entecavir")) == []
    assert queries(*ENROLLED, medication(start="2026-03-08", stop=None)) == []
    assert [c.type for c in follow(*CONSENTED, medication("beta_blocker", stop=None),
                                   assessed())] == ["eligibility.determined"]
    # Protocol 1.0 names no medication exclusion.
    assert follow(*CONSENTED, medication(), protocol=P10) == []


def test_r47_a_course_stops_on_or_after_its_start_and_is_ongoing_exactly_without_a_stop() -> None:
    refused(refusal(*ENROLLED, medication(start="2026-02-01", stop="2026-01-31")),
            "medication.dates", "payload.stop")
    ongoing_with_stop = fact("medication.recorded", {**medication().payload, "ongoing": True})
    refused(refusal(*ENROLLED, ongoing_with_stop), "medication.dates", "payload.ongoing")
    refused(refusal(*ENROLLED, fact("medication.recorded", {**medication(stop=None).payload,
                                                            "ongoing": False})),
            "medication.dates", "payload.ongoing")
    refused(refusal(*ENROLLED, medication(start="1850-01-01")), "date.implausible", "payload.start")
    refused(refusal(*ENROLLED, medication(start="2026-01-01", stop="2027-01-01")),
            "date.implausible", "payload.stop")
    course = medication("albumin", start="2026-03-07", stop=None)
    refused(refusal(*ENROLLED, course, stopped(course, "2026-03-06")), "medication.dates",
            "payload.stop")
    unknown_category = fact("medication.recorded", {**medication().payload, "category": "statin"})
    refused(refusal(*ENROLLED, unknown_category), "payload.invalid", "payload.category")


def test_r47_a_stop_names_an_ongoing_medication_of_the_participant() -> None:
    course = medication("albumin", start="2026-03-07", stop=None)
    refused(refusal(*ENROLLED, course, stopped("0" * 64, "2026-03-09")), "medication.unknown",
            "payload.medication")
    refused(refusal(*ENROLLED, course, stopped(course, "2026-03-08"), stopped(course, "2026-03-09")),
            "medication.unknown", "payload.medication")
    finished = medication("diuretic", start="2026-01-10", stop="2026-02-20")
    refused(refusal(*ENROLLED, finished, stopped(finished, "2026-03-09")), "medication.unknown",
            "payload.medication")


def test_r47_medications_are_recorded_under_consent_though_a_course_may_predate_it() -> None:
    refused(refusal(REGISTER, medication()), "consent.procedure_before_consent", "entry.type")
    early = medication(at=datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    refused(refusal(*CONSENTED, early), "consent.procedure_before_consent", "entry.recorded_at")
    run(*CONSENTED, medication("antiviral", start="2019-04-01", stop=None, name="entecavir"))
    withdrawn = fact("consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-08"})
    refused(refusal(*CONSENTED, withdrawn, medication()), "consent.withdrawn_no_new_data",
            "entry.type")
    refused(refusal(*CONSENTED, fact("medication.recorded", medication().payload, role="monitor")),
            "entry.role_not_allowed", "entry.role")


def test_r47_the_medical_history_is_taken_on_or_after_consent() -> None:
    refused(refusal(*CONSENTED, history("2026-03-04")), "consent.procedure_before_consent",
            "payload.taken_on")
    first = history()
    run(*CONSENTED, first)
    recorded = state_of(*CONSENTED, first).medical_history
    assert recorded is not None
    assert (recorded["aetiology"], recorded["taken_on"], recorded["record_hash"], recorded["by"]) == \
        ("hbv", SIGNED, first.record_hash, "inv-001")
    assert recorded["conditions"] == [{"term": "type 2 diabetes", "onset": "2015-05-01",
                                       "ongoing": True}]
    withdrawn = fact("consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-08"})
    refused(refusal(*CONSENTED, withdrawn, history()), "consent.withdrawn_no_new_data", "entry.type")
    refused(refusal(REGISTER, history()), "consent.procedure_before_consent", "entry.type")
    bad_onset = history(conditions=[{"term": "gout", "onset": "1800-01-01", "ongoing": False}])
    refused(refusal(*CONSENTED, bad_onset), "date.implausible", "payload.conditions.0.onset")


def test_r47_a_second_history_needs_a_reason_and_supersedes_the_first() -> None:
    first, second = history(), history("2026-03-07", "alcohol")
    refused(refusal(*CONSENTED, first, second), "history.reason_required", "entry.reason")
    corrected = replace(second, reason="aetiology confirmed by the hepatologist")
    run(*CONSENTED, first, corrected)
    recorded = state_of(*CONSENTED, first, corrected).medical_history
    assert recorded is not None
    assert (recorded["aetiology"], recorded["record_hash"], recorded["superseded"],
            recorded["reason"]) == ("alcohol", second.record_hash, [first.record_hash],
                                    "aetiology confirmed by the hepatologist")


def test_r47_an_aetiology_of_other_needs_its_text() -> None:
    refused(refusal(*CONSENTED, history(aetiology="other")), "history.aetiology_text_required",
            "payload.aetiology_text")
    run(*CONSENTED, history(aetiology="other", aetiology_text="Wilson disease"))
    run(*CONSENTED, history(aetiology="mash"))
    refused(refusal(*CONSENTED, history(aetiology="nafld")), "payload.invalid", "payload.aetiology")


def test_r47_after_the_participant_left_no_new_history_or_medication_but_queries_go_on() -> None:
    course = medication()
    [query] = follow(*ENROLLED, course)
    opened = as_fact(query)
    left = fact("participant.withdrawn", {"on": "2026-03-09", "reason": "physician_decision"},
                schema=2, reason="hepatic decompensation")
    facts = (*ENROLLED, course, opened, left)
    refused(refusal(*facts, medication("albumin", stop=None)), "participant.exited", "entry.type")
    refused(refusal(*facts, stopped(course, "2026-03-09")), "participant.exited", "entry.type")
    refused(refusal(*facts, history()), "participant.exited", "entry.type")
    run(*facts, fact("query.answered", {"query": opened.record_hash,
                                        "text": "course ended 2025-08-01, eligibility reviewed"}))
