"""The SDK keeps the checkpoint it verified and checks every newer one against it: a server that
serves a forked or rewritten log (signed with the right key all the same) is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app
from api.client.monitor import LogMonitor, LogRewritten
from api.client.sdk import LedgerClient
from api.http.app import create_app
from api.services.bootstrap import bootstrap, load_sealer
from ledger import merkle

from .conftest import LEDGER_PASS, Trial


def _register(client: LedgerClient, pid: str) -> dict[str, Any]:
    return client.register_participant(pid, sex="F", date_of_birth="1961-04-02", weight_kg=64.0)


def test_the_client_verifies_records_and_follows_the_log(sqlite_trial: Trial) -> None:
    client = sqlite_trial.client("inv-001")
    receipt = _register(client, "P-001")
    first = client.log.latest()
    record = client.log.verify_record(str(receipt["record_hash"]))
    assert record["stream"] == "participant/P-001"
    more = _register(client, "P-002")
    client.log.verify_record(str(more["record_hash"]))  # a newer checkpoint, shown consistent
    assert client.log.trusted is not None and client.log.trusted.size > first.size
    leaves = [merkle.leaf_hash(r.sealed) for r in sqlite_trial.services.ledger.records()]
    assert client.log.trusted.root == merkle.root(leaves[: client.log.trusted.size])
    seen = list(client.log.iter_log(page=3))
    assert [r["leaf_index"] for r in seen] == list(range(len(leaves)))


def test_a_forked_log_signed_with_the_right_key_is_caught(sqlite_trial: Trial,
                                                          tmp_path: Path) -> None:
    trial = sqlite_trial
    client = trial.client("inv-001")
    _register(client, "P-001")
    bundle = tmp_path / "before.bundle"
    assert CliRunner().invoke(app, ["export", "bundle", str(bundle), "--db",
                                    trial.services.store.url]).exit_code == 0
    _register(client, "P-002")  # what the honest log says next
    client.log.latest()
    honest = client.log.trusted
    assert honest is not None
    fork_url = f"sqlite:///{tmp_path / 'fork.db'}"
    restored = CliRunner().invoke(app, ["import", str(bundle), "--db", fork_url, "--root",
                                        trial.info.root_fingerprint])
    assert restored.exit_code == 0, restored.stderr
    fork = bootstrap(fork_url)
    try:
        load_sealer(fork, trial.home, LEDGER_PASS)  # the real ledger key signs the lie
        ledger = fork.ledger
        caught_at_same_size = False
        for pid in ("P-666", "P-667"):
            stream = f"participant/{pid}"
            ledger.append(client.signer.sign(ledger=ledger.origin, head=ledger.head(stream),
                                             type="participant.registered", occurred_at=trial.clock.now,
                                             payload={"participant_id": pid, "site": "site-01",
                                                      "sex": "M", "date_of_birth": "1970-01-01",
                                                      "weight_kg": 70.0}))
            if ledger.tree.size() == honest.size:
                same_size = LogMonitor(TestClient(create_app(fork)), log_key=client.log.log_key,
                                       trusted=honest)
                with pytest.raises(LogRewritten, match="two different roots"):
                    same_size.latest()
                caught_at_same_size = True
        assert caught_at_same_size
        longer = LogMonitor(TestClient(create_app(fork)), log_key=client.log.log_key,
                            trusted=honest)
        with pytest.raises(LogRewritten, match="does not extend"):
            longer.latest()
        stranger = LogMonitor(TestClient(create_app(fork)), log_key=client.log.log_key)
        assert stranger.latest().size == ledger.tree.size()  # alone, the fork looks fine
    finally:
        fork.close()
