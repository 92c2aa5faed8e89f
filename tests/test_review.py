"""Review: e-signatures (R13–R16, R18), SDV (R31), locks (R32)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from api.client.sdk import LedgerClient, LedgerClientError
from ledger.keys import save_private_key

from .conftest import Trial
from .test_labs import WEEK_4, refused, treated


def keyed(client: LedgerClient, tmp_path: Path) -> Path:
    """The client's key as its owner keeps it: a passphrase-encrypted file (written once)."""
    path = tmp_path / f"{client.signer.author}.key"
    if not path.exists():
        save_private_key(client.signer.key, path, "my-passphrase")
    return path


def test_r13_signature_shows_printed_name_utc_time_and_meaning(trial: Trial, tmp_path: Path) -> None:
    client, _ = treated(trial)
    name = "Inv-001"  # the printed name registered with the key (conftest: author.title())
    with pytest.raises(LedgerClientError) as caught:
        client.sign_off("P-001", printed_name="Somebody Else", statement="I approve",
                        key_file=keyed(client, tmp_path), passphrase="my-passphrase")
    assert caught.value.rule == "signoff.printed_name"
    client.sign_off("P-001", printed_name=name, statement="I approve these records",
                    key_file=keyed(client, tmp_path), passphrase="my-passphrase", meaning="approval")
    (signature,) = client.participant("P-001")["signoffs"]
    assert signature["printed_name"] == name and signature["meaning"] == "approval"
    assert signature["at"].endswith("+00:00") and signature["status"] == "valid"
    row = client.history("P-001")[-1]
    assert row["type"] == "signoff.signed" and row["meaning"] == "approval"
    assert row["recorded_at"].endswith("Z")
    assert refused(client.append, "participant/P-001", "signoff.signed",
                   {"printed_name": name, "statement": "x"}, meaning="authorship") == "signoff.meaning"


def test_r14_signoff_is_bound_to_the_hash_of_the_records_it_signs(trial: Trial, tmp_path: Path) -> None:
    client, _ = treated(trial)
    last = trial.services.ledger.head("participant/P-001")
    signed = client.sign_off("P-001", printed_name="Inv-001", statement="ok",
                             key_file=keyed(client, tmp_path), passphrase="my-passphrase")
    record = trial.services.ledger.stream("participant/P-001")[-1]
    assert record.hash == signed["record_hash"]
    assert record.entry.fields["prev"] == last.record_hash  # the exact version it signs
    assert client.participant("P-001")["signoffs"][0]["signed_record"] == last.record_hash


def test_r15_a_later_change_supersedes_the_signoff_which_stays_in_history(trial: Trial,
                                                                          tmp_path: Path) -> None:
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    client.sign_off("P-001", printed_name="Inv-001", statement="week 4 reviewed",
                    key_file=keyed(client, tmp_path), passphrase="my-passphrase")
    query = monitor.open_query("P-001", record=first["record_hash"], field="value", text="check")
    assert client.participant("P-001")["signoffs"][0]["status"] == "valid"  # a query is no change
    client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                       reason="transcription error", query=query["record_hash"])
    (old,) = client.participant("P-001")["signoffs"]
    assert old["status"] == "superseded"
    assert any(r["type"] == "signoff.signed" for r in client.history("P-001"))
    client.sign_off("P-001", printed_name="Inv-001", statement="re-signed after correction",
                    key_file=keyed(client, tmp_path), passphrase="my-passphrase")
    assert [s["status"] for s in client.participant("P-001")["signoffs"]] == ["superseded", "valid"]


def test_r16_each_signature_needs_the_key_and_its_passphrase(trial: Trial, tmp_path: Path) -> None:
    client, _ = treated(trial)
    with pytest.raises(Exception, match="wrong passphrase"):
        client.sign_off("P-001", printed_name="Inv-001", statement="ok",
                        key_file=keyed(client, tmp_path), passphrase="guess")
    other = tmp_path / "other.key"
    from ledger.keys import generate

    save_private_key(generate(), other, "my-passphrase")
    with pytest.raises(LedgerClientError) as caught:
        client.sign_off("P-001", printed_name="Inv-001", statement="ok", key_file=other,
                        passphrase="my-passphrase")
    assert caught.value.rule == "auth.not_your_key"
    assert client.participant("P-001")["signoffs"] == []


