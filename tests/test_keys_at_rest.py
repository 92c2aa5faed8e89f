"""Keys (issue 10): private keys stay in their passphrase-encrypted files on their owners'
machines: no byte of one reaches the database, a response or a log; and a revoked key's
earlier records still verify, because keys are judged by the registry at each `recorded_at`."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from api.demo.simulation import PASSPHRASE
from ledger.errors import LedgerError
from ledger.keys import load_private_key
from ledger.verify import verify_rows

from .conftest import Trial, make_demo


def _forms(raw: bytes) -> list[bytes]:
    """The ways a 32-byte private key could be written down."""
    return [raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="),
            base64.b64encode(raw).rstrip(b"=")]


def test_private_keys_never_reach_the_database_responses_or_logs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.DEBUG):
        demo = make_demo(tmp_path, participants=3)
    try:
        files = sorted((demo.home / "keys").glob("*.key"))
        assert len(files) >= 6  # root, ledger, randomiser, system and the demo staff
        secrets = []
        for path in files:
            assert path.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            assert oct(path.stat().st_mode & 0o777) == "0o600"
            raw = load_private_key(path, PASSPHRASE).private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                serialization.NoEncryption())
            secrets += _forms(raw)
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("demo.db*"))
        assert len(stored) > 100_000
        from fastapi.testclient import TestClient

        from api.http.app import create_app

        with TestClient(create_app(demo.services)) as http:
            bodies = b"".join(http.get(path, headers={"Authorization": f"Bearer {demo.tokens['insp-01']}"}
                                       ).content for path in ("/v1/log?limit=1000", "/v1/audit?limit=1000",
                                                              "/v1/export/odm", "/v1/users/history"))
        printed = capsys.readouterr()
        logs = (caplog.text + printed.out + printed.err).encode()
        for secret in secrets:
            assert secret not in stored and secret not in bodies and secret not in logs
    finally:
        demo.services.close()


def test_a_revoked_keys_earlier_records_still_verify_and_later_ones_are_refused(trial: Trial) -> None:
    from api.client.sdk import LedgerClientError
    from api.services.bootstrap import revoke_key, root_signer

    from .conftest import ROOT_PASS

    client = trial.client("inv-021")
    client.register_participant("P-021", sex="F", date_of_birth="1970-01-01", weight_kg=60.0)
    kid = client.signer.key_id
    trial.clock.step(minutes=5)
    revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=kid, reason="laptop stolen")
    with pytest.raises(LedgerClientError) as refused:  # her last key: her tokens ended with it
        client.sign_consent("P-021", form_version="1.0", signed_on="2026-03-01")
    assert refused.value.status == 401 and refused.value.rule == "auth.invalid_token"
    ledger = trial.services.ledger
    with pytest.raises(LedgerError) as unsigned:  # and the ledger refuses the signature itself
        ledger.append(client.signer.sign(ledger=trial.info.origin, head=ledger.head("participant/P-021"),
                                         type="consent.signed", occurred_at=trial.clock.now,
                                         payload={"form_version": "1.0", "signed_on": "2026-03-01"}))
    assert unsigned.value.rule == "signature.key_revoked"
    report = verify_rows(trial.services.store.iter_log())
    assert report.findings == [] and report.records > 0  # the registration stays valid
    key = trial.services.ledger.registry().keys[kid]
    signed = trial.services.ledger.stream("participant/P-021")[0].recorded_at
    assert key.valid_at(signed) and not key.valid_at(key.revoked_at or "")
