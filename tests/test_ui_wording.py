"""The viewer's wording: visits in the protocol's schedule order, values in the words a clinician
reads (yes/no, doses, labelled fields, eligibility criteria with their text) and one time format,
UTC to the second, on every page."""

from __future__ import annotations

import html
import re

import pytest

from api.services.blinding import protocol
from api.ui.schedule import Schedule
from api.ui.wording import Words, cells, dose, when, yes_no

from .conftest import DemoTrial
from .test_ui import CORRECTED, login, record_hashes

SCHEDULE = ["baseline", "infusion", "week_1", "week_4", "week_8", "week_12", "week_24", "week_48"]
PARTICIPANTS = [f"P-00{n}" for n in range(1, 7)]
LITERAL = re.compile(r"\b(True|False|None)\b|\{'|\{\"|\['|\[\]|\{\}")
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\+00:00|\d{2}:\d{2}:\d{2}\.\d+Z?")
SHOWN_TIME = re.compile(r"<time datetime=\"[^\"]+\">([^<]*)</time>")


def text_of(page: str) -> str:
    """What a reader sees: no tags (so no attributes), no stylesheet, no long base64 or hex runs
    (keys and hashes, where any letters may occur)."""
    body = page.split("<body>", 1)[-1]
    seen = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return re.sub(r"[A-Za-z0-9+/=]{24,}", " ", seen)


def _audit_pages(http: object, **filters: str) -> list[str]:
    pages, number = [], 1
    while True:
        page = http.get("/ui/audit", params={**filters, "page": number}).text  # type: ignore[attr-defined]
        pages.append(page)
        if 'data-testid="next"' not in page:
            return pages
        number += 1


# -- schedule order -------------------------------------------------------------------------

def test_the_schedule_orders_visits_by_the_protocols_day(demo: DemoTrial) -> None:
    schedule = Schedule(protocol(demo.services))
    as_text = sorted(SCHEDULE)
    assert as_text != SCHEDULE  # "week_12" sorts before "week_4" as text
    assert schedule.sort(as_text) == SCHEDULE
    assert schedule.sort(reversed(SCHEDULE)) == SCHEDULE
    # Without a protocol (none adopted yet), week numbers still order; other ids come last.
    assert Schedule(None).sort(["week_12", "unplanned", "week_4", "week_1"]) == [
        "week_1", "week_4", "week_12", "unplanned"]
    assert schedule.label("week_4") == "Week 4" and schedule.label("baseline") == "Baseline"
    assert schedule.field("week_12/CREAT") == "Week 12 · CREAT"


def test_the_schedule_shows_each_visit_done_missed_or_not_done(demo: DemoTrial) -> None:
    schedule = Schedule(protocol(demo.services))
    rows = schedule.rows([{"visit": "week_1", "on": "2026-03-09", "record_hash": "a" * 64}],
                         [{"visit": "week_4", "reason": "in hospital", "record_hash": "b" * 64},
                          {"visit": "unplanned", "reason": "moved", "record_hash": "c" * 64}])
    assert [r["visit"] for r in rows] == [*SCHEDULE, "unplanned"]
    shown = {r["visit"]: (r["status"], r["detail"]) for r in rows}
    assert shown["week_1"] == ("done", "2026-03-09") and shown["week_4"] == ("missed", "in hospital")
    assert shown["week_8"] == ("not done", None) and shown["unplanned"] == ("missed", "moved")
    assert shown["baseline"] == ("—", None) and shown["infusion"] == ("—", None)
    infused = schedule.rows([], [], [{"started_at": "2026-03-02T08:15:00Z", "record_hash": "d" * 64}])
    assert [(r["status"], r["detail"], r["record_hash"]) for r in infused if r["visit"] == "infusion"] \
        == [("done", "2026-03-02", "d" * 64)]
    assert next(r for r in rows if r["visit"] == "week_4")["label"] == "Week 4"