def test_r18_machine_credentials_append_data_but_never_sign(trial: Trial) -> None:
    _, _ = treated(trial)
    interface = trial.client("lab-if-1", role="lab_interface", site="site-01")
    interface.record_lab("P-001", visit="week_4", analyte="ALT", value=40.0, unit="U/L",
                         sampled_at=WEEK_4)
    assert refused(interface.append, "participant/P-001", "signoff.signed",
                   {"printed_name": "Lab-If-1", "statement": "x"}, meaning="approval") == \
        "entry.role_not_allowed"


def test_r31_sdv_per_visit_and_form_by_the_monitor(trial: Trial) -> None:
    client, monitor = treated(trial)
    monitor.sdv("P-001", visit="week_4", form="labs", level="partial")
    monitor.sdv("P-001", visit="week_4", form="labs", level="full")
    sdv = client.participant("P-001")["sdv"]["week_4/labs"]
    assert sdv["level"] == "full" and sdv["by"] == "mon-001"
    assert refused(client.sdv, "P-001", visit="week_4", form="labs", level="full") == "entry.role_not_allowed"
    assert refused(monitor.sdv, "P-001", visit="week_4", form="labs", level="most") == "payload.invalid"


def test_r32_a_lock_refuses_data_until_an_unlock_with_a_reason(trial: Trial) -> None:
    client, _ = treated(trial)
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=56.0, unit="U/L",
                              sampled_at=WEEK_4)
    manager.lock("P-001", scope="week_4")
    assert refused(client.record_lab, "P-001", visit="week_4", analyte="AST", value=70.0, unit="U/L",
                   sampled_at=WEEK_4) == "lock.locked"
    client.record_lab("P-001", visit="week_1", analyte="ALT", value=50.0, unit="U/L",
                      sampled_at=WEEK_4 - timedelta(days=21))  # another visit is open
    assert refused(manager.unlock, "P-001", scope="week_4", reason=None) == "lock.reason_required"
    manager.unlock("P-001", scope="week_4", reason="late lab report received")
    late = client.record_lab("P-001", visit="week_4", analyte="AST", value=70.0, unit="U/L",
                             sampled_at=WEEK_4)
    seen = client.participant("P-001")
    assert late["record_hash"] in seen["post_lock"] and first["record_hash"] not in seen["post_lock"]
    manager.lock("P-001", scope="casebook")
    assert refused(client.record_lab, "P-001", visit="week_8", analyte="ALT", value=50.0, unit="U/L",
                   sampled_at=WEEK_4 + timedelta(days=28)) == "lock.locked"


def test_r30_week4_alt_queried_corrected_history_and_signoff_superseded(trial: Trial,
                                                                       tmp_path: Path) -> None:
    """The whole story through the SDK: entered, signed, queried on its field, corrected with the
    query id and a reason; the history shows both values with who, when and why; the earlier
    sign-off shows as superseded."""
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    client.sign_off("P-001", printed_name="Inv-001", statement="week 4 labs reviewed",
                    key_file=keyed(client, tmp_path), passphrase="my-passphrase")
    query = monitor.open_query("P-001", record=first["record_hash"], field="value",
                               text="ALT 560 U/L: please check against the lab report")
    client.answer_query("P-001", query=query["record_hash"], text="lab report says 56.0")
    fixed = client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                               reason="transcription error", query=query["record_hash"])
    monitor.close_query("P-001", query=query["record_hash"])
    rows = {r["record_hash"]: r for r in client.history("P-001")}
    opened = rows[query["record_hash"]]
    assert opened["payload"]["record"] == first["record_hash"] and opened["payload"]["field"] == "value"
    old, new = rows[first["record_hash"]], rows[fixed["record_hash"]]
    assert (old["payload"]["value"], old["author"]) == (560.0, "inv-001")
    assert (new["payload"]["value"], new["author"], new["reason"]) == (56.0, "inv-001",
                                                                      "transcription error")
    assert new["payload"]["query"] == query["record_hash"] and old["recorded_at"] < new["recorded_at"]
    seen = client.participant("P-001")
    assert seen["queries"][query["record_hash"]]["status"] == "closed"
    assert [s["status"] for s in seen["signoffs"]] == ["superseded"]
    assert refused(client.correct_lab, "P-001", supersedes=fixed["record_hash"], value=57.0,
                   unit="U/L", reason="x", query="f" * 64) == "query.unknown"
    assert refused(monitor.answer_query, "P-001", query=query["record_hash"], text="late") == \
        "entry.role_not_allowed"
