"""The records of clinical integrity (docs/clinical.md) in every document a reader gets: the
casebook, the CDISC ODM export (XSD-valid, coded reasons as CDISC terms, a missed visit and a
deviation in the visit's study event), the audit export and the viewer's participant page, in
words, and without an arm or a dose for a blinded role."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pytest
from lxml import etree

from api.client.sdk import LedgerClient
from api.exports.audit import AuditFilter, as_csv, audit_rows
from api.exports.casebook import Reader, casebook_pdf
from api.exports.odm import created_now, cut, odm_document
from api.services.trial_setup import set_up_trial

from .conftest import LEDGER_PASS, ROOT_PASS, Clock, Trial, make_trial

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

XSD = Path(__file__).resolve().parent / "data" / "odm-1.3.2" / "ODM1-3-2.xsd"
NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
NEW_TYPES = ("adverse_event.reported", "adverse_event.updated", "adverse_event.resolved",
             "medical_history.recorded", "medication.recorded", "medication.stopped",
             "deviation.reported", "deviation.resolved", "visit.missed", "treatment.discontinued",
             "participant.withdrawn", "participant.lost_to_follow_up", "vital_status.recorded",
             "assessment.recorded")
ARM = re.compile(r"(?<![0-9A-Za-z+/_-])(low|medium_high)(?![0-9A-Za-z+/_-])")
DOSE = re.compile(r"(?<![0-9A-Za-z+/.])(1000000|3000000|\d(\.\d+)?e\+06|\d(\.\d+)? × 10⁶)(?![0-9A-Za-z])")
LITERAL = re.compile(r"\b(True|False|None)\b|\{'|\{\"|\['|\[\]|\{\}")


@dataclass
class Clinical:
    trial: Trial
    tokens: dict[str, str]
    hashes: dict[str, str]  # what -> record hash


def _client(trial: Trial, author: str, role: str, site: str, tokens: dict[str, str]) -> LedgerClient:
    signer, tokens[author] = trial.user(author, role=role, site=site, name=author.title())
    return LedgerClient(signer=signer, token=tokens[author], http=trial.new_http())


def _enrol(inv: LedgerClient, pid: str) -> None:
    inv.register_participant(pid, sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    inv.sign_consent(pid, form_version="1.0", signed_on="2026-03-01")
    inv.assess_eligibility(pid, assessed_on="2026-03-02", esld_confirmed=True, answers=ELIGIBLE)
    inv.request_randomisation(pid)


def _infuse(inv: LedgerClient, trial: Trial, pid: str) -> None:
    end = trial.clock.now - timedelta(minutes=5)
    dose = 3e6 if inv.participant(pid)["arm"] == "medium_high" else 1e6
    inv.record_infusion(pid, infusion_number=1, started_at=end - timedelta(minutes=40), ended_at=end,
                        weight_kg=64.0, cells_per_kg=dose, total_cells=dose * 64.0, lot="UC-1")


@pytest.fixture(scope="module")
def clinical(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinical]:
    folder = tmp_path_factory.mktemp("clinical")
    trial = make_trial(f"sqlite:///{folder / 'ledger.db'}", folder / "home",
                       Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS,
                 system_passphrase=LEDGER_PASS, seed=b"s" * 32)
    tokens: dict[str, str] = {}
    inv = _client(trial, "inv-001", "investigator", "site-01", tokens)
    mon = _client(trial, "mon-001", "monitor", "sponsor", tokens)
    _client(trial, "insp-001", "inspector", "regulator", tokens)
    for pid in ("P-001", "P-002", "P-003"):
        _enrol(inv, pid)
    _infuse(inv, trial, "P-001")
    _infuse(inv, trial, "P-003")
    h: dict[str, str] = {}
    h["history"] = inv.record_medical_history(
        "P-001", taken_on="2026-03-01", aetiology="pbc",
        conditions=[{"term": "type 2 diabetes", "onset": "2015-05-01", "ongoing": True},
                    {"term": "appendicitis", "ongoing": False}])["record_hash"]
    h["furosemide"] = inv.record_medication(
        "P-001", name="furosemide", category="diuretic", indication="ascites", dose="40 mg daily",
        route="oral", start="2026-02-10", stop="2026-02-28")["record_hash"]
    h["albumin"] = inv.record_medication(
        "P-001", name="human albumin 20%", category="albumin", indication="hypoalbuminaemia",
        start="2026-03-01")["record_hash"]
    trial.clock.step(days=8)  # 2026-03-10
    h["week_1"] = inv.complete_visit("P-001", visit="week_1", on="2026-03-09")["record_hash"]
    inv.record_assessment("P-001", visit="week_1", observed_on="2026-03-09", ascites="mild",
                          encephalopathy_grade=0, dialysis=False)
    h["stopped"] = inv.stop_medication("P-001", medication=h["albumin"], stop="2026-03-08")["record_hash"]
    h["late"] = inv.report_deviation(
        "P-001", category="visit_window", severity="minor", occurred_on="2026-03-09",
        description="week 1 seen a day after the planned day", record=h["week_1"])["record_hash"]
    h["resolved"] = inv.resolve_deviation("P-001", deviation=h["late"], resolved_on="2026-03-10",
                                          corrective_action="visit reminders by phone")["record_hash"]
    h["event"] = inv.report_adverse_event(
        "P-001", term="oesophageal variceal bleed", onset_on="2026-03-05", grade=3, serious=True,
        criteria=["hospitalisation"], relationship_cells="unlikely", relationship_procedure="possible",
        action_taken="dose_not_changed", outcome="recovering", special_interest="variceal_bleeding",
        aware_at=datetime(2026, 3, 5, 10, 0, tzinfo=UTC))["record_hash"]
    h["event_updated"] = inv.update_adverse_event(
        "P-001", event=h["event"], reason="grade revised after the endoscopy report",
        term="oesophageal variceal bleed", onset_on="2026-03-05", grade=4, serious=True,
        criteria=["hospitalisation", "life_threatening"], relationship_cells="unlikely",
        relationship_procedure="possible", action_taken="dose_not_changed", outcome="recovering",
        special_interest="variceal_bleeding",
        aware_at=datetime(2026, 3, 5, 10, 0, tzinfo=UTC))["record_hash"]
    h["event_resolved"] = inv.resolve_adverse_event("P-001", event=h["event"], end_on="2026-03-09",
                                                    outcome="recovered")["record_hash"]
    trial.clock.step(days=30)  # 2026-04-09
    h["missed"] = inv.miss_visit("P-001", visit="week_4", reason="in hospital abroad")["record_hash"]
    h["open"] = mon.report_deviation(
        "P-001", category="procedure", severity="major", occurred_on="2026-03-09",
        description="ascites graded without an ultrasound")["record_hash"]
    h["discontinued"] = inv.discontinue_treatment("P-002", reason="adverse_event",
                                                  on="2026-03-03")["record_hash"]
    h["withdrawn"] = inv.withdraw("P-002", on="2026-04-01", reason="withdrawal_by_subject")["record_hash"]
    h["vital"] = inv.record_vital_status("P-002", status="alive", on="2026-04-08",
                                         known_alive_on="2026-04-08")["record_hash"]
    h["lost"] = inv.lost_to_follow_up("P-003", on="2026-03-20", attempts=3,
                                      last_attempt_on="2026-04-05")["record_hash"]
    trial.services.views.catch_up()
    yield Clinical(trial, tokens, h)
    trial.services.close()


# -- the documents -----------------------------------------------------------------------------

def _odm(clinical: Clinical, role: str = "inspector") -> etree._Element:
    services = clinical.trial.services
    body = b"".join(odm_document(services, role, cut(services), created=created_now(services)))
    return etree.fromstring(body)


def _casebook(clinical: Clinical, pid: str, role: str = "inspector") -> str:
    services = clinical.trial.services
    pdf = casebook_pdf(services, Reader(f"{role}-reader", "A Reader", role), [pid], cut(services),
                       made_at="2026-04-09T10:00:00Z")
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def _page(clinical: Clinical, author: str, pid: str) -> str:
    return _get(clinical, author, f"/ui/participants/{pid}")


def _get(clinical: Clinical, author: str, path: str) -> str:
    """A viewer page as `author` sees it."""
    http = TestClient(clinical.trial.http.app)
    got = http.post("/ui/login", data={"token": clinical.tokens[author], "next": "/ui/"},
                    follow_redirects=False)
    assert got.status_code == 303
    page = http.get(path)
    assert page.status_code == 200, page.text[:300]
    return page.text


def _seen(page: str) -> str:
    """What a reader sees: the page's text without tags."""
    body = page.split("<body>", 1)[-1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _group(odm: etree._Element, pid: str, kind: str) -> list[tuple[str, dict[str, str]]]:
    """(study event, items) of every repeat of `kind`'s item group on subject `pid`."""
    out = []
    for group in odm.xpath(f"//o:SubjectData[@SubjectKey='{pid}']//o:ItemGroupData"
                           f"[@ItemGroupOID='IG.{kind}']", namespaces=NS):
        event = group.getparent().getparent().get("StudyEventOID")
        out.append((event, {i.get("ItemOID").removeprefix(f"IT.{kind}."): i.get("Value")
                            for i in group.xpath("o:ItemData", namespaces=NS)}))
    return out


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


# -- R46, R47 ----------------------------------------------------------------------------------

def test_r46_a_reported_deviation_and_a_missed_visit_appear_in_the_participant_view_the_audit_trail_the_casebook_and_odm(  # noqa: E501
        clinical: Clinical, schema: etree.XMLSchema) -> None:
    h = clinical.hashes
    # the participant view: the missed visit in the schedule, the deviations with their status
    page = _page(clinical, "insp-001", "P-001")
    row = page.split('data-scheduled="week_4"', 1)[1].split("</tr>", 1)[0]
    assert "missed: in hospital abroad" in row and h["missed"][:12] in row
    done = page.split('data-scheduled="week_1"', 1)[1].split("</tr>", 1)[0]
    assert "done on 2026-03-09" in done
    late = _seen(page.split(f'data-deviation="{h["late"]}"', 1)[1].split("</tr>", 1)[0])
    assert "visit window: week 1 seen a day after the planned day" in late
    assert "resolved on 2026-03-10" in late and "visit reminders by phone" in late
    still = _seen(page.split(f'data-deviation="{h["open"]}"', 1)[1].split("</tr>", 1)[0])
    assert "reported by mon-001" in still and "major" in still and "open" in still
    # the audit trail: every one of them, with its payload
    rows = {r["record_hash"]: r for r in audit_rows(clinical.trial.services, "inspector",
                                                    AuditFilter(participant="P-001"))}
    assert rows[h["missed"]]["type"] == "visit.missed"
    assert rows[h["missed"]]["new"] == {"visit": "week_4", "reason": "in hospital abroad"}
    assert rows[h["late"]]["new"]["record"] == h["week_1"]
    assert rows[h["resolved"]]["new"]["deviation"] == h["late"]
    assert rows[h["open"]]["author"] == "mon-001" and rows[h["open"]]["role"] == "monitor"
    # the casebook
    book = _casebook(clinical, "P-001")
    assert "Missed: in hospital abroad" in book and h["missed"] in book
    assert ("Reported: visit window, minor, occurred 2026-03-09 — week 1 seen a day after the "
            "planned day (resolved on 2026-03-10)") in book
    assert "corrective action: visit reminders by phone" in book
    assert ("Reported: procedure, major, occurred 2026-03-09 — ascites graded without an "
            "ultrasound (open)") in book
    # ODM: both in the visit's study event, the file valid
    odm = _odm(clinical)
    assert schema.validate(odm), schema.error_log
    assert _group(odm, "P-001", "visit.missed") == [
        ("SE.week_4", {"visit": "week_4", "reason": "in hospital abroad"})]
    [(event, items)] = _group(odm, "P-001", "deviation.reported")[:1]
    assert event == "SE.week_1" and items["record"] == h["week_1"]
    assert [e for e, _ in _group(odm, "P-001", "deviation.resolved")] == ["SE.week_1"]
    # a deviation that names no record sits with the trial's records
    assert ("SE.TRIAL", "ascites graded without an ultrasound") in [
        (e, i["description"]) for e, i in _group(odm, "P-001", "deviation.reported")]


def test_r47_medications_with_start_and_stop_in_the_casebook_and_odm(
        clinical: Clinical, schema: etree.XMLSchema) -> None:
    h = clinical.hashes
    book = _casebook(clinical, "P-001")
    assert ("furosemide (diuretic) for ascites, 40 mg daily, oral, from 2026-02-10, stopped "
            "2026-02-28") in book
    assert "category: diuretic; start 2026-02-10; stop 2026-02-28; ongoing: no" in book
    assert ("human albumin 20% (albumin) for hypoalbuminaemia, from 2026-03-01, stopped "
            "2026-03-08") in book
    assert f"stopped by record {h['stopped']}" in book and h["albumin"] in book
    odm = _odm(clinical)
    assert schema.validate(odm), schema.error_log
    courses = {i["name"]: i for _, i in _group(odm, "P-001", "medication.recorded")}
    assert courses["furosemide"]["start"] == "2026-02-10" and courses["furosemide"]["stop"] == "2026-02-28"
    assert courses["furosemide"]["ongoing"] == "false" and courses["furosemide"]["category"] == "diuretic"
    assert courses["human albumin 20%"]["ongoing"] == "true"
    assert [i for _, i in _group(odm, "P-001", "medication.stopped")] == [
        {"medication": h["albumin"], "stop": "2026-03-08"}]
    page = _page(clinical, "insp-001", "P-001")
    albumin = _seen(page.split(f'data-medication="{h["albumin"]}"', 1)[1].split("</tr>", 1)[0])
    assert "2026-03-01 stopped 2026-03-08" in albumin


# -- ODM ---------------------------------------------------------------------------------------

def test_odm_holds_every_new_type_valid_with_coded_reasons_as_cdisc_terms(
        clinical: Clinical, schema: etree.XMLSchema) -> None:
    odm = _odm(clinical)
    assert schema.validate(odm), schema.error_log
    groups = {g.get("ItemGroupOID") for g in odm.xpath("//o:ItemGroupData", namespaces=NS)}
    assert {f"IG.{t}" for t in NEW_TYPES} <= groups
    assert _group(odm, "P-002", "treatment.discontinued")[0][1]["reason"] == "ADVERSE EVENT"
    assert _group(odm, "P-002", "participant.withdrawn")[0][1]["reason"] == "WITHDRAWAL BY SUBJECT"
    assert _group(odm, "P-003", "participant.lost_to_follow_up")[0][1] == {
        "on": "2026-03-20", "attempts": "3", "last_attempt_on": "2026-04-05"}
    # the reason's item takes its values from the CDISC code list, each decoded in words
    item = odm.xpath("//o:ItemDef[@OID='IT.participant.withdrawn.reason']", namespaces=NS)[0]
    assert item.find("o:CodeListRef", NS).get("CodeListOID") == "CL.NCOMPLT"
    codes = {c.get("CodedValue"): c.findtext("o:Decode/o:TranslatedText", namespaces=NS)
             for c in odm.xpath("//o:CodeList[@OID='CL.NCOMPLT']/o:CodeListItem", namespaces=NS)}
    assert codes["WITHDRAWAL BY SUBJECT"] == "withdrawal by subject"
    assert codes["LOST TO FOLLOW-UP"] == "lost to follow-up"
    # a history's conditions: one item per value, numbered, each with its own type
    [(event, history)] = _group(odm, "P-001", "medical_history.recorded")
    assert event == "SE.TRIAL" and history["aetiology"] == "pbc"
    assert history["conditions.1.term"] == "type 2 diabetes" and history["conditions.1.ongoing"] == "true"
    assert history["conditions.2.term"] == "appendicitis" and "conditions.2.onset" not in history
    ongoing = odm.xpath("//o:ItemDef[@OID='IT.medical_history.recorded.conditions.1.ongoing']",
                        namespaces=NS)[0]
    assert ongoing.get("DataType") == "boolean"
    # the assessment's observation date, in the visit's event
    [(event, found)] = _group(odm, "P-001", "assessment.recorded")
    assert event == "SE.week_1" and found["observed_on"] == "2026-03-09"


# -- casebook ----------------------------------------------------------------------------------

def test_the_casebook_words_history_disposition_vital_status_and_observation_dates(
        clinical: Clinical) -> None:
    h = clinical.hashes
    book = _casebook(clinical, "P-001")
    assert ("aetiology of the liver disease: primary biliary cholangitis (PBC)") in book
    assert "type 2 diabetes, onset 2015-05-01, ongoing" in book and "appendicitis, resolved" in book
    assert "Assessment (observed 2026-03-09)" in book and h["history"] in book
    withdrawn = _casebook(clinical, "P-002")
    assert ("Treatment discontinued on 2026-03-03, reason: adverse event; the participant stays "
            "in follow-up") in withdrawn
    assert "Study exit: withdrawn from the study on 2026-04-01, reason: withdrawal by subject" in withdrawn
    assert "Vital status on 2026-04-08: alive, known alive on 2026-04-08" in withdrawn
    for what in ("discontinued", "withdrawn", "vital"):
        assert h[what] in withdrawn
    lost = _casebook(clinical, "P-003")
    assert ("Study exit: lost to follow-up on 2026-03-20 (last contact; 3 attempt(s) to reach, the "
            "last on 2026-04-05)") in lost


def test_adverse_events_in_the_casebook_the_page_and_odm_with_their_versions(
        clinical: Clinical, schema: etree.XMLSchema) -> None:
    h = clinical.hashes
    line = ("oesophageal variceal bleed, grade 4, serious (hospitalisation, life-threatening), onset "
            "2026-03-05, ended 2026-03-09, outcome recovered; relationship to the cells unlikely, to "
            "the procedure possible; action taken: dose not changed; expectedness open; of special "
            "interest: variceal bleeding")
    book = _casebook(clinical, "P-001")
    assert line in book
    assert f"reported in record {h['event']}" in book
    assert "last changed by inv-001 at 2026-03-10T" in book
    assert f"in record {h['event_resolved']}" in book
    assert f"earlier version in record {h['event_updated']}" in book  # before the resolution
    assert "site aware 2026-03-05T10:00:00" in book
    page = _page(clinical, "insp-001", "P-001")
    row = _seen(page.split(f'data-adverse-event="{h["event"]}"', 1)[1].split("</tr>", 1)[0])
    assert line + "; site aware 2026-03-05 10:00:00 UTC" in row
    assert "by inv-001 (2 earlier versions)" in row
    odm = _odm(clinical)
    assert schema.validate(odm), schema.error_log
    [(_, reported)] = _group(odm, "P-001", "adverse_event.reported")
    assert reported["grade"] == "3" and reported["serious"] == "true"
    # outcome and action taken as CDISC terms (AEOUT, AEACN), from their code lists
    assert reported["outcome"] == "RECOVERING/RESOLVING"
    assert reported["action_taken"] == "DOSE NOT CHANGED"
    for item, code_list in (("outcome", "OUT"), ("action_taken", "ACN")):
        oid = f"IT.adverse_event.reported.{item}"
        ref = odm.xpath(f"//o:ItemDef[@OID='{oid}']/o:CodeListRef", namespaces=NS)[0]
        assert ref.get("CodeListOID") == f"CL.{code_list}"
        assert odm.xpath(f"//o:CodeList[@OID='CL.{code_list}']/o:CodeListItem"
                         f"[@CodedValue='{reported[item]}']", namespaces=NS)
    [(_, updated)] = _group(odm, "P-001", "adverse_event.updated")
    assert updated["event"] == h["event"] and updated["grade"] == "4"
    assert [i for _, i in _group(odm, "P-001", "adverse_event.resolved")] == [
        {"event": h["event"], "end_on": "2026-03-09", "outcome": "RECOVERED/RESOLVED"}]


# -- the viewer and the audit export -----------------------------------------------------------

@pytest.mark.parametrize("pid", ["P-001", "P-002", "P-003"])
def test_the_participant_page_shows_the_new_records_in_words(clinical: Clinical, pid: str) -> None:
    page = _page(clinical, "insp-001", pid)
    seen = _seen(page)
    assert LITERAL.search(seen) is None, LITERAL.findall(seen)
    for code in ("withdrawal_by_subject", "adverse_event", "lost_to_follow_up", "visit_window", "pbc"):
        # codes read as words (an entry type such as participant.lost_to_follow_up is a name)
        assert re.search(rf"(?<![\w.]){code}(?![\w.])", seen) is None, code
    if pid == "P-001":
        assert "primary biliary cholangitis (PBC), taken on 2026-03-01" in seen
        assert "type 2 diabetes, onset 2015-05-01, ongoing; appendicitis, resolved" in seen
        assert "Observed on 2026-03-09" in seen  # the assessment's observation date
    if pid == "P-002":
        disposition = _seen(page.split('data-testid="disposition"', 1)[1].split("</table>", 1)[0])
        assert "discontinued on 2026-03-03, reason: adverse event" in disposition
        assert "withdrawn from the study on 2026-04-01, reason: withdrawal by subject" in disposition
        assert "alive on 2026-04-08 (known alive on 2026-04-08)" in disposition
        assert "Reason withdrawal by subject" in seen  # the record's payload in the timeline, too
    if pid == "P-003":
        assert "lost to follow-up on 2026-03-20 (last contact; 3 attempt(s)" in seen


def test_the_audit_export_carries_every_new_record_readably(clinical: Clinical) -> None:
    rows = list(audit_rows(clinical.trial.services, "inspector", AuditFilter()))
    kinds = {r["type"] for r in rows}
    assert set(NEW_TYPES) <= kinds
    text = "".join(as_csv(iter(rows)))
    for r in rows:
        if r["type"] in NEW_TYPES:
            assert isinstance(r["new"], dict) and r["new"]  # the payload, field by field
            assert r["record_hash"] in text
    withdrawn = next(r for r in rows if r["type"] == "participant.withdrawn")
    assert withdrawn["new"] == {"on": "2026-04-01", "reason": "withdrawal_by_subject"}
    table = list(csv.DictReader(io.StringIO(text)))
    shown = next(r for r in table if r["record_hash"] == withdrawn["record_hash"])
    assert json.loads(shown["new"]) == withdrawn["new"] and shown["author"] == "inv-001"


def test_the_audit_search_and_the_record_pages_word_the_new_records(clinical: Clinical) -> None:
    h = clinical.hashes
    for kind in NEW_TYPES:
        raw = _get(clinical, "insp-001", f"/ui/audit?type={kind}")
        page = _seen(raw)
        assert LITERAL.search(page) is None, (kind, LITERAL.findall(page))
        written = [r.hash for r in clinical.trial.services.ledger.records() if r.type == kind]
        assert written and all(f'href="/ui/records/{r}"' in raw for r in written), kind
    withdrawn = _seen(_get(clinical, "insp-001", "/ui/audit?type=participant.withdrawn"))
    assert "Reason withdrawal by subject" in withdrawn
    expectations = {"discontinued": "Reason adverse event", "history": "Aetiology primary biliary "
                    "cholangitis (PBC)", "missed": "Reason in hospital abroad Visit Week 4",
                    "late": "Category visit window", "furosemide": "Dosage 40 mg daily",
                    "vital": "Known alive on 2026-04-08", "lost": "Attempts 3"}
    for what, words in expectations.items():
        page = _seen(_get(clinical, "insp-001", f"/ui/records/{h[what]}"))
        assert words in page, (what, words)
        assert LITERAL.search(page) is None, (what, LITERAL.findall(page))


def test_every_code_of_the_clinical_records_has_words_and_every_reason_a_cdisc_term() -> None:
    from typing import get_args

    from api.exports.clinical import cdisc_term, in_words, is_code
    from domain import deviations, disposition, history

    codes = {*disposition.REASONS, *get_args(history.Aetiology), *get_args(history.Category),
             *get_args(deviations.Category), *get_args(deviations.Severity), *deviations.SEVERITY,
             "alive", "dead", "unknown", "vital_status", "safety", "none", "withdrawn",
             "lost_to_follow_up", "completed"}
    for code in codes:
        assert is_code(code) and "_" not in in_words(code), code
    for reason in disposition.REASONS:
        assert re.fullmatch(r"[A-Z][A-Z -]+", cdisc_term(reason)), reason
    assert cdisc_term("lost_to_follow_up") == "LOST TO FOLLOW-UP"
    from api.exports.clinical import CODE_LISTS
    from domain import adverse_events

    assert set(CODE_LISTS["OUT"]) == set(get_args(adverse_events.Outcome))
    assert set(CODE_LISTS["ACN"]) == set(get_args(adverse_events.Action))
    assert not is_code("participant's own decision")


# -- blinding ----------------------------------------------------------------------------------

def test_r27_no_new_record_shows_an_arm_or_a_dose_to_a_blinded_monitor(clinical: Clinical) -> None:
    services = clinical.trial.services
    seen: dict[str, str] = {}
    for pid in ("P-001", "P-002", "P-003"):
        seen[f"page {pid}"] = _seen(_page(clinical, "mon-001", pid))
        seen[f"casebook {pid}"] = _casebook(clinical, pid, "monitor")
    seen["odm"] = etree.tostring(_odm(clinical, "monitor")).decode()
    seen["audit"] = "".join(as_csv(r for r in audit_rows(services, "monitor", AuditFilter())
                                   if r["stream"].startswith("participant/")))  # the protocol names arms
    for where, text in seen.items():
        assert not ARM.search(text) and not DOSE.search(text), (where, ARM.search(text),
                                                                DOSE.search(text))
    # the same documents for the inspector name the arm: the scan can see what it looks for
    assert ARM.search(_seen(_page(clinical, "insp-001", "P-001")))
    assert ARM.search(etree.tostring(_odm(clinical)).decode())
