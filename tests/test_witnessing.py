"""A witness cosigns checkpoints that extend what it accepted, refuses a forked log, and a
bundle's checkpoints verify under a --witness policy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.client.sdk import LedgerClient
from api.http.app import create_app
from api.services.bootstrap import bootstrap, load_sealer
from api.services.witnessing import run_witness
from ledger.note import NoteVerifier
from ledger.witness import CosignatureSigner, CosignatureVerifier, LogInconsistent, Witness, verify_cosigned

from .conftest import LEDGER_PASS, TestClient, Trial


def _witness(trial: Trial, state: Path) -> tuple[Witness, CosignatureVerifier, object]:
    signer, token = trial.user("cro-witness", role="witness", site="cro")
    log = NoteVerifier.from_key_string(trial.http.get("/v1/health").json()["checkpoint_key"])
    cosigner = CosignatureSigner("cro-witness", signer.key)
    http = trial.new_http()
    http.headers["Authorization"] = f"Bearer {token}"
    return Witness(state, cosigner, {log.name: log}), cosigner.verifier, http


def _grow(client: LedgerClient, *pids: str) -> None:
    for pid in pids:
        client.register_participant(pid, sex="F", date_of_birth="1960-01-01", weight_kg=60)


def test_witness_cosigns_a_growing_log_and_the_bundle_verifies_under_the_policy(
        trial: Trial, tmp_path: Path) -> None:
    client = trial.client("inv-001")
    witness, verifier, http = _witness(trial, tmp_path / "state")
    _grow(client, "P-001", "P-002")
    first = run_witness(http, witness, origin=trial.info.origin)  # type: ignore[arg-type]
    _grow(client, "P-003", "P-004", "P-005")
    second = run_witness(http, witness, origin=trial.info.origin)  # type: ignore[arg-type]
    assert second["size"] == first["size"] + 3

    log = NoteVerifier.from_key_string(trial.http.get("/v1/health").json()["checkpoint_key"])
    served = trial.http.get("/v1/checkpoint").content
    checkpoint = verify_cosigned(served, log, [verifier], required=1)
    assert checkpoint.size == second["size"]

    if not trial.services.store.url.startswith("sqlite"):
        return
    bundle = tmp_path / "b.jsonl"
    assert CliRunner().invoke(app, ["export", "bundle", str(bundle), "--db",
                                    trial.services.store.url]).exit_code == 0
    vkey = verifier.verifier_key_string()
    ok = CliRunner().invoke(app, ["verify-bundle", str(bundle), "--root", trial.info.root_fingerprint,
                                  "--witness", vkey, "--json"])
    assert ok.exit_code == 0, ok.stdout
    assert json.loads(ok.stdout)["witnessed"] == {"cro-witness": second["size"]}
    stranger = CosignatureSigner.generate("other-witness").verifier_key_string()
    missing = CliRunner().invoke(app, ["verify-bundle", str(bundle), "--root",
                                       trial.info.root_fingerprint, "--witness", stranger, "--json"])
    assert missing.exit_code == 1
    assert [f["check"] for f in json.loads(missing.stdout)["findings"]] == ["witness.missing"]


def test_witness_refuses_a_forked_log(sqlite_trial: Trial, tmp_path: Path) -> None:
    trial = sqlite_trial
    client = trial.client("inv-001")
    witness, _, http = _witness(trial, tmp_path / "state")
    _grow(client, "P-001")
    run_witness(http, witness, origin=trial.info.origin)  # type: ignore[arg-type]

    # A second copy of the same ledger (same origin, same keys) goes its own way.
    db = Path(trial.services.store.url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as source, sqlite3.connect(tmp_path / "fork.db") as copy:
        source.backup(copy)
    fork = bootstrap(f"sqlite:///{tmp_path / 'fork.db'}", clock=trial.clock)
    try:
        load_sealer(fork, trial.home, LEDGER_PASS)
        fork_http = TestClient(create_app(fork))
        fork_http.headers.update(http.headers)  # type: ignore[attr-defined]
        token = str(client.http.headers["Authorization"]).removeprefix("Bearer ")
        fork_client = LedgerClient(signer=client.signer, token=token, http=TestClient(create_app(fork)))
        _grow(fork_client, "P-100", "P-101")
        _grow(client, "P-002")  # the original grows differently, and the witness sees it first
        cosigned = run_witness(http, witness, origin=trial.info.origin)  # type: ignore[arg-type]
        accepted = witness.last(trial.info.origin)
        assert cosigned["size"] == 5 and accepted is not None

        with pytest.raises(LogInconsistent):
            run_witness(fork_http, witness, origin=trial.info.origin)
        assert witness.last(trial.info.origin) == accepted  # the fork left no trace
        assert b"cro-witness" not in fork_http.get("/v1/checkpoint").content
    finally:
        fork.close()


def test_only_witnesses_may_post_cosignatures_and_they_must_verify(sqlite_trial: Trial) -> None:
    client = sqlite_trial.client("inv-001")
    _grow(client, "P-001")
    note = sqlite_trial.http.get("/v1/checkpoint").text
    denied = client.http.post("/v1/checkpoint/cosignatures", content=note,
                              headers={"Content-Type": "text/plain"})
    assert denied.status_code == 403 and denied.json()["rule"] == "auth.role"
    _, token = sqlite_trial.user("cro-witness", role="witness", site="cro")
    forged = note + "— cro-witness " + "A" * 100 + "\n"
    refused = sqlite_trial.http.post("/v1/checkpoint/cosignatures", content=forged,
                                     headers={"Content-Type": "text/plain",
                                              "Authorization": f"Bearer {token}"})
    assert refused.status_code == 422 and refused.json()["rule"] == "cosignature.invalid"
