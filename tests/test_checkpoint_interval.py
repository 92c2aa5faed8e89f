"""The checkpoint interval (`serve --checkpoint-interval-ms N`): 0 signs a checkpoint at every
commit; N > 0 signs one at most every N ms, receipts in between carry none, a timer covers them
within about N ms, proofs answer for the sizes that were signed only, and a stopping server
signs a final checkpoint. Real SQLite throughout; one test runs the real server."""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.client.monitor import NotCovered
from api.client.sdk import LedgerClient
from api.services.bootstrap import bootstrap
from api.services.sealing import CheckpointTimer
from ledger import merkle
from ledger.ledger import Receipt
from ledger.note import NoteVerifier, open_checkpoint
from ledger.signer import Signer

from . import live_server
from .conftest import Trial

PATIENCE = 30.0  # seconds: generous, the machine may be busy; the polls end as soon as it is done


def register(trial: Trial, signer: Signer, pid: str) -> Receipt:
    ledger = trial.services.ledger
    stream = f"participant/{pid}"
    return ledger.append(signer.sign(
        ledger=trial.info.origin, head=ledger.head(stream), type="participant.registered",
        occurred_at=trial.clock.now, payload={"participant_id": pid, "site": "site-01", "sex": "F",
                                              "date_of_birth": "1961-04-02", "weight_kg": 64}))


def sizes(trial: Trial) -> list[int]:
    return [c.size for c in trial.services.ledger.tree.checkpoints()]


def covered(trial: Trial, note: str, leaf_index: int) -> None:
    """The note verifies under the ledger key and its tree holds the leaf with the right root."""
    body, _ = open_checkpoint(note.encode(), [NoteVerifier.from_key_string(trial.info.checkpoint_key)])
    hashes = [merkle.leaf_hash(r.sealed) for r in trial.services.ledger.records()]
    assert body.size > leaf_index and body.root == merkle.root(hashes[:body.size])


def proof(answer: httpx.Response) -> list[bytes]:
    return [base64.b64decode(p) for p in answer.json()["proof"]]


def wait_until(done: object, what: str) -> float:
    """Poll `done()` until true; the seconds it took (fails after PATIENCE)."""
    start = time.monotonic()
    while not done():  # type: ignore[operator]
        assert time.monotonic() - start < PATIENCE, f"{what}: not within {PATIENCE}s"
        time.sleep(0.02)
    return time.monotonic() - start


