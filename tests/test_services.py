"""The trial's rules hold however an entry arrives: these go through the services in process, as
the CLI and the demo simulator call them, with no HTTP in between (tests/test_review.py,
tests/test_labs.py and tests/test_sessions.py hold the same rules over HTTP): a sign-off's
printed name (R13), a refused edit check recorded (R9), the lock-out after failed logins (R17)."""

from __future__ import annotations

import pytest

from api.services import append, sessions
from api.services.errors import Denied
from api.services.tokens import User
from domain.access import LOCK_AFTER
from ledger.entry import Submission
from ledger.errors import RuleViolation
from ledger.ledger import BatchError
from ledger.signer import Signer

from .conftest import Trial
from .test_labs import WEEK_4, treated
from .test_trial_domain import set_up

INVESTIGATOR = User("inv-001", "investigator", "site-01")


def _entry(trial: Trial, signer: Signer, stream: str, type_: str, payload: dict[str, object],
           **kw: str) -> Submission:
    return signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head(stream),
                       type=type_, payload=payload, occurred_at=trial.clock.now, **kw)


def _types(trial: Trial, stream: str) -> list[str]:
    return [r.type for r in trial.services.ledger.stream(stream)]


def test_r13_a_signoff_with_another_printed_name_is_refused_by_the_service(trial: Trial) -> None:
    client, _ = treated(trial)
    stream = "participant/P-001"

    def signoff(name: str) -> Submission:
        return _entry(trial, client.signer, stream, "signoff.signed",
                      {"printed_name": name, "statement": "I approve"}, meaning="approval")

    with pytest.raises(RuleViolation) as caught:
        append.append(trial.services, INVESTIGATOR, signoff("Somebody Else"))
    assert caught.value.rule == "signoff.printed_name" and caught.value.field == "payload.printed_name"
    with pytest.raises(RuleViolation) as batched:
        append.append_batch(trial.services, INVESTIGATOR, [signoff("Somebody Else")])
    assert batched.value.rule == "signoff.printed_name" and batched.value.message.startswith("entry 0: ")
    assert "signoff.signed" not in _types(trial, stream)
    receipt = append.append(trial.services, INVESTIGATOR, signoff("Inv-001"))  # as registered
    assert receipt["type"] == "signoff.signed"


def test_r13_the_service_refuses_an_entry_that_is_not_the_callers(trial: Trial) -> None:
    client, _ = treated(trial)
    entry = _entry(trial, client.signer, "participant/P-001", "signoff.signed",
                   {"printed_name": "Inv-001", "statement": "I approve"}, meaning="approval")
    with pytest.raises(Denied) as caught:
        append.append(trial.services, User("inv-009", "investigator", "site-01"), entry)
    assert caught.value.status == 403 and caught.value.rule == "auth.not_your_entry"


def test_r09_a_refused_edit_check_appended_in_process_is_recorded(trial: Trial) -> None:
    client, _ = treated(trial)
    stream = "participant/P-001"
    implausible = {"visit": "week_4", "analyte": "ALT", "value": 25000.0, "unit": "U/L",
                   "sampled_at": WEEK_4.isoformat()}
    with pytest.raises(RuleViolation) as caught:
        append.append(trial.services, INVESTIGATOR,
                      _entry(trial, client.signer, stream, "lab.resulted", implausible))
    assert caught.value.rule == "lab.implausible"
    refusal = next(e["record_hash"] for e in caught.value.errors if e["field"] == "refusal")
    record = trial.services.ledger.stream(stream)[-1]
    assert record.hash == refusal and record.type == "edit_check.failed"
    assert record.entry.fields["author"] == "system"
    assert record.payload()["value"] == 25000.0 and record.payload()["submitted_by"] == "inv-001"
    with pytest.raises(RuleViolation):  # a batch of one: refused, and recorded
        append.append_batch(trial.services, INVESTIGATOR,
                            [_entry(trial, client.signer, stream, "lab.resulted", implausible)])
    other = _entry(trial, client.signer, "participant/P-002", "participant.registered", {
        "participant_id": "P-002", "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
        "weight_kg": 64})
    with pytest.raises(BatchError) as batched:  # in a batch of several: the same, naming it
        append.append_batch(trial.services, INVESTIGATOR,
                            [other, _entry(trial, client.signer, stream, "lab.resulted", implausible)])
    assert isinstance(batched.value.error, RuleViolation) and batched.value.index == 1
    assert _types(trial, stream)[-3:] == ["edit_check.failed"] * 3
    assert _types(trial, "participant/P-002") == []  # nothing of the batch was written
    fixed = append.append(trial.services, INVESTIGATOR, _entry(
        trial, client.signer, stream, "lab.resulted", {**implausible, "value": 250.0, "refusal": refusal}))
    assert fixed["type"] == "lab.resulted"


def test_r17_failed_logins_through_the_service_lock_the_account(trial: Trial) -> None:
    set_up(trial)
    signer, standing = trial.user("inv-003")
    stream = "access/inv-003"
    for _ in range(LOCK_AFTER):  # her own key, refused by the rules (a stranger's key counts not)
        with pytest.raises(Denied) as refused:
            sessions.open_session(trial.services, _entry(trial, signer, stream, "session.opened",
                                                         {"nonce": "short"}))
        assert refused.value.status == 401
    assert _types(trial, stream) == ["login.failed"] * LOCK_AFTER + ["account.locked"]
    assert trial.services.tokens.lookup(standing) is None  # every token it held is revoked
    with pytest.raises(Denied) as locked:  # the right key no longer helps
        sessions.open_session(trial.services, _entry(trial, signer, stream, "session.opened",
                                                     {"nonce": "n" * 20}))
    assert locked.value.status == 401 and locked.value.rule == "account.locked"


def test_r08_a_session_opened_and_closed_through_the_service_is_recorded(trial: Trial) -> None:
    set_up(trial)
    signer, _ = trial.user("inv-002")
    stream = "access/inv-002"
    opened = sessions.open_session(trial.services, _entry(trial, signer, stream, "session.opened",
                                                          {"nonce": "n" * 20}))
    user = trial.services.tokens.lookup(opened.token)
    assert user is not None and user.session == opened.session
    closed = sessions.close_session(trial.services, user, opened.token)
    assert trial.services.tokens.lookup(opened.token) is None
    assert _types(trial, stream) == ["session.opened", "session.closed"]
    assert trial.services.ledger.stream(stream)[-1].hash == closed
