"""Group commit and the append path's kept state: concurrent appends share one transaction and
one checkpoint, each entry is still decided on its own, and what a process keeps between
transactions (stream histories, early signature checks) never decides anything the database
would not."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from api.services.bootstrap import bootstrap
from ledger import merkle
from ledger.contract import FollowUp, Receipt
from ledger.entry import Record, Submission
from ledger.errors import Conflict, NotInitialised, RuleViolation, SignatureRefused
from ledger.ledger import StreamView
from ledger.note import NoteVerifier, open_checkpoint
from ledger.signer import Signer
from ledger.tree import iter_leaves
from ledger.verify import verify_log

from .conftest import Trial


def _registration(signer: Signer, trial: Trial, pid: str) -> Submission:
    ledger = trial.services.ledger
    return signer.sign(ledger=trial.info.origin, head=ledger.head(f"participant/{pid}"),
                       type="participant.registered", occurred_at=trial.clock.now,
                       payload={"participant_id": pid, "site": "site-01", "sex": "F",
                                "date_of_birth": "1961-04-02", "weight_kg": 64})


def _consent(signer: Signer, trial: Trial, pid: str, form: str = "1.0") -> Submission:
    ledger = trial.services.ledger
    return signer.sign(ledger=trial.info.origin, head=ledger.head(f"participant/{pid}"),
                       type="consent.signed", occurred_at=trial.clock.now,
                       payload={"form_version": form, "signed_on": "2026-03-01"})


def _in_one_group(trial: Trial, submissions: Sequence[Submission]) -> list[Receipt | Exception]:
    """Every submission queued while the leader's turn is held, so that one group takes all."""
    appender = trial.services.appender
    answers: list[Receipt | Exception | None] = [None] * len(submissions)

    def send(i: int) -> None:
        try:
            answers[i] = appender.append(submissions[i])
        except Exception as exc:
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(submissions))]
    with appender._turn:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(appender._queue) < len(submissions) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(appender._queue) == len(submissions)
    for t in threads:
        t.join(30)
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


def _verified(trial: Trial) -> None:
    tree = trial.services.ledger.tree
    report = verify_log(trial.services.store.iter_log(), checkpoints=[c.note for c in tree.checkpoints()],
                        leaves=iter_leaves(tree), root=trial.info.root_fingerprint)
    assert report.ok, report.findings


def test_concurrent_appends_share_one_transaction_and_each_gets_its_own_answer(trial: Trial) -> None:
    signer, _ = trial.user("inv-001")
    other, _ = trial.user("inv-002")
    trial.register_directly(signer, "P-000")
    good = [_registration(signer, trial, f"P-{i:03d}") for i in range(1, 9)]
    stale = [_consent(signer, trial, "P-000", "1.0"), _consent(other, trial, "P-000", "2.0")]
    forged = _registration(signer, trial, "P-100")
    forged = Submission(forged.entry, _registration(signer, trial, "P-101").signature,
                        forged.payload, forged.salt)
    unregistered = _consent(signer, trial, "P-200")
    groups_before = trial.services.appender.groups

    answers = _in_one_group(trial, [*good, *stale, forged, unregistered])

    assert trial.services.appender.groups == groups_before + 1
    receipts = [a for a in answers if isinstance(a, Receipt)]
    assert len(receipts) == 9  # eight registrations and one of the two racing consents
    assert all(isinstance(a, Receipt) for a in answers[:8])
    racing = answers[8:10]
    assert sum(isinstance(a, Receipt) for a in racing) == 1
    assert sum(isinstance(a, Conflict) for a in racing) == 1
    assert isinstance(answers[10], SignatureRefused) and answers[10].rule == "signature.invalid"
    assert isinstance(answers[11], RuleViolation)
    # One transaction: one checkpoint covers them all, leaves in order without a gap.
    assert len({r.checkpoint for r in receipts}) == 1
    leaves = sorted(r.leaf_index for r in receipts)
    assert leaves == list(range(leaves[0], leaves[0] + 9))
    # The group's views were brought up to date before anyone was answered.
    views = trial.services.views
    assert views.position() == max(r.position for r in receipts)
    assert all(views.participant(f"P-{i:03d}") is not None for i in range(1, 9))
    assert views.participant("P-100") is None and views.participant("P-200") is None
    assert trial.services.ledger.head("participant/P-000").version == 2
    _verified(trial)