@pytest.mark.parametrize("author", ["insp-01", "mon-01"])
def test_the_participant_page_lists_visits_and_scores_in_schedule_order(demo: DemoTrial,
                                                                        author: str) -> None:
    http = login(demo, author)
    for pid in ("P-002", "P-004"):
        page = http.get(f"/ui/participants/{pid}").text
        scores = re.findall(r'<tr data-visit="([^"]+)">', page)
        done = re.findall(r'<span class="visit" data-visit="([^"]+)">', page)
        for listed in (scores, done):
            assert {"week_4", "week_12"} <= set(listed), (pid, listed)
            assert listed == [v for v in SCHEDULE if v in listed], (pid, listed)
        labels = re.findall(r'<tr data-visit="[^"]+"><td>([^<]+)</td>', page)
        assert labels.index("Week 4") < labels.index("Week 8") < labels.index("Week 12")


def test_the_charts_tables_follow_the_schedule(demo: DemoTrial) -> None:
    charts = login(demo, "insp-01").get("/ui/charts").text
    tables = charts.split('<table class="numbers">')[1:]
    assert len(tables) == 4  # one per algorithm, per arm
    for table in tables:
        rows = re.findall(r"<tr><td>([^<]+)</td><td>(-?[\d.]+)</td>", table)
        weeks = [float(w) for _, w in rows]
        assert weeks == sorted(weeks) and len(weeks) >= 4
        labels = [label for label, _ in rows]
        in_order = ["Baseline", *(f"Week {n}" for n in (1, 4, 8, 12, 24, 48))]
        assert labels == [label for label in in_order if label in labels]
        assert {"Week 1", "Week 4", "Week 8"} <= set(labels)


# -- values in words ------------------------------------------------------------------------

def test_values_are_worded_for_a_clinician() -> None:
    assert dose(1000000) == "1 × 10⁶ cells/kg" and dose(1000000.0) == "1 × 10⁶ cells/kg"
    assert dose(1500000) == "1.5 × 10⁶ cells/kg" and dose(3e6) == "3 × 10⁶ cells/kg"
    assert dose("masked") == "masked"
    assert cells(247200000.00000003) == "2.472 × 10⁸ cells"
    assert (yes_no(True), yes_no(False), yes_no(None)) == ("yes", "no", "—")
    fields = Words(None).fields({"value": 1.16, "unit": "mg/dL", "dialysis": False,
                                 "weight_kg": 82.0, "note": None, "informed": ["a", "b"],
                                 "allocation": {"blocks": {"all": [2, 4]}}, "failed": []})
    shown = {f.label: f.text for f in fields}
    assert shown == {"Value": "1.16 mg/dL", "Dialysis": "no", "Weight": "82 kg", "Note": "—",
                     "Informed": "a, b", "Allocation": None, "Failed": "none"}
    assert [(f.label, f.text) for f in Words(None).of([True, None])] == [("Value", "yes, —")]
    nested = next(f for f in fields if f.label == "Allocation").parts
    assert nested[0].label == "Blocks" and nested[0].parts[0].text == "2, 4"


@pytest.mark.parametrize("author", ["insp-01", "mon-01"])
def test_no_raw_literal_on_any_page(demo: DemoTrial,
                                                                 author: str) -> None:
    """No True/False/None, dict or list literal, JSON object or empty list is shown as such."""
    http = login(demo, author)
    pages = {f"/ui/participants/{pid}": http.get(f"/ui/participants/{pid}").text
             for pid in PARTICIPANTS}
    pages |= {f"/ui/records/{h}": http.get(f"/ui/records/{h}").text
              for h in record_hashes(demo, "P-002") + record_hashes(demo, "P-004")}
    pages |= {f"/ui/audit?page={n}": p for n, p in enumerate(_audit_pages(http), start=1)}
    pages |= {path: http.get(path).text for path in ("/ui/", "/ui/charts")}
    assert len(pages) > 6 + 40 + 2 + 2
    for path, page in pages.items():
        found = LITERAL.search(text_of(page))
        assert found is None, (path, text_of(page)[max(0, found.start() - 120): found.end() + 60])


