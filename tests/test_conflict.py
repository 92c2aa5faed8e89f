"""Optimistic appends: two clients at the same version, one wins, the other gets the head."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from api.client.sdk import LedgerClient

from .conftest import Trial


def _registered(trial: Trial) -> tuple[LedgerClient, LedgerClient]:
    a, b = trial.client("inv-001"), trial.client("inv-002")
    a.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64)
    return a, b


def test_same_version_one_wins_other_gets_409_with_head(trial: Trial) -> None:
    a, b = _registered(trial)
    head = a.head("participant/P-001")
    now = datetime.now(UTC)
    sub_a = a.signer.sign(ledger=a.origin, head=head, type="consent.signed",
                          payload={"form_version": "1.0", "signed_on": "2026-03-01"}, occurred_at=now)
    sub_b = b.signer.sign(ledger=b.origin, head=head, type="consent.signed",
                          payload={"form_version": "2.0", "signed_on": "2026-03-01"}, occurred_at=now)
    won = a.http.post("/v1/entries", json=sub_a.__dict__)
    lost = b.http.post("/v1/entries", json=sub_b.__dict__)
    assert won.status_code == 201
    assert lost.status_code == 409
    problem = lost.json()
    assert problem["rule"] == "stream.stale_version"
    assert problem["head"] == {"stream": "participant/P-001", "version": 2,
                               "record_hash": won.json()["record_hash"]}
    assert trial.services.ledger.head("participant/P-001").version == 2


def test_sdk_retries_a_409_by_rereading_the_head_and_resigning(trial: Trial) -> None:
    a, b = _registered(trial)
    raced = []

    def race(request: httpx.Request) -> None:
        # Just before A's first POST leaves, B appends to the same stream.
        if request.method == "POST" and not raced:
            raced.append(b.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01"))

    a.http.event_hooks["request"] = [race]
    receipt = a.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    assert raced and raced[0]["version"] == 2
    assert receipt["version"] == 3
    assert trial.services.views.participant("P-001") is not None
    assert a.participant("P-001")["status"] == "withdrawn"
