"""The first path through all four rooms: SDK signs → HTTP → ledger → domain → view → HTTP."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from api.client.sdk import LedgerClient
from api.http.app import create_app

from .conftest import Trial


def test_register_and_consent_over_http_then_read_back(trial: Trial) -> None:
    client = trial.client("inv-001")
    first = client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    second = client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")

    assert (first["stream"], first["version"]) == ("participant/P-001", 1)
    assert (second["stream"], second["version"]) == ("participant/P-001", 2)
    assert client.head("participant/P-001").record_hash == second["record_hash"]

    seen = client.participant("P-001")
    assert seen["status"] == "consented"
    assert seen["consent_form"] == "1.0"
    assert seen["sex"] == "F" and seen["weight_kg"] == 64.0 and seen["site"] == "site-01"
    assert [e["action"] for e in seen["consent_history"]] == ["signed"]
    assert seen["consent_history"][0]["record_hash"] == second["record_hash"]


def test_withdrawal_and_reconsent_on_a_new_form(trial: Trial) -> None:
    client = trial.client("inv-001")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    client.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")
    client.withdraw_consent("P-002", form_version="1.0", withdrawn_on="2026-03-02")
    client.sign_consent("P-002", form_version="1.1", signed_on="2026-03-02")
    seen = client.participant("P-002")
    assert seen["status"] == "consented" and seen["consent_form"] == "1.1"
    assert [(e["action"], e["form_version"]) for e in seen["consent_history"]] == [
        ("signed", "1.0"), ("withdrawn", "1.0"), ("signed", "1.1")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sdk_against_a_real_uvicorn_server(sqlite_trial: Trial) -> None:
    """Same path over a real socket, not an in-process transport."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(sqlite_trial.services), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        signer, token = sqlite_trial.user("inv-009")
        with LedgerClient(f"http://127.0.0.1:{port}", signer=signer, token=token) as client:
            client.register_participant("P-009", sex="F", date_of_birth="1970-01-01", weight_kg=60)
            client.sign_consent("P-009", form_version="1.0", signed_on="2026-03-01")
            assert client.participant("P-009")["status"] == "consented"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
