"""Deaths, liver transplants and the sponsor's expedited safety reports (docs/clinical.md, R44,
R45) in every document a reader gets: the casebook and the viewer's participant page in words
with the fatal adverse event linked, the CDISC ODM export (XSD-valid, the end state's disposition
as its CDISC term), the audit export and search, and none of them with an arm for a blinded
monitor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from lxml import etree

from api.exports.audit import AuditFilter, as_csv, audit_rows
from api.services.trial_setup import set_up_trial

from .conftest import LEDGER_PASS, ROOT_PASS, Clock, make_trial
from .test_clinical_exports import (
    ARM,
    DOSE,
    LITERAL,
    NS,
    Clinical,
    _casebook,
    _client,
    _enrol,
    _get,
    _group,
    _infuse,
    _odm,
    _page,
    _seen,
    schema,
)

__all__ = ["schema"]  # the XSD, a fixture shared with the other export tests
BLEED = {"term": "variceal bleeding", "onset_on": "2026-03-10", "serious": True,
         "relationship_cells": "unlikely", "relationship_procedure": "unlikely",
         "action_taken": "not_applicable", "special_interest": "variceal_bleeding",
         "aware_at": datetime(2026, 3, 10, 12, 0, tzinfo=UTC)}
TYPES = ("death.recorded", "transplant.recorded", "safety_report.submitted")


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinical]:
    """P-001 dies of a variceal bleed the safety officer reported; P-002 has a liver transplant."""
    folder = tmp_path_factory.mktemp("safety-records")
    trial = make_trial(f"sqlite:///{folder / 'ledger.db'}", folder / "home",
                       Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS,
                 system_passphrase=LEDGER_PASS, seed=b"s" * 32)
    tokens: dict[str, str] = {}
    inv = _client(trial, "inv-001", "investigator", "site-01", tokens)
    officer = _client(trial, "safety-001", "safety", "sponsor", tokens)
    _client(trial, "mon-001", "monitor", "sponsor", tokens)
    _client(trial, "insp-001", "inspector", "regulator", tokens)
    for pid in ("P-001", "P-002"):
        _enrol(inv, pid)
        _infuse(inv, trial, pid)
    trial.clock.step(days=10)  # 2026-03-12
    h: dict[str, str] = {}
    h["bleed"] = inv.report_adverse_event("P-001", grade=3, criteria=["hospitalisation"],
                                          outcome="not_recovered", **BLEED)["record_hash"]
    h["initial"] = officer.submit_safety_report(
        "P-001", event=h["bleed"], to="national competent authority",
        reference="SAE-2026-001")["record_hash"]
    h["fatal"] = inv.update_adverse_event(
        "P-001", event=h["bleed"], reason="the participant died of the bleed", grade=5,
        criteria=["hospitalisation", "death"], outcome="fatal", end_on="2026-03-11",
        **BLEED)["record_hash"]
    h["death"] = inv.record_death("P-001", died_on="2026-03-11", cause="variceal haemorrhage",
                                  liver_related=True, autopsy=False,
                                  event=h["bleed"])["record_hash"]
    h["follow_up"] = officer.submit_safety_report(
        "P-001", event=h["bleed"], to="ethics committee", reference="SAE-2026-001/FU1",
        kind="follow_up")["record_hash"]
    h["transplant"] = inv.record_transplant("P-002", transplanted_on="2026-03-10",
                                            graft="living_donor")["record_hash"]
    trial.services.views.catch_up()
    yield Clinical(trial, tokens, h)
    trial.services.close()


DIED = ("died on 2026-03-11, cause: variceal haemorrhage; liver related: yes; autopsy: no; fatal "
        "adverse event: variceal bleeding (grade 5)")
TRANSPLANTED = ("liver transplant on 2026-03-10, graft from a living donor; the trial's follow-up "
                "ended, safety follow-up goes on")


def test_r45_the_casebook_words_the_death_with_its_fatal_event_and_the_transplant(
        records: Clinical) -> None:
    h = records.hashes
    book = _casebook(records, "P-001")
    assert f"Death (end of follow-up): {DIED}" in book
    assert h["death"] in book and f"fatal adverse event reported in record {h['bleed']}" in book
    assert "Stage: died" in book and "Study exit: none" not in book  # its own end, no withdrawal
    transplanted = _casebook(records, "P-002")
    assert f"Liver transplant: {TRANSPLANTED}" in transplanted and h["transplant"] in transplanted


def test_r44_the_casebook_shows_each_expedited_report_beside_its_event(records: Clinical) -> None:
    h = records.hashes
    book = _casebook(records, "P-001")
    assert "variceal bleeding, grade 5, serious (hospitalisation, death)" in book  # the AE section
    assert ("expedited safety report: initial report to national competent authority, reference "
            "SAE-2026-001, submitted by safety-001 at") in book
    assert ("expedited safety report: follow-up report to ethics committee, reference "
            "SAE-2026-001/FU1") in book
    for what in ("initial", "follow_up", "fatal"):
        assert h[what] in book


def test_r45_the_participant_page_words_the_death_the_transplant_and_the_reports(
        records: Clinical) -> None:
    h = records.hashes
    page = _page(records, "insp-001", "P-001")
    seen = _seen(page)
    assert LITERAL.search(seen) is None, LITERAL.findall(seen)
    for code in ("follow_up", "living_donor", "not_recovered", "variceal_bleeding"):
        assert re.search(rf"(?<![\w.]){code}(?![\w.])", seen) is None, code
    death = page.split('data-testid="death"', 1)[1].split("</td>", 1)[0]
    assert DIED in _seen(death)
    assert f'href="/ui/records/{h["death"]}"' in death and f'href="/ui/records/{h["bleed"]}"' in death
    assert _seen(page.split('data-testid="stage"', 1)[1].split("</td>", 1)[0]).endswith("died")
    row = page.split(f'data-adverse-event="{h["bleed"]}"', 1)[1].split("</tr>", 1)[0]
    assert "initial report to national competent authority, reference SAE-2026-001" in _seen(row)
    assert "follow-up report to ethics committee" in _seen(row)
    assert f'href="/ui/records/{h["initial"]}"' in row
    transplanted = _page(records, "insp-001", "P-002")
    cell = transplanted.split('data-testid="transplant"', 1)[1].split("</td>", 1)[0]
    assert TRANSPLANTED in _seen(cell) and f'href="/ui/records/{h["transplant"]}"' in cell


def test_r45_odm_holds_deaths_transplants_and_reports_valid_with_cdisc_disposition_terms(
        records: Clinical, schema: etree.XMLSchema) -> None:
    h = records.hashes
    odm = _odm(records)
    assert schema.validate(odm), schema.error_log
    [(event, death)] = _group(odm, "P-001", "death.recorded")
    assert event == "SE.TRIAL" and death == {
        "died_on": "2026-03-11", "cause": "variceal haemorrhage", "liver_related": "true",
        "autopsy": "false", "event": h["bleed"], "DSDECOD": "DEATH"}
    [(_, transplant)] = _group(odm, "P-002", "transplant.recorded")
    assert transplant == {"transplanted_on": "2026-03-10", "graft": "living_donor",
                          "DSDECOD": "OTHER", "DSTERM": "liver transplantation"}
    # the disposition's item takes its value from the CDISC code list, decoded in words
    for kind, term in (("death.recorded", "DEATH"), ("transplant.recorded", "OTHER")):
        ref = odm.xpath(f"//o:ItemDef[@OID='IT.{kind}.DSDECOD']/o:CodeListRef", namespaces=NS)[0]
        assert ref.get("CodeListOID") == "CL.NCOMPLT"
        assert odm.xpath(f"//o:CodeList[@OID='CL.NCOMPLT']/o:CodeListItem[@CodedValue='{term}']",
                         namespaces=NS)
    reports = [items for _, items in _group(odm, "P-001", "safety_report.submitted")]
    assert [(r["event"], r["kind"], r["reference"]) for r in reports] == [
        (h["bleed"], "initial", "SAE-2026-001"), (h["bleed"], "follow_up", "SAE-2026-001/FU1")]
    [(_, fatal)] = _group(odm, "P-001", "adverse_event.updated")
    assert (fatal["grade"], fatal["outcome"]) == ("5", "FATAL")
    officer = odm.xpath("//o:User[@OID='USR.safety-001']", namespaces=NS)[0]
    assert officer.get("UserType") == "Sponsor"


def test_r45_the_audit_export_and_search_carry_the_new_records_in_words(records: Clinical) -> None:
    h = records.hashes
    rows = {r["record_hash"]: r for r in audit_rows(records.trial.services, "inspector",
                                                    AuditFilter())}
    assert rows[h["death"]]["new"] == {"died_on": "2026-03-11", "cause": "variceal haemorrhage",
                                       "liver_related": True, "autopsy": False, "event": h["bleed"]}
    assert (rows[h["initial"]]["role"], rows[h["initial"]]["new"]["to"]) == \
        ("safety", "national competent authority")
    assert rows[h["transplant"]]["new"] == {"transplanted_on": "2026-03-10", "graft": "living_donor"}
    for kind in TYPES:
        raw = _get(records, "insp-001", f"/ui/audit?type={kind}")
        assert LITERAL.search(_seen(raw)) is None, kind
        assert any(f'href="/ui/records/{h[w]}"' in raw for w in ("death", "transplant", "initial"))
    words = {"death": ("Died on 2026-03-11", "Liver related yes", "Autopsy no",
                       "Adverse event record"),
             "transplant": ("Transplanted on 2026-03-10", "Graft living donor"),
             "follow_up": ("Kind follow-up report", "Reported to ethics committee"),
             "fatal": ("Seriousness criteria hospitalisation, death", "Outcome fatal")}
    for what, expected in words.items():
        page = _get(records, "insp-001", f"/ui/records/{h[what]}")
        seen = _seen(page)
        assert all(w in seen for w in expected), (what, seen[:600])
        assert LITERAL.search(seen) is None, what
    linked = _get(records, "insp-001", f"/ui/records/{h['death']}")
    assert f'href="/ui/records/{h["bleed"]}"' in linked  # the fatal event, one click away


def test_r27_a_blinded_monitor_sees_the_safety_records_but_no_arm_or_dose(
        records: Clinical) -> None:
    services = records.trial.services
    seen: dict[str, str] = {}
    for pid in ("P-001", "P-002"):
        seen[f"page {pid}"] = _seen(_page(records, "mon-001", pid))
        seen[f"casebook {pid}"] = _casebook(records, pid, "monitor")
    seen["odm"] = etree.tostring(_odm(records, "monitor")).decode()
    seen["audit"] = "".join(as_csv(r for r in audit_rows(services, "monitor", AuditFilter())
                                   if r["stream"].startswith("participant/")))
    for where, text in seen.items():
        assert not ARM.search(text) and not DOSE.search(text), (where, ARM.search(text))
    assert DIED in seen["page P-001"] and DIED in seen["casebook P-001"]
    assert "SAE-2026-001" in seen["page P-001"] and TRANSPLANTED in seen["casebook P-002"]
    assert ARM.search(_seen(_page(records, "insp-001", "P-001")))  # the scan can see an arm
