"""Several workers append at once (on PostgreSQL, two independent pools as two API workers):
leaf indexes stay dense and unique, nothing is sealed twice, checkpoints all agree."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from api.services.bootstrap import bootstrap, load_sealer
from ledger import merkle
from ledger.note import NoteVerifier, open_checkpoint
from ledger.tree import iter_leaves
from ledger.verify import verify_log

from .conftest import LEDGER_PASS, Trial


def test_concurrent_workers_seal_each_record_once(trial: Trial, tmp_path: Path) -> None:
    signer, _ = trial.user("inv-001")
    second = bootstrap(trial.services.store.url, clock=trial.clock)  # a second worker
    load_sealer(second, trial.home, LEDGER_PASS)
    workers = [trial.services.ledger, second.ledger]

    def register(n: int) -> dict[str, object]:
        ledger = workers[n % 2]
        stream = f"participant/P-{n:03d}"
        return ledger.append(signer.sign(
            ledger=trial.info.origin, head=ledger.head(stream), type="participant.registered",
            occurred_at=datetime.now(UTC),
            payload={"participant_id": f"P-{n:03d}", "site": "site-01", "sex": "F",
                     "date_of_birth": "1961-04-02", "weight_kg": 64})).as_dict()

    try:
        with ThreadPoolExecutor(8) as pool:
            receipts = list(pool.map(register, range(60)))
        leaves = sorted(r["leaf_index"] for r in receipts)  # type: ignore[type-var]
        first = 2  # genesis and the user's key registration come first
        assert leaves == list(range(first, first + 60))
        tree = trial.services.ledger.tree
        assert tree.size() == first + 60
        checkpoints = tree.checkpoints()
        assert len({c.size for c in checkpoints}) == len(checkpoints)
        hashes = [merkle.leaf_hash(r.sealed) for r in trial.services.ledger.records()]
        for c in checkpoints:
            assert c.root == merkle.root(hashes[: c.size])
        log = NoteVerifier.from_key_string(trial.info.checkpoint_key)
        for r in receipts:  # each receipt's checkpoint covers its own record
            body, _ = open_checkpoint(str(r["checkpoint"]).encode(), [log])
            assert body.size > r["leaf_index"]  # type: ignore[operator]
            assert body.root == merkle.root(hashes[: body.size])
        report = verify_log(trial.services.store.iter_log(), checkpoints=[c.note for c in checkpoints],
                            leaves=iter_leaves(tree), root=trial.info.root_fingerprint)
        assert report.ok, report.findings
    finally:
        second.close()
