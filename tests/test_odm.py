"""CDISC ODM 1.3.2 export (R36, and R13 for ODM): the demo trial's export validates against the
CDISC XSD; every transaction carries an AuditRecord naming its record; no Upsert; ordering rules;
signatures show printed name, time and meaning; blinded roles get a masked file."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from api.cli.main import app
from api.demo.simulation import PASSPHRASE

from .conftest import DemoTrial

XSD = Path(__file__).resolve().parent / "data" / "odm-1.3.2" / "ODM1-3-2.xsd"
NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
TX = ("Insert", "Update", "Remove")


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    if not XSD.exists():
        pytest.fail(f"the ODM 1.3.2 schema is missing at {XSD}")
    return etree.XMLSchema(etree.parse(str(XSD)))


def _export(demo: DemoTrial, who: str) -> tuple[etree._Element, str]:
    from fastapi.testclient import TestClient

    from api.http.app import create_app

    with TestClient(create_app(demo.services)) as http:
        got = http.get("/v1/export/odm", headers={"Authorization": f"Bearer {demo.tokens[who]}"})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/xml")
    return etree.fromstring(got.content), got.headers["X-Export-Record"]


@pytest.fixture(scope="module")
def inspector_odm(demo: DemoTrial) -> etree._Element:
    return _export(demo, "insp-01")[0]


def test_r36_the_demo_trials_odm_export_validates_against_the_odm_1_3_2_xsd(
        inspector_odm: etree._Element, schema: etree.XMLSchema) -> None:
    assert schema.validate(inspector_odm), schema.error_log
    root = inspector_odm
    assert root.get("FileType") == "Transactional" and root.get("Archival") == "Yes"
    assert root.get("ODMVersion") == "1.3.2"
    assert not root.xpath("//*[@TransactionType='Upsert']")
    assert len(root.xpath("//o:SubjectData", namespaces=NS)) > 100


def test_r36_every_transaction_has_an_audit_record_whose_source_is_a_record(
        demo: DemoTrial, inspector_odm: etree._Element) -> None:
    records = {r.hash: r for r in demo.services.ledger.records() if r.stream.startswith("participant/")}
    sources: set[str] = set()
    for element in inspector_odm.xpath("//*[@TransactionType]"):
        if element.get("TransactionType") not in TX:
            continue
        audit = element.find("o:AuditRecord", NS)
        assert audit is not None, etree.tostring(element)[:200]
        source = audit.findtext("o:SourceID", namespaces=NS)
        record = records[source]  # SourceID is the hash of a participant record in the log
        assert audit.findtext("o:DateTimeStamp", namespaces=NS) == record.recorded_at
        assert audit.find("o:UserRef", NS).get("UserOID") == f"USR.{record.entry.fields['author']}"
        assert audit.findtext("o:ReasonForChange", namespaces=NS) == record.entry.fields["reason"]
        sources.add(source)
    cut = int(inspector_odm.get("FileOID").split(".odm.")[1].split(".")[0])
    in_cut = {r.hash for i, r in enumerate(demo.services.ledger.records())
              if i < cut and r.stream.startswith("participant/")}
    assert sources == in_cut  # complete and non-redundant up to the checkpoint


def test_r36_ordering_rules_hold_per_entity_and_corrections_update_the_item(
        inspector_odm: etree._Element) -> None:
    created = inspector_odm.get("CreationDateTime")
    stamps = inspector_odm.xpath("//o:DateTimeStamp/text()", namespaces=NS)
    assert stamps and max(stamps) < created  # every stamp precedes the file's creation (§2.10)
    history: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    for item in inspector_odm.xpath("//o:ItemData[@TransactionType]", namespaces=NS):
        group = item.getparent()
        event = group.getparent().getparent()
        key = (event.getparent().get("SubjectKey"), event.get("StudyEventOID"), item.get("ItemOID"))
        history[key].append((item.get("TransactionType"),
                             item.findtext("o:AuditRecord/o:DateTimeStamp", namespaces=NS)))
    for key, changes in history.items():
        times = [t for _, t in changes]
        assert times == sorted(times), key  # transactions on an entity in temporal order
        assert changes[0][0] == "Insert", key  # an Update or Remove only follows an Insert
    corrected = inspector_odm.xpath("//o:ItemData[@TransactionType='Update']", namespaces=NS)
    assert corrected, "the demo trial corrects a lab value"
    for item in corrected:
        assert item.findtext("o:AuditRecord/o:ReasonForChange", namespaces=NS)
    # a signature on a subject comes after every transaction on it (signed data precedes)
    subjects = inspector_odm.xpath("//o:SubjectData", namespaces=NS)
    signed = [n for n, s in enumerate(subjects) if s.find("o:Signature", NS) is not None]
    assert signed
    for n in signed:
        key = subjects[n].get("SubjectKey")
        assert subjects[n].get("TransactionType") == "Update"
        assert not [s for s in subjects[n + 1:] if s.get("SubjectKey") == key
                    and s.xpath(".//o:DateTimeStamp/text()", namespaces=NS)[0]
                    < subjects[n].findtext("o:Signature/o:DateTimeStamp", namespaces=NS)]


def test_r13_odm_signatures_show_printed_name_time_and_meaning(
        demo: DemoTrial, inspector_odm: etree._Element) -> None:
    users = {u.get("OID"): u.findtext("o:FullName", namespaces=NS)
             for u in inspector_odm.xpath("//o:AdminData/o:User", namespaces=NS)}
    meanings = {d.get("OID"): d.findtext("o:Meaning", namespaces=NS)
                for d in inspector_odm.xpath("//o:AdminData/o:SignatureDef", namespaces=NS)}
    names = {k.author: k.name for k in demo.services.ledger.registry().keys.values()}
    signatures = inspector_odm.xpath("//o:Signature", namespaces=NS)
    assert len(signatures) >= len(inspector_odm.xpath("//o:SubjectData", namespaces=NS))
    for signature in signatures:
        user = signature.find("o:UserRef", NS).get("UserOID")
        assert users[user] == names[user.removeprefix("USR.")]  # the printed name
        assert signature.findtext("o:DateTimeStamp", namespaces=NS).endswith("Z")  # UTC
        assert meanings[signature.find("o:SignatureRef", NS).get("SignatureOID")] in (
            "authorship", "review", "approval", "responsibility", "verification")
    sign_offs = inspector_odm.xpath("//o:SubjectData/o:Signature", namespaces=NS)
    assert sign_offs and all(s.find("o:SignatureRef", NS).get("SignatureOID") == "SD.approval"
                             for s in sign_offs)
    assert users["USR.inv-01"] == "Dr Lan Nguyen"


def test_r36_a_blinded_monitor_gets_a_valid_file_without_arm_or_dose(
        demo: DemoTrial, schema: etree.XMLSchema, inspector_odm: etree._Element) -> None:
    masked, _ = _export(demo, "mon-01")
    assert schema.validate(masked), schema.error_log
    assert "Exported for a blinded role" in masked.get("Description")
    text = etree.tostring(masked).decode()
    for revealing in ('Value="low"', 'Value="medium_high"', "cells_per_kg", "total_cells"):
        assert revealing in etree.tostring(inspector_odm).decode()  # the unmasked file has it
        assert revealing not in text
    withheld = masked.xpath("//o:ItemGroupData[o:Annotation]", namespaces=NS)
    assert withheld and all(not g.xpath("o:ItemData", namespaces=NS) for g in withheld)


def test_r36_each_odm_export_is_recorded_and_only_exporting_roles_may_ask(demo: DemoTrial) -> None:
    from fastapi.testclient import TestClient

    from api.http.app import create_app

    _, record = _export(demo, "dm-01")
    made = [r for r in demo.services.ledger.stream("exports") if r.hash == record]
    assert made and made[0].payload()["what"] == "odm" and made[0].payload()["by"] == "dm-01"
    with TestClient(create_app(demo.services)) as http:
        refused = http.get("/v1/export/odm", headers={"Authorization": f"Bearer {demo.tokens['inv-01']}"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"


def test_export_odm_on_the_cli_writes_a_valid_file(demo: DemoTrial, tmp_path: Path,
                                                    schema: etree.XMLSchema,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_LEDGER_PASSPHRASE", PASSPHRASE)
    out = tmp_path / "trial.xml"
    done = CliRunner().invoke(app, ["export", "odm", str(out), "--db", demo.url,
                                    "--home", str(demo.home)])
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "CDISC ODM 1.3.2" in done.stdout
    assert schema.validate(etree.parse(str(out))), schema.error_log
    bad = CliRunner().invoke(app, ["export", "odm", str(tmp_path / "missing" / "x.xml"), "--db",
                                   demo.url, "--home", str(demo.home)])
    assert bad.exit_code == 1 and "cannot write" in bad.stderr and "Traceback" not in bad.stderr


def test_the_odm_export_reports_progress_over_both_passes(demo: DemoTrial) -> None:
    from api.exports.odm import created_now, cut, odm_document

    at = cut(demo.services)
    seen: list[int] = []
    body = b"".join(odm_document(demo.services, "inspector", at, created=created_now(demo.services),
                                 progress=seen.append))
    assert body.startswith(b"<?xml") and sum(seen) == 2 * at.size