def test_interval_0_signs_a_checkpoint_at_every_commit(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    signer, _ = trial.user("inv-001")
    assert trial.services.ledger.checkpoint_interval_ms == 0  # the default
    before = sizes(trial)
    receipts = [register(trial, signer, f"P-{n:03d}") for n in range(4)]
    assert sizes(trial) == before + [r.leaf_index + 1 for r in receipts]  # one per commit
    for r in receipts:
        assert r.checkpoint is not None
        covered(trial, r.checkpoint, r.leaf_index)
    assert trial.services.ledger.seal_due_in() is None  # nothing waits for the timer


def test_commits_within_the_interval_wait_for_the_timer_or_seal_if_due(sqlite_trial: Trial) -> None:
    trial, ledger = sqlite_trial, sqlite_trial.services.ledger
    signer, _ = trial.user("inv-001")  # its registration signed a checkpoint just now
    ledger.checkpoint_interval_ms = 60_000  # no commit of this test is a minute after it
    before = sizes(trial)
    receipts = [register(trial, signer, f"P-{n:03d}") for n in range(5)]
    assert [r.checkpoint for r in receipts] == [None] * 5 and sizes(trial) == before
    assert ledger.tree.size() == receipts[-1].leaf_index + 1
    wait = ledger.seal_due_in()
    assert wait is not None and 50 < wait <= 60
    assert ledger.seal_if_due() is None and sizes(trial) == before  # not due yet
    final = ledger.seal_if_due(now=True)  # as a stopping server does
    assert final is not None and final.size == ledger.tree.size()
    assert sizes(trial) == [*before, final.size]  # one checkpoint for the five commits
    covered(trial, final.note, receipts[0].leaf_index)
    assert ledger.seal_due_in() is None and ledger.seal_if_due(now=True) is None
    # The interval counts from the latest checkpoint signed here: the next commit waits again.
    assert register(trial, signer, "P-100").checkpoint is None


def test_the_timer_covers_waiting_leaves_within_about_the_interval(sqlite_trial: Trial) -> None:
    trial, ledger = sqlite_trial, sqlite_trial.services.ledger
    signer, _ = trial.user("inv-001")
    interval_ms = 500
    ledger.checkpoint_interval_ms = interval_ms
    timer = CheckpointTimer(ledger).start()
    try:
        ledger.seal()  # the interval counts from here
        before = sizes(trial)
        receipts = [register(trial, signer, f"P-{n:03d}") for n in range(6)]
        assert receipts[0].checkpoint is None  # a few ms after the checkpoint: not due
        by_commits = sum(r.checkpoint is not None for r in receipts)  # those a busy machine made due
        size = ledger.tree.size()
        took = wait_until(lambda: sizes(trial)[-1] == size, "the timer's checkpoint")
        assert ledger.tree.size() == size  # no commit did it: the timer did
        assert took < 10  # about the interval, not an idle wait of many
        new = sizes(trial)[len(before):]
        assert by_commits <= len(new) < len(receipts) and new[-1] == size  # usually [size]
        latest = ledger.tree.latest_checkpoint()
        assert latest is not None
        for r in receipts:
            covered(trial, latest.note, r.leaf_index)
        # Once covered, nothing waits: the timer signs nothing more.
        time.sleep(2 * interval_ms / 1000)
        assert sizes(trial)[len(before):] == new
    finally:
        final = timer.stop()
    assert final is not None and final.size == ledger.tree.size()


def test_stopping_the_timer_signs_a_final_checkpoint(sqlite_trial: Trial) -> None:
    trial, ledger = sqlite_trial, sqlite_trial.services.ledger
    signer, _ = trial.user("inv-001")
    ledger.checkpoint_interval_ms = 60_000
    timer = CheckpointTimer(ledger).start()
    receipts = [register(trial, signer, f"P-{n:03d}") for n in range(3)]
    assert all(r.checkpoint is None for r in receipts)
    latest = ledger.tree.latest_checkpoint()
    assert latest is not None and latest.size <= receipts[0].leaf_index
    final = timer.stop()
    assert final is not None and final.size == receipts[-1].leaf_index + 1 == ledger.tree.size()
    assert sizes(trial)[-1] == final.size


def test_proofs_answer_for_checkpointed_sizes_only(sqlite_trial: Trial) -> None:
    trial, ledger, http = sqlite_trial, sqlite_trial.services.ledger, sqlite_trial.http
    signer, _ = trial.user("inv-001")
    ledger.checkpoint_interval_ms = 60_000
    signed: list[int] = []
    for batch in range(3):
        for n in range(3):
            assert register(trial, signer, f"P-{batch}{n}").checkpoint is None
        checkpoint = ledger.seal_if_due(now=True)
        assert checkpoint is not None
        signed.append(checkpoint.size)
    assert signed == sorted(set(signed)) and set(signed) <= set(sizes(trial))
    hashes = [merkle.leaf_hash(r.sealed) for r in ledger.records()]
    for size in signed[:-1]:  # intermediate sizes, not the latest
        for leaf in (0, size - 1):
            got = http.get("/v1/proofs/inclusion", params={"leaf_index": leaf, "tree_size": size})
            assert got.status_code == 200, got.text
            merkle.verify_inclusion(leaf, size, hashes[leaf], proof(got),
                                    merkle.root(hashes[:size]))
    got = http.get("/v1/proofs/consistency", params={"first": signed[0], "second": signed[1]})
    assert got.status_code == 200, got.text
    merkle.verify_consistency(signed[0], signed[1], merkle.root(hashes[:signed[0]]),
                              merkle.root(hashes[:signed[1]]), proof(got))
    unsigned = signed[0] + 1  # a size the commits reached but no checkpoint names
    assert unsigned not in sizes(trial)
    for path, params in (("/v1/proofs/inclusion", {"leaf_index": 0, "tree_size": unsigned}),
                         ("/v1/proofs/consistency", {"first": unsigned, "second": signed[1]}),
                         ("/v1/proofs/consistency", {"first": signed[0], "second": unsigned})):
        got = http.get(path, params=params)
        assert got.status_code == 404 and got.json()["rule"] == "checkpoint.unknown_size", got.text


def test_an_http_receipt_without_checkpoint_and_its_record_until_covered(sqlite_trial: Trial) -> None:
    trial, ledger = sqlite_trial, sqlite_trial.services.ledger
    client = trial.client("inv-001")
    ledger.checkpoint_interval_ms = 60_000
    receipt = client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64)
    assert "checkpoint" in receipt and receipt["checkpoint"] is None  # said, as JSON null
    record = client.http.get(f"/v1/records/{receipt['record_hash']}").json()
    assert "inclusion" not in record  # beyond the latest checkpoint: no proof yet
    with pytest.raises(NotCovered, match="beyond the latest checkpoint"):  # not a rewrite
        client.log.verify_record(receipt["record_hash"], wait=0.3)
    assert ledger.seal_if_due(now=True) is not None
    assert client.log.verify_record(receipt["record_hash"])["record_hash"] == receipt["record_hash"]


