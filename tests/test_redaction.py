"""R7: history changes only through a justified redaction, which hides the content but keeps
who, when and why; every signature, chain link and proof still verifies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdf
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.client.sdk import LedgerClient, LedgerClientError
from ledger import merkle
from ledger.entry import Record
from ledger.tree import iter_leaves
from ledger.verify import verify_log

from .conftest import Trial
from .test_labs import WEEK_4, refused, treated
from .test_review import keyed

REASON = "participant's name typed into a free-text field"


def _setup(trial: Trial) -> tuple[LedgerClient, LedgerClient, dict[str, object]]:
    investigator = trial.client("inv-001")
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    registered = investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02",
                                                   weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    return investigator, manager, registered


def _verify(trial: Trial) -> dict[str, object]:
    tree = trial.services.ledger.tree
    report = verify_log(trial.services.store.iter_log(), checkpoints=[c.note for c in tree.checkpoints()],
                        leaves=iter_leaves(tree), root=trial.info.root_fingerprint)
    return report.as_dict()


def test_r07_redaction_hides_content_keeps_who_when_why_and_every_proof(trial: Trial) -> None:
    _, manager, registered = _setup(trial)
    target = str(registered["record_hash"])
    before = trial.services.ledger.stream("participant/P-001")[0]
    receipt = manager.redact(target, reason=REASON)

    after = trial.services.ledger.stream("participant/P-001")[0]
    assert after.sealed == before.sealed and after.hash == target      # the record itself stays
    assert after.payload_text is None and after.salt is None             # its content is gone
    assert after.redacted_by == receipt["record_hash"]
    with trial.services.store.read() as cur:  # the raw row, as the database holds it
        row = trial.services.store.stream_rows(cur, "participant/P-001")[0]
    assert b"1961-04-02" not in row.state and b"weight_kg" not in row.state

    report = _verify(trial)
    assert report["ok"] is True, report["findings"]
    (redaction,) = report["redactions"]  # type: ignore[misc]
    assert redaction["record"] == target and redaction["author"] == "dm-001"
    assert redaction["role"] == "data_manager" and redaction["reason"] == REASON
    assert redaction["recorded_at"] == receipt["recorded_at"]

    tree = trial.services.ledger.tree
    size = tree.size()
    latest = tree.latest_checkpoint()
    assert latest is not None and latest.size == size
    leaf = tree.leaf_by_hash(target)
    merkle.verify_inclusion(leaf.leaf_index, size, merkle.leaf_hash(after.sealed),
                            tree.inclusion_proof(leaf.leaf_index, size), latest.root)

    view = manager.participant("P-001")
    assert view["status"] == "consented" and view["sex"] is None and view["date_of_birth"] is None
    _, token = trial.user("mon-001", role="monitor")
    shown = trial.http.get(f"/v1/records/{target}", headers={"Authorization": f"Bearer {token}"}).json()
    assert shown["record"]["payload"] is None and shown["record"]["redacted_by"] == receipt["record_hash"]
    rows = trial.http.get("/v1/audit", params={"limit": 1000},
                          headers={"Authorization": f"Bearer {token}"}).json()["rows"]
    row = next(r for r in rows if r["record_hash"] == target)  # who, when, why stay; content goes
    assert row["redacted"] is True and row["new"] is None
    assert (row["type"], row["author"], row["recorded_at"]) == \
        ("participant.registered", after.entry.fields["author"], after.recorded_at)


@pytest.mark.parametrize(("who", "payload", "reason", "rule"), [
    ("investigator", "target", REASON, "redaction.role"),
    ("manager", "target", None, "redaction.reason_required"),
    ("manager", "0" * 64, REASON, "redaction.unknown_record"),
    ("manager", "keys", REASON, "redaction.protected_stream"),
])
def test_r07_unjustified_redactions_are_refused(trial: Trial, who: str, payload: str,
                                                reason: str | None, rule: str) -> None:
    investigator, manager, registered = _setup(trial)
    target = {"target": str(registered["record_hash"]),
              "keys": trial.services.ledger.stream("keys")[1].hash}.get(payload, payload)
    before = trial.services.store.max_position()
    client = investigator if who == "investigator" else manager
    with pytest.raises(LedgerClientError) as caught:
        client.append("redactions", "record.redacted", {"record": target}, reason=reason)
    assert caught.value.status == 422 and caught.value.rule == rule
    assert trial.services.store.max_position() == before
    assert trial.services.ledger.stream("participant/P-001")[0].payload_text is not None


def test_r07_a_record_is_redacted_once(trial: Trial) -> None:
    _, manager, registered = _setup(trial)
    manager.append("redactions", "record.redacted", {"record": registered["record_hash"]}, reason=REASON)
    with pytest.raises(LedgerClientError) as caught:
        manager.append("redactions", "record.redacted", {"record": registered["record_hash"]},
                       reason=REASON)
    assert caught.value.rule == "redaction.already"


def test_r07_the_database_refuses_any_other_change(trial: Trial) -> None:
    _, manager, registered = _setup(trial)
    store = trial.services.store
    consent = trial.services.ledger.stream("participant/P-001")[1]
    # Removing a payload without a redaction is refused ...
    with pytest.raises(Exception, match="append-only"), store.transaction() as cur:
        cur.execute(f"UPDATE {store.qualify('stored_events')} SET state = {store.param} "
                    f"WHERE originator_id = {store.param} AND originator_version = 2",
                    (consent.redacted("a" * 64).stored_bytes(), "participant/P-001"))
    manager.append("redactions", "record.redacted", {"record": registered["record_hash"]}, reason=REASON)
    redacted = trial.services.ledger.stream("participant/P-001")[0]
    # ... and so is changing a redacted record's sealed bytes, or putting its payload back.
    forged = Record(redacted.sealed.replace(b"2026", b"2027"), redacted.entry, redacted.signature,
                    redacted.recorded_at, None, None, None, redacted.redacted_by)
    original = Record(redacted.sealed, redacted.entry, redacted.signature, redacted.recorded_at,
                      '{"x":1}', b"\0" * 32)
    for state in (forged.stored_bytes(), original.stored_bytes()):
        with pytest.raises(Exception, match="append-only"), store.transaction() as cur:
            cur.execute(f"UPDATE {store.qualify('stored_events')} SET state = {store.param} "
                        f"WHERE originator_id = {store.param} AND originator_version = 1",
                        (state, "participant/P-001"))
    assert _verify(trial)["ok"] is True


def test_r07_payload_removed_without_a_redaction_is_found(sqlite_trial: Trial, tmp_path: Path) -> None:
    import sqlite3

    _setup(sqlite_trial)
    record = sqlite_trial.services.ledger.stream("participant/P-001")[0]
    db = Path(sqlite_trial.services.store.url.removeprefix("sqlite:///"))
    sqlite_trial.services.close()
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute("UPDATE stored_events SET state = ? WHERE originator_id = 'participant/P-001' "
                     "AND originator_version = 1", (record.redacted("b" * 64).stored_bytes(),))
    result = CliRunner().invoke(app, ["verify", "--db", f"sqlite:///{db}", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(f["check"], f["stream"], f["version"]) for f in report["findings"]] == [
        ("payload.redaction", "participant/P-001", 1)]


def test_r07_lock_and_sdv_records_are_never_redacted(trial: Trial) -> None:
    """Their payloads hold no personal data, and a lock decides which entries are accepted."""
    client, monitor = treated(trial)
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    locked = manager.lock("P-001", scope="week_4")
    verified = monitor.sdv("P-001", visit="week_1", form="labs", level="full")
    for target in (locked, verified):
        with pytest.raises(LedgerClientError) as caught:
            manager.redact(str(target["record_hash"]), reason=REASON)
        assert caught.value.status == 422 and caught.value.rule == "redaction.protected_type"
    assert refused(client.record_lab, "P-001", visit="week_4", analyte="ALT", value=56.0,
                   unit="U/L", sampled_at=WEEK_4) == "lock.locked"  # the lock stands
    assert client.participant("P-001")["sdv"]["week_1/labs"]["level"] == "full"


def test_r07_a_redacted_signoff_stands_without_its_printed_name_and_statement(
        trial: Trial, tmp_path: Path) -> None:
    client, _ = treated(trial)
    signed = client.sign_off("P-001", printed_name="Inv-001", statement="week 4 reviewed",
                             key_file=keyed(client, tmp_path), passphrase="my-passphrase")
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    manager.redact(str(signed["record_hash"]), reason=REASON)
    (signoff,) = client.participant("P-001")["signoffs"]
    assert signoff["printed_name"] is None and signoff["statement"] is None
    assert signoff["status"] == "valid" and signoff["record_hash"] == signed["record_hash"]
    live = trial.services.views.fingerprints()
    trial.services.views.rebuild()  # the log folded from zero says the same
    assert trial.services.views.fingerprints() == live

    _, token = trial.user("dm-002", role="data_manager", site="sponsor")
    got = trial.http.get("/v1/export/casebook/P-001", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200
    pages = pypdf.PdfReader(io.BytesIO(got.content)).pages
    text = " ".join(" ".join(page.extract_text() for page in pages).split())
    assert "[redacted] — " in text and "[redacted]; signs record" in text
    assert "week 4 reviewed" not in text


def test_a_redacted_registration_still_keeps_another_sites_staff_out(trial: Trial) -> None:
    """Site staff's writes are judged by the participant's site, read from its registration; with
    that payload redacted the site comes from the views, and the answer is the same."""
    from api.services import sites

    investigator, manager, registered = _setup(trial)
    manager.redact(str(registered["record_hash"]), reason=REASON)
    sites._KNOWN_SITES.clear()  # as a process that starts now, with the payload gone
    elsewhere = trial.client("inv-201", role="investigator", site="site-02")
    consent = elsewhere.signer.sign(
        ledger=trial.info.origin, head=trial.services.ledger.head("participant/P-001"),
        type="consent.signed", occurred_at=trial.clock.now,
        payload={"form_version": "2.0", "signed_on": "2026-03-02"})
    written = trial.services.store.max_position()
    refused_write = elsewhere.http.post("/v1/entries", json=consent.__dict__)
    assert refused_write.status_code == 403, refused_write.text
    assert refused_write.json()["rule"] == "stream.not_writable"
    assert trial.services.store.max_position() == written
    assert elsewhere.http.get("/v1/streams/participant/P-001").status_code == 403
    # the participant's own site still writes (the check lets it through to the rules)
    answer = investigator.http.get("/v1/streams/participant/P-001")
    assert answer.status_code == 200
    assert sites.participant_site(trial.services, "P-001") == "site-01"