class _FailingFollowUp:
    """Rules whose answer to a consent needs a key that is not loaded: the consent has been
    added to the transaction's history before its follow-up fails."""

    def __init__(self, rules: object) -> None:
        self.rules = rules

    def decide(self, history: Sequence[Record], candidate: Record,
               view: StreamView) -> Sequence[FollowUp]:
        if candidate.type == "consent.signed" and candidate.payload()["form_version"] == "9.9":
            return [FollowUp(candidate.stream, "note.added", {"n": 1}, "nobody")]
        return self.rules.decide(history, candidate, view)  # type: ignore[attr-defined]


def test_an_entry_refused_after_part_of_its_decision_leaves_no_trace_in_the_group(trial: Trial) -> None:
    signer, _ = trial.user("inv-001")
    trial.register_directly(signer, "P-001")
    ledger = trial.services.ledger
    ledger.rules = _FailingFollowUp(ledger.rules)  # type: ignore[assignment]
    failing = _consent(signer, trial, "P-001", "9.9")
    following = _consent(signer, trial, "P-001", "1.0")  # signed at the same head
    results = ledger.append_each([ledger.prepare(failing), ledger.prepare(following)])
    assert isinstance(results[0], NotInitialised)
    assert isinstance(results[1], Receipt) and results[1].version == 2
    stream = ledger.stream("participant/P-001")
    assert [r.version for r in stream] == [1, 2]
    assert stream[1].payload() == {"form_version": "1.0", "signed_on": "2026-03-01"}
    _verified(trial)


def test_a_group_with_only_refusals_writes_nothing(trial: Trial) -> None:
    signer, _ = trial.user("inv-001")
    ledger = trial.services.ledger
    size = ledger.tree.size()
    results = ledger.append_each([ledger.prepare(_consent(signer, trial, "P-404"))])
    assert isinstance(results[0], RuleViolation)
    assert ledger.tree.size() == size


def test_kept_histories_follow_what_another_process_appends(trial: Trial) -> None:
    """Two ledgers on one database (as two server processes): each keeps its own histories,
    and each decision still sees every committed record."""
    signer, _ = trial.user("inv-001")
    first = trial.services.ledger
    second_services = bootstrap(trial.services.store.url, clock=trial.clock)
    try:
        second = second_services.ledger
        second.rules = first.rules
        second.system_signers = first.system_signers
        first.append(_registration(signer, trial, "P-001"))  # kept by the first
        head = first.head("participant/P-001")
        second.append(signer.sign(ledger=trial.info.origin, head=head, type="consent.signed",
                                  occurred_at=trial.clock.now,
                                  payload={"form_version": "1.0", "signed_on": "2026-03-01"}))
        # Signed at the head the first ledger kept: stale, although nothing told it so.
        with pytest.raises(Conflict) as refused:
            first.append(signer.sign(ledger=trial.info.origin, head=head, type="consent.signed",
                                     occurred_at=trial.clock.now,
                                     payload={"form_version": "2.0", "signed_on": "2026-03-01"}))
        assert refused.value.head is not None and refused.value.head.version == 2
        receipt = first.append(signer.sign(
            ledger=trial.info.origin, head=first.head("participant/P-001"), type="consent.withdrawn",
            occurred_at=trial.clock.now, payload={"form_version": "1.0", "withdrawn_on": "2026-03-02"}))
        assert receipt.version == 3
    finally:
        second_services.close()
    _verified(trial)