@pytest.mark.parametrize("value", ["-5", "abc", "1.5", "", "60001"])
def test_a_bad_interval_is_refused_in_one_line_naming_the_option(value: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    done = CliRunner().invoke(app, ["serve", "--db", db, f"--checkpoint-interval-ms={value}"])
    assert done.exit_code == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: --checkpoint-interval-ms ")
    assert done.stderr.count("\n") == 1 and "Serving on" not in done.stdout
    assert not (tmp_path / "none.db").exists()  # refused before the database is opened


@pytest.mark.slow
def test_the_served_ledger_signs_a_final_checkpoint_when_stopped(tmp_path: Path) -> None:
    url, home = f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "home"
    trial = live_server.prepare(url, home, workers=1, slots=4, shared=0)
    port = live_server.free_port()
    proc = subprocess.Popen([*live_server.cli(), "serve", "--db", url, "--home", str(home),
                             "--port", str(port), "--checkpoint-interval-ms", "60000"],
                            env=live_server.environment(), cwd=live_server.REPO, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            assert proc.poll() is None, proc.communicate()
            try:
                return httpx.get(f"{base}/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False
        wait_until(healthy, "serve answering")
        who = trial.investigators[0]
        with LedgerClient(base, signer=who.signer, token=who.token) as client:
            receipts = [client.append(f"participant/P-{n:03d}", "participant.registered", {
                "participant_id": f"P-{n:03d}", "site": live_server.SITE, "sex": "F",
                "date_of_birth": "1961-04-02", "weight_kg": 64.0}, occurred_at=datetime.now(UTC))
                for n in range(3)]
            assert [r["checkpoint"] for r in receipts] == [None] * 3
            latest = client.http.get("/v1/checkpoint")
            assert latest.status_code == 200 and f"\n{receipts[0]['leaf_index']}\n" in latest.text
        proc.send_signal(signal.SIGTERM)  # what a service manager sends
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    # Stopped gracefully, then ended by the signal as uvicorn does, after the final checkpoint.
    assert proc.returncode == -signal.SIGTERM and "Traceback" not in err, err
    assert "Checkpoints: at most one every 60000 ms" in out
    assert f"Final checkpoint: tree size {receipts[-1]['leaf_index'] + 1}" in out
    services = bootstrap(url)
    try:
        latest_size = services.ledger.tree.size()
        assert latest_size == receipts[-1]["leaf_index"] + 1
        final = services.ledger.tree.latest_checkpoint()
        assert final is not None and final.size == latest_size
    finally:
        services.close()