def test_the_clinical_records_codes_read_as_words() -> None:
    """docs/clinical.md's codes (reasons, aetiologies, categories, severities, vital status) in
    words; a list of conditions as one labelled group per condition; free text kept as written."""
    fields = Words(None).fields({
        "reason": "withdrawal_by_subject", "reason_text": "moved abroad", "aetiology": "mash",
        "category": "lactulose_rifaximin", "severity": "major", "status": "alive",
        "kind": "lost_to_follow_up", "description": "death of a relative",
        "conditions": [{"term": "type 2 diabetes", "onset": "2015-05-01", "ongoing": True}]})
    shown = {f.label: f.text for f in fields}
    assert shown["Reason"] == "withdrawal by subject"
    assert shown["Reason, in the investigator's words"] == "moved abroad"
    assert shown["Aetiology"] == "MASH (metabolic dysfunction-associated steatohepatitis)"
    assert shown["Category"] == "lactulose or rifaximin" and shown["Severity"] == "major"
    assert shown["Status"] == "alive" and shown["Kind"] == "lost to follow-up"
    assert shown["Description"] == "death of a relative"  # free text is not a code
    condition = next(f for f in fields if f.label == "Conditions").parts[0]
    assert condition.label == "Type 2 diabetes"
    assert {f.label: f.text for f in condition.parts} == {
        "Onset": "2015-05-01", "Ongoing": "yes", "Term": "type 2 diabetes"}
    # a free-text reason that is no code stays as it was written
    assert Words(None).field("reason", "participant's own decision").text == "participant's own decision"


def test_every_code_of_the_safety_records_has_words() -> None:
    """Adverse events' criteria, relationships, actions, outcomes and events of special interest,
    a transplant's graft, a safety report's kind and the end states: each in words, none shown as
    its code; the end states' CDISC terms are in the code list ODM writes them from."""
    from typing import get_args

    from api.exports.clinical import CODE_LISTS, END_STATE_ITEMS, NCOMPLT, in_words, is_code
    from domain import adverse_events, outcomes, safety

    codes = {code for kind in (adverse_events.Criterion, adverse_events.Relationship,
                               adverse_events.Action, adverse_events.Outcome,
                               adverse_events.SpecialInterest) for code in get_args(kind)}
    codes |= set(get_args(outcomes.TransplantRecorded.model_fields["graft"].annotation))
    codes |= set(get_args(safety.SafetyReportSubmitted.model_fields["kind"].annotation))
    assert {"deceased_donor", "living_donor", "initial", "follow_up", "aclf"} <= codes
    for code in codes:
        assert is_code(code) and "_" not in in_words(code), code
    for stage in outcomes.END_STATES:
        assert "_" not in in_words(stage), stage
    for kind, (term, _) in END_STATE_ITEMS.items():
        assert term in CODE_LISTS[NCOMPLT].values(), kind
    # each new record's fields labelled, codes in words, the fatal event's hash kept to link
    death = {f.label: f for f in Words(None).fields({
        "died_on": "2026-03-11", "cause": "variceal haemorrhage", "liver_related": True,
        "autopsy": False, "event": "a" * 64})}
    assert {k: f.text for k, f in death.items() if k != "Adverse event record"} == {
        "Died on": "2026-03-11", "Cause": "variceal haemorrhage", "Liver related": "yes",
        "Autopsy": "no"}
    assert death["Adverse event record"].raw == "a" * 64
    shown = {f.label: f.text for f in Words(None).fields({
        "transplanted_on": "2026-03-10", "graft": "deceased_donor"})}
    assert shown == {"Transplanted on": "2026-03-10", "Graft": "deceased donor"}
    shown = {f.label: f.text for f in Words(None).fields({
        "to": "national competent authority", "reference": "SAE-1", "kind": "follow_up",
        "event": "b" * 64})}
    assert shown["Kind"] == "follow-up report" and shown["Reported to"] == \
        "national competent authority"
    event = {f.label: f.text for f in Words(None).fields({
        "criteria": ["hospitalisation", "life_threatening"], "relationship_cells": "possible",
        "action_taken": "drug_interrupted", "aware_at": "2026-03-10T12:00:00+02:00"})}
    assert event == {"Seriousness criteria": "hospitalisation, life-threatening",
                     "Relationship to the cells": "possible",
                     "Action taken": "treatment interrupted",
                     "Site aware at": "2026-03-10 10:00:00 UTC"}


