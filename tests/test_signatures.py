"""A signature counts only with a registered, unrevoked key of that author, role and site."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.client.sdk import LedgerClient, LedgerClientError
from api.services.bootstrap import revoke_key, root_signer
from ledger.errors import SignatureRefused
from ledger.keys import generate
from ledger.signer import Signer

from .conftest import ROOT_PASS, Trial

REGISTRATION = {"participant_id": "P-001", "site": "site-01", "sex": "F",
                "date_of_birth": "1961-04-02", "weight_kg": 64.0}


def _post(trial: Trial, signer: Signer, token: str) -> tuple[int, dict[str, object]]:
    """Sign and post one registration; return status and body, and check nothing is written."""
    before = trial.services.store.max_position()
    submission = signer.sign(ledger=trial.info.origin,
                             head=trial.services.ledger.head("participant/P-001"),
                             type="participant.registered", payload=REGISTRATION,
                             occurred_at=datetime.now(UTC))
    response = trial.http.post("/v1/entries", json=submission.__dict__,
                               headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    if response.status_code != 201:
        assert response.headers["content-type"] == "application/problem+json"
        assert trial.services.store.max_position() == before, "a refused entry was written"
        assert trial.services.ledger.head("participant/P-001").version == 0
    return response.status_code, body


def test_unregistered_key_is_refused(trial: Trial) -> None:
    _, token = trial.user("inv-001")
    stranger = Signer(generate(), "inv-001", "investigator", "site-01")
    status, body = _post(trial, stranger, token)
    assert (status, body["rule"], body["field"]) == (422, "signature.unknown_key", "entry.key")


def test_revoked_key_is_refused(trial: Trial) -> None:
    signer, token = trial.user("inv-002")
    trial.user("inv-002")  # a new key for the same person: their token stays good
    revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=signer.key_id,
               reason="laptop lost")
    status, body = _post(trial, signer, token)  # signed with the lost laptop's key
    assert (status, body["rule"]) == (422, "signature.key_revoked")


def test_another_authors_key_is_refused(trial: Trial) -> None:
    _, token_a = trial.user("inv-001")
    signer_b, _ = trial.user("inv-003")
    # B's registered key, on an entry that names A as its author, sent with A's token.
    forged = Signer(signer_b.key, "inv-001", "investigator", "site-01")
    status, body = _post(trial, forged, token_a)
    assert (status, body["rule"], body["field"]) == (422, "signature.not_authors_key", "entry.author")


def test_entry_naming_another_author_than_the_caller_is_forbidden(trial: Trial) -> None:
    signer_a, _ = trial.user("inv-001")
    _, token_b = trial.user("inv-004")
    status, body = _post(trial, signer_a, token_b)
    assert (status, body["rule"]) == (403, "auth.not_your_entry")


def test_bad_signature_bytes_are_refused(trial: Trial) -> None:
    signer, token = trial.user("inv-001")
    submission = signer.sign(ledger=trial.info.origin,
                             head=trial.services.ledger.head("participant/P-001"),
                             type="participant.registered", payload=REGISTRATION,
                             occurred_at=datetime.now(UTC))
    other = signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head("participant/P-001"),
                        type="participant.registered", payload=REGISTRATION,
                        occurred_at=datetime.now(UTC))
    body = {**submission.__dict__, "signature": other.signature}
    response = trial.http.post("/v1/entries", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and response.json()["rule"] == "signature.invalid"


def test_wrong_role_or_site_in_entry_is_refused_by_the_ledger(sqlite_trial: Trial) -> None:
    signer, _ = sqlite_trial.user("inv-001")
    ledger = sqlite_trial.services.ledger
    for forged, rule in ((Signer(signer.key, "inv-001", "monitor", "site-01"), "signature.role_mismatch"),
                         (Signer(signer.key, "inv-001", "investigator", "site-02"),
                          "signature.site_mismatch")):
        sub = forged.sign(ledger=sqlite_trial.info.origin, head=ledger.head("participant/P-001"),
                          type="participant.registered", payload=REGISTRATION,
                          occurred_at=datetime.now(UTC))
        with pytest.raises(SignatureRefused) as caught:
            ledger.append(sub)
        assert caught.value.rule == rule


def test_unknown_token_is_401(trial: Trial) -> None:
    signer, _ = trial.user("inv-001")
    client = LedgerClient(signer=signer, token="tl_not-a-token", http=trial.new_http())
    with pytest.raises(LedgerClientError) as caught:
        client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64)
    assert caught.value.status == 401 and caught.value.rule == "auth.invalid_token"


def test_the_ledger_key_cannot_be_revoked(sqlite_trial: Trial) -> None:
    from ledger.errors import RuleViolation
    from ledger.registry import LEDGER_AUTHOR

    trial = sqlite_trial
    ledger_key = next(k for k in trial.services.ledger.registry().keys.values()
                      if k.author == LEDGER_AUTHOR)
    before = trial.services.store.max_position()
    with pytest.raises(RuleViolation) as refused:
        revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=ledger_key.key_id,
                   reason="rotation")
    assert refused.value.rule == "keys.ledger_revocation"
    assert trial.services.store.max_position() == before
