"""The Merkle log over HTTP: receipts carry leaf and checkpoint; proofs verify client-side."""

from __future__ import annotations

import base64
from typing import Any

from ledger import merkle
from ledger.note import Checkpoint, NoteVerifier, open_checkpoint
from ledger.registry import LEDGER_AUTHOR

from .conftest import Trial


def _verifier(trial: Trial) -> NoteVerifier:
    ledger_key = next(k for k in trial.services.ledger.registry().keys.values()
                      if k.author == LEDGER_AUTHOR)
    return NoteVerifier(trial.info.origin, ledger_key.public_key)


def _b(proof: list[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in proof]


def _leaf_hashes(trial: Trial) -> list[bytes]:
    return [merkle.leaf_hash(r.sealed) for r in trial.services.ledger.records()]


def _populate(trial: Trial) -> list[dict[str, Any]]:
    client = trial.client("inv-001")
    receipts = []
    for n in range(1, 5):
        receipts.append(client.register_participant(f"P-00{n}", sex="F", date_of_birth="1960-01-01",
                                                     weight_kg=60 + n))
        receipts.append(client.sign_consent(f"P-00{n}", form_version="1.0", signed_on="2026-03-01"))
    return receipts


def test_receipt_carries_leaf_index_and_a_signed_checkpoint_covering_it(trial: Trial) -> None:
    receipts = _populate(trial)
    leaves = _leaf_hashes(trial)
    verifier = _verifier(trial)
    assert [r["leaf_index"] for r in receipts] == list(range(2, 10))  # genesis, user, then these
    for r in receipts:
        checkpoint, signers = open_checkpoint(r["checkpoint"].encode(), [verifier])
        assert signers == [trial.info.origin]
        assert checkpoint.origin == trial.info.origin
        assert checkpoint.size == r["leaf_index"] + 1
        assert checkpoint.root == merkle.root(leaves[: checkpoint.size])


def test_checkpoint_route_serves_the_latest_signed_note(trial: Trial) -> None:
    _populate(trial)
    response = trial.http.get("/v1/checkpoint")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    checkpoint, _ = open_checkpoint(response.content, [_verifier(trial)])
    assert checkpoint.size == 10 and checkpoint.root == merkle.root(_leaf_hashes(trial))


def test_record_route_includes_a_proof_that_verifies_against_the_checkpoint(trial: Trial) -> None:
    receipts = _populate(trial)
    _, token = trial.user("mon-001", role="monitor")
    for r in receipts:
        body = trial.http.get(f"/v1/records/{r['record_hash']}",
                              headers={"Authorization": f"Bearer {token}"}).json()
        checkpoint, _ = open_checkpoint(body["checkpoint"].encode(), [_verifier(trial)])
        record = body["record"]
        assert record["record_hash"] == r["record_hash"] and record["leaf_index"] == r["leaf_index"]
        merkle.verify_inclusion(record["leaf_index"], checkpoint.size,
                                merkle.leaf_hash(record["sealed"].encode()),
                                _b(body["inclusion"]["proof"]), checkpoint.root)


def test_inclusion_and_consistency_proofs_for_every_checkpointed_size(trial: Trial) -> None:
    _populate(trial)
    leaves = _leaf_hashes(trial)
    roots = {n: merkle.root(leaves[:n]) for n in range(1, len(leaves) + 1)}
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            body = trial.http.get("/v1/proofs/inclusion",
                                  params={"leaf_index": index, "tree_size": size}).json()
            merkle.verify_inclusion(index, size, leaves[index], _b(body["proof"]), roots[size])
        for first in range(1, size + 1):
            body = trial.http.get("/v1/proofs/consistency",
                                  params={"first": first, "second": size}).json()
            merkle.verify_consistency(first, size, roots[first], roots[size], _b(body["proof"]))


def test_tree_size_must_be_one_a_checkpoint_signed(trial: Trial) -> None:
    _populate(trial)
    sealer, trial.services.ledger.sealer = trial.services.ledger.sealer, None
    receipt = trial.client("inv-002").register_participant("P-009", sex="M", date_of_birth="1960-01-01",
                                                          weight_kg=70)
    assert receipt["checkpoint"] is None and receipt["leaf_index"] == 11
    response = trial.http.get("/v1/proofs/inclusion", params={"leaf_index": 0, "tree_size": 12})
    assert response.status_code == 404 and response.json()["rule"] == "checkpoint.unknown_size"
    bad = trial.http.get("/v1/proofs/inclusion", params={"leaf_index": 10, "tree_size": 5})
    assert bad.status_code == 422 and bad.json()["field"] == "leaf_index"
    trial.services.ledger.sealer = sealer
    signed = trial.services.ledger.seal()
    assert signed is not None and signed.size == 12
    assert Checkpoint.parse_body(trial.http.get("/v1/checkpoint").text.split("\n\n")[0] + "\n").size == 12


def test_the_server_verifies_its_own_log_on_request(sqlite_trial: Trial) -> None:
    import sqlite3

    trial = sqlite_trial
    trial.client("inv-001").register_participant("P-001", sex="F", date_of_birth="1961-04-02",
                                                 weight_kg=64.0)
    _, token = trial.user("insp-001", role="inspector", site="fda")
    headers = {"Authorization": f"Bearer {token}"}
    report = trial.http.get("/v1/verify", headers=headers).json()
    assert report["ok"] is True and report["records"] == trial.services.ledger.tree.size()
    path = trial.services.store.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # someone with the database file edits a record
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute("UPDATE stored_events SET state = REPLACE(state, '1961-04-02', '1961-04-03') "
                     "WHERE originator_id = 'participant/P-001'")  # leaves text where bytes were
    broken = trial.http.get("/v1/verify", headers=headers).json()
    assert broken["ok"] is False
    assert {f["stream"] for f in broken["findings"]} == {"participant/P-001"}