def test_kept_histories_are_dropped_when_a_payload_is_redacted(trial: Trial) -> None:
    investigator = trial.client("inv-001")
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    registered = investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02",
                                                   weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    ledger = trial.services.ledger
    with trial.services.store.read() as cur:
        assert ledger.histories.history(cur, "participant/P-001")[0].payload_text is not None
    manager.redact(str(registered["record_hash"]), reason="a name typed into a free-text field")
    with trial.services.store.write() as cur:
        ledger.histories.begin(cur)
        kept = ledger.histories.history(cur, "participant/P-001")
    assert kept[0].payload_text is None and kept[0].redacted_by is not None
    assert [r.version for r in kept] == [1, 2]


def test_a_signature_checked_early_is_refused_as_before(trial: Trial) -> None:
    """A signature checked outside the lock, against the key its entry names, answers for that
    key id only; a bad one is refused under the lock exactly as before."""
    signer, _ = trial.user("inv-001")
    ledger = trial.services.ledger
    ledger.registry()  # the process knows inv-001's key
    item = ledger.prepare(_registration(signer, trial, "P-001"))
    assert item.checked is not None and item.checked.valid() is True
    assert item.checked.key_id == item.entry.fields["key"]
    forged = _registration(signer, trial, "P-002")
    forged = Submission(forged.entry, _registration(signer, trial, "P-003").signature,
                        forged.payload, forged.salt)
    early = ledger.prepare(forged)
    assert early.checked is not None and early.checked.valid() is False
    with pytest.raises(SignatureRefused):
        ledger.append(forged)


def test_appends_from_several_event_loops_each_get_their_answer(trial: Trial) -> None:
    """A server may run more than one loop (a test client starts one per request): every
    caller's future is answered on its own loop, none waits on another loop's queue."""
    import asyncio

    signer, _ = trial.user("inv-001")
    submissions = [_registration(signer, trial, f"P-{i:03d}") for i in range(1, 13)]
    appender = trial.services.appender
    before = trial.services.store.max_position() + 1
    answers: list[Receipt | None] = [None] * len(submissions)

    def loop_of(indexes: range) -> None:
        async def main() -> None:
            receipts = await asyncio.wait_for(asyncio.gather(
                *(appender.append_async(submissions[i]) for i in indexes)), 30)
            for i, receipt in zip(indexes, receipts, strict=True):
                answers[i] = receipt
        asyncio.run(main())

    threads = [threading.Thread(target=loop_of, args=(range(k, 12, 3),)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(a, Receipt) for a in answers)
    assert sorted(a.position for a in answers if a) == list(range(before, before + 12))
    _verified(trial)


def test_each_receipt_of_a_group_carries_a_signed_checkpoint_that_proves_its_own_leaf(
        trial: Trial) -> None:
    """Not only one checkpoint for the group: each receipt's note verifies under the ledger key,
    and an inclusion proof of that receipt's own record (its sealed bytes as stored) leads to the
    note's signed root."""
    signer, _ = trial.user("inv-001")
    ledger = trial.services.ledger
    answers = _in_one_group(trial, [_registration(signer, trial, f"P-{i:03d}") for i in range(1, 7)])
    receipts = [a for a in answers if isinstance(a, Receipt)]
    assert len(receipts) == 6
    verifier = NoteVerifier.from_key_string(trial.info.checkpoint_key)
    sealed = {r.hash: r.sealed for r in ledger.records()}
    for receipt in receipts:
        assert receipt.checkpoint is not None
        body, signed_by = open_checkpoint(receipt.checkpoint.encode(), [verifier])
        assert signed_by and body.size > receipt.leaf_index
        leaf = merkle.leaf_hash(sealed[receipt.record_hash])
        path = ledger.tree.inclusion_proof(receipt.leaf_index, body.size)
        merkle.verify_inclusion(receipt.leaf_index, body.size, leaf, path, body.root)
        # and the proof is of this leaf alone: a neighbour's leaf does not lead to the root
        other = next(r for r in receipts if r.leaf_index != receipt.leaf_index)
        with pytest.raises(merkle.MerkleError):
            merkle.verify_inclusion(receipt.leaf_index, body.size,
                                    merkle.leaf_hash(sealed[other.record_hash]), path, body.root)
