"""The ledger's two ways in end in one commit path: a batch commits or fails whole, a group's
entries are each answered on their own, and an entry prepared already is appended as its
submission would be, without being parsed again."""

from __future__ import annotations

import pytest

from ledger import ledger as ledger_module
from ledger.entry import Submission
from ledger.errors import Conflict
from ledger.ledger import BatchError
from ledger.signer import Signer

from .conftest import Trial
from .test_labs import WEEK_4, treated

LAB = {"visit": "week_4", "analyte": "ALT", "value": 56.0, "unit": "U/L",
       "sampled_at": WEEK_4.isoformat()}


def _lab(trial: Trial, signer: Signer, stream: str = "participant/P-001") -> Submission:
    return signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head(stream),
                       type="lab.resulted", payload=LAB, occurred_at=trial.clock.now)


def test_a_prepared_entry_is_not_parsed_again(trial: Trial, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = treated(trial)
    ledger = trial.services.ledger
    ready = ledger.prepare(_lab(trial, client.signer))
    monkeypatch.setattr(ledger_module, "prepare", lambda _: pytest.fail("parsed again"))
    receipt = ledger.append(ready)
    assert receipt.type == "lab.resulted" and ledger.stream("participant/P-001")[-1].hash == \
        receipt.record_hash


def test_a_batch_fails_whole_and_a_group_answers_each(trial: Trial) -> None:
    client, _ = treated(trial)
    ledger = trial.services.ledger
    good, stale = _lab(trial, client.signer), _lab(trial, client.signer)  # same head: one is stale
    before = ledger.head("participant/P-001")
    with pytest.raises(Conflict):  # a stale head is answered as it is, not as a BatchError
        ledger.append_batch([good, stale])
    assert ledger.head("participant/P-001") == before
    with pytest.raises(BatchError) as caught:
        ledger.append_batch([good, Submission(good.entry, good.signature, "{}", good.salt)])
    assert caught.value.index == 1 and ledger.head("participant/P-001") == before
    answers = ledger.append_each(ledger.prepare_each([good, stale]))
    assert isinstance(answers[1], Conflict) and not isinstance(answers[0], Exception)
    assert ledger.head("participant/P-001").record_hash == answers[0].record_hash