def test_the_dose_reads_as_cells_per_kg_for_a_role_that_may_see_it(demo: DemoTrial) -> None:
    page = login(demo, "insp-01").get("/ui/participants/P-002").text
    arm = demo.services.views.participant("P-002").arm  # type: ignore[union-attr]
    per_kg = next(a.cells_per_kg for a in protocol(demo.services).arms if a.id == arm)  # type: ignore[union-attr]
    assert dose(per_kg) in text_of(page)
    assert re.search(r"<dt>Dose</dt><dd>\d(\.\d+)? × 10⁶ cells/kg</dd>", page)
    assert re.search(r"<dt>Total cells</dt><dd>\d(\.\d+)? × 10\S+ cells</dd>", page)


def test_eligibility_answers_show_each_criterion_with_its_text_and_yes_or_no(demo: DemoTrial) -> None:
    http = login(demo, "mon-01")
    record = next(r for r in demo.services.ledger.stream("participant/P-002")
                  if r.type == "eligibility.assessed")
    answers = (record.payload() or {})["answers"]
    page = http.get(f"/ui/records/{record.hash}").text
    criteria = protocol(demo.services).eligibility.criteria  # type: ignore[union-attr]
    at = []
    for c in criteria:
        shown = f"<dt>{c.id} {html.escape(c.text)}</dt><dd>{'yes' if answers[c.id] else 'no'}</dd>"
        assert shown in page, shown
        at.append(page.index(shown))
    assert at == sorted(at)  # the protocol's order: inc-1 … exc-2 … exc-10, not exc-1, exc-10, exc-2


def test_the_audit_page_shows_previous_and_new_values_as_labelled_fields(demo: DemoTrial) -> None:
    http = login(demo, "dm-01")
    page = http.get("/ui/audit", params={"type": CORRECTED, "participant": "P-002"}).text
    correction = next(r for r in demo.services.ledger.stream("participant/P-002") if r.type == CORRECTED)
    original = next(r for r in demo.services.ledger.stream("participant/P-002")
                    if r.hash == (correction.payload() or {})["supersedes"])
    before, after = original.payload() or {}, correction.payload() or {}
    row = page.split(f'href="/ui/records/{correction.hash}"')[1].split("</tr>")[0]
    assert f"<dt>Value</dt><dd>{before['value']:g} {before['unit']}</dd>" in row
    assert f"<dt>Value</dt><dd>{after['value']:g} {after['unit']}</dd>" in row
    assert f"{before['visit'].replace('_', ' ').capitalize()} · {before['analyte']}" in row


# -- one time format ------------------------------------------------------------------------

def test_times_read_utc_to_the_second_and_dates_stay_dates() -> None:
    assert when("2026-11-20T14:03:07.123456Z") == "2026-11-20 14:03:07 UTC"
    assert when("2026-11-20T15:03:07+01:00") == "2026-11-20 14:03:07 UTC"
    assert when("2026-11-20T14:03:07") == "2026-11-20 14:03:07 UTC"
    assert when("2026-11-20") == "2026-11-20" and when("week_4") == "week_4"


@pytest.mark.parametrize("author", ["insp-01", "mon-01"])
def test_every_page_shows_times_in_one_format(demo: DemoTrial, author: str) -> None:
    http = login(demo, author)
    corrected = record_hashes(demo, "P-002", CORRECTED)[0]
    paths = ["/ui/", "/ui/charts", "/ui/audit", "/ui/participants/P-002",
             f"/ui/records/{corrected}", f"/ui/records/{corrected}/proof"]
    shown = 0
    for path in paths:
        page = http.get(path).text
        times = SHOWN_TIME.findall(page)
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", t) for t in times), path
        shown += len(times)
        assert INSTANT.search(text_of(page)) is None, (path, INSTANT.findall(text_of(page))[:3])
    assert shown > 100
    participant = http.get("/ui/participants/P-002").text
    visit = demo.services.views.participant("P-002").visits[0]  # type: ignore[union-attr]
    assert f"({visit['on']})" in participant  # a visit's date stays a date


def test_the_audit_filter_takes_a_time_as_the_viewer_prints_it(demo: DemoTrial) -> None:
    http = login(demo, "insp-01")
    correction = next(r for r in demo.services.ledger.stream("participant/P-002") if r.type == CORRECTED)
    printed = when(correction.recorded_at)
    page = http.get("/ui/audit", params={"since": printed, "until": printed, "type": CORRECTED}).text
    assert f'href="/ui/records/{correction.hash}"' in page
    assert "Bad filter" in http.get("/ui/audit", params={"until": "20 Nov 2026"}).text
