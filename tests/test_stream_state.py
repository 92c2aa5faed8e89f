"""Stream states (ledger/stream_state.py): an append decides a participant's entry from the state
kept for its stream's head, never from its history, and that state is never trusted on its own:
a state someone edited, replayed or left behind is not used, whatever it says; verification
and rebuilds never read it; and a state read back is the state folded from the history."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from api.client.sdk import LedgerClient, LedgerClientError
from api.services.bootstrap import bootstrap
from api.services.rules import TrialRules
from ledger.entry import Record
from ledger.errors import LedgerError
from ledger.store import STATES_TABLE, StoredState
from ledger.stream_state import state_key, state_mac
from ledger.tree import iter_leaves
from ledger.verify import verify_log

from .conftest import DemoTrial, Trial

STREAM = "participant/P-001"


def _stored(trial: Trial, stream: str = STREAM) -> StoredState | None:
    store = trial.services.store
    with store.read() as cur:
        return store.stream_state(cur, stream)


def _write(trial: Trial, row: StoredState) -> None:
    """What someone with write access to the database can do."""
    store = trial.services.store
    with store.transaction() as cur:
        store.put_stream_states(cur, [row])


def _forged(row: StoredState, **fields: Any) -> bytes:
    """The stored state with some of its fields changed, written as the codec writes it."""
    doc = json.loads(row.state)
    doc["$obj"][1].update(fields)
    return json.dumps(doc, separators=(",", ":")).encode()


def _rules(trial: Trial) -> TrialRules:
    rules = trial.services.ledger.rules
    assert isinstance(rules, TrialRules)
    return rules


def _withdrawn(trial: Trial) -> LedgerClient:
    """P-001 registered, consented on form 1.0, and withdrawn: a second withdrawal is refused."""
    investigator = trial.client("inv-001")
    investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    investigator.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    return investigator


def _withdraw_again(investigator: LedgerClient) -> str:
    with pytest.raises(LedgerClientError) as refused:
        investigator.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    return refused.value.rule


def _stored_is_folded(trial: Trial, stream: str = STREAM) -> None:
    """The stored state belongs to the head under a MAC that holds, and is the fold of history."""
    ledger, rules = trial.services.ledger, _rules(trial)
    history = ledger.stream(stream)
    row = _stored(trial, stream)
    assert row is not None and (row.version, row.record_hash) == (history[-1].version, history[-1].hash)
    with trial.services.store.read() as cur:
        redactions = trial.services.store.redaction_mark(cur)
    key = state_key(ledger.sealer, ledger.states.process_key)
    assert row.mac == state_mac(key, rules.state_format, stream, row.version, row.record_hash,
                                redactions, row.state)
    assert rules.load_state(stream, row.state) == rules.fold(stream, history)


def test_an_append_uses_the_stored_state_of_its_head(trial: Trial) -> None:
    investigator = trial.client("inv-001")
    investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    _stored_is_folded(trial)
    states = trial.services.ledger.states
    states.clear()  # as a process that starts now: nothing in memory
    before = dict(states.counts)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    assert states.counts["stored"] == before["stored"] + 1
    assert states.counts["folded"] == before["folded"]
    investigator.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    assert states.counts["memory"] > before["memory"]  # then the one kept in memory
    _stored_is_folded(trial)


ATTACKS: dict[str, Callable[[StoredState, StoredState], StoredState]] = {
    # the state edited, its version, hash and MAC left as they were
    "edited": lambda old, now: replace(now, state=_forged(now, status="consented", consent_form="1.0")),
    # ... and a MAC made again, with a key of one's own
    "edited, new MAC": lambda old, now: _remac(
        replace(now, state=_forged(now, status="consented", consent_form="1.0")),
        secrets.token_bytes(32)),
    # a genuine older state (consent standing), moved up to the head
    "replayed": lambda old, now: replace(old, version=now.version, record_hash=now.record_hash),
    # a genuine older state left as it was: another writer appended and wrote none
    "behind": lambda old, now: old,
    # a genuine state of another stream (consent standing), with its MAC, at this head
    "other stream": lambda old, now: replace(old, stream=now.stream, version=now.version,
                                             record_hash=now.record_hash),
}


def _remac(row: StoredState, key: bytes) -> StoredState:
    return replace(row, mac=state_mac(key, TrialRules.state_format, row.stream, row.version,
                                      row.record_hash, 0, row.state))


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("memory", [True, False], ids=["kept in memory", "new process"])
def test_a_state_that_disagrees_with_the_log_never_accepts_an_entry(trial: Trial, attack: str,
                                                                    memory: bool) -> None:
    investigator = trial.client("inv-001")
    investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    if attack == "other stream":  # P-002's genuine state: consent standing
        investigator.register_participant("P-002", sex="M", date_of_birth="1960-01-01", weight_kg=70.0)
        investigator.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")
        old = _stored(trial, "participant/P-002")
    else:
        old = _stored(trial)
    investigator.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    now = _stored(trial)
    assert old is not None and now is not None
    _write(trial, ATTACKS[attack](old, now))
    states = trial.services.ledger.states
    if not memory:
        states.clear()
    folded = states.counts["folded"]

    assert _withdraw_again(investigator) == "consent.withdrawal_without_consent"
    assert states.counts["folded"] == folded + (0 if memory else 1)  # detected: folded instead
    # The next entry accepted writes the state of its head again, as the log has it.
    investigator.sign_consent("P-001", form_version="2.0", signed_on="2026-03-02")
    _stored_is_folded(trial)
    states.clear()
    assert _withdraw_again(investigator) == "consent.withdrawal_wrong_form"  # from the stored state


def test_a_state_kept_in_memory_is_not_used_once_another_process_appended(
        trial: Trial, db_url: str) -> None:
    investigator = trial.client("inv-001")
    investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    signer, _ = trial.user("inv-002")
    other = bootstrap(db_url)  # another process on the same database: its own key, its own memory
    try:
        ledger = other.ledger
        ledger.append(signer.sign(ledger=trial.info.origin, head=ledger.head(STREAM),
                                  type="consent.withdrawn", occurred_at=trial.clock.now,
                                  payload={"form_version": "1.0", "withdrawn_on": "2026-03-02"}))
    finally:
        other.close()
    # This process still holds the state with consent standing, at version 2: not the head.
    assert _withdraw_again(investigator) == "consent.withdrawal_without_consent"
    investigator.sign_consent("P-001", form_version="2.0", signed_on="2026-03-02")
    _stored_is_folded(trial)


def test_a_redaction_is_folded_in_not_kept_out(trial: Trial) -> None:
    investigator = trial.client("inv-001")
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    registered = investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02",
                                                   weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    before = _stored(trial)
    assert before is not None
    rules = _rules(trial)
    assert rules.load_state(STREAM, before.state).sex == "F"  # type: ignore[attr-defined]
    manager.redact(str(registered["record_hash"]), reason="a name typed into a free-text field")
    # The redaction moved no head of P-001, yet the fold now reads differently: the old state,
    # MAC and all, is no longer used (memory dropped; the redaction count is under the MAC).
    _write(trial, before)
    trial.services.ledger.states.clear()
    folded = trial.services.ledger.states.counts["folded"]
    investigator.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    assert trial.services.ledger.states.counts["folded"] == folded + 1
    _stored_is_folded(trial)
    assert rules.fold(STREAM, trial.services.ledger.stream(STREAM)).sex is None


def test_an_access_stream_keeps_its_state_too(trial: Trial) -> None:
    signer, _ = trial.user("inv-009")
    stream = "access/inv-009"
    for _ in range(2):
        LedgerClient.login(signer=signer, http=trial.new_http(), clock=trial.clock)
    _stored_is_folded(trial, stream)
    state = _rules(trial).fold(stream, trial.services.ledger.stream(stream))
    assert len(state.sessions) == 2 and state.failures == 0  # type: ignore[attr-defined]


def test_state_bytes_that_fail_to_load_are_folded_instead(trial: Trial) -> None:
    investigator = trial.client("inv-001")
    investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    rules, states = _rules(trial), trial.services.ledger.states
    row = _stored(trial)
    assert row is not None
    for junk in (b"not json", b'{"$obj": ["Popen", {"args": ["sh"]}]}', b'{"$tuple": 3}',
                 _forged(row, status="no such status")):
        with pytest.raises((ValueError, LedgerError, TypeError)):  # pydantic's error is a ValueError
            rules.load_state(STREAM, junk)
    key = state_key(trial.services.ledger.sealer, states.process_key)
    junk = b'{"$obj": ["AccessState", {}]}'  # loads, but is not a participant's state
    _write(trial, replace(row, state=junk, mac=state_mac(key, rules.state_format, STREAM, row.version,
                                                         row.record_hash, 0, junk)))
    states.clear()
    folded = states.counts["folded"]
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    assert states.counts["folded"] == folded + 1
    _stored_is_folded(trial)


def test_verification_and_rebuilds_never_read_the_table(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    _withdrawn(trial)
    views = trial.services.views
    views.catch_up()
    participants = views.participants()
    with trial.services.store.transaction() as cur:
        cur.execute(f"DROP TABLE {STATES_TABLE}")
    tree = trial.services.ledger.tree
    report = verify_log(trial.services.store.iter_log(), checkpoints=[c.note for c in tree.checkpoints()],
                        leaves=iter_leaves(tree), root=trial.info.root_fingerprint)
    assert report.as_dict()["ok"] is True
    views.rebuild()
    assert views.participants() == participants
    for module in Path("ledger").glob("verify*.py"):
        assert STATES_TABLE not in module.read_text() and "stream_state" not in module.read_text()
    for module in Path("projections").glob("*.py"):
        assert STATES_TABLE not in module.read_text() and "stream_state" not in module.read_text()


def test_the_protocol_is_parsed_again_only_when_its_stream_moves(demo: DemoTrial) -> None:
    ledger = demo.services.ledger
    rules = ledger.rules
    assert isinstance(rules, TrialRules)
    view = _LogView(ledger.stream)
    first = rules.protocol(view)
    assert first is not None and rules.protocol(view) is first  # not parsed again
    assert first == TrialRules().protocol(view)
    # A protocol stream that is not the one read before is read again.
    assert rules.protocol(_LogView(lambda s: [] if s == "protocol" else ledger.stream(s))) is None
    assert rules.protocol(view) == first


class _LogView:
    def __init__(self, read: Callable[[str], Sequence[Record]]) -> None:
        self.read = read

    def history(self, stream: str) -> Sequence[Record]:
        return self.read(stream)


def _outcome(decide: Callable[[], Any]) -> Any:
    try:
        return ("accepted", decide())
    except LedgerError as exc:
        return ("refused", exc.rule)


def test_a_state_read_back_is_the_state_folded_from_history(demo: DemoTrial) -> None:
    """Over the demo trial: every kept stream's state survives JSON (types and all), the state
    the appends stored is the fold of the log, and every entry is decided alike from the
    history and from the state read back, leaving that state as it was."""
    services = demo.services
    ledger, store = services.ledger, services.store
    rules = ledger.rules
    assert isinstance(rules, TrialRules)
    with store.read() as cur:
        cur.execute("SELECT DISTINCT originator_id AS s FROM stored_events")
        streams = sorted(r["s"] for r in cur.fetchall())
    kept = [s for s in streams if rules.keeps_state(s)]
    assert sum(s.startswith("participant/") for s in kept) == 6
    view = _LogView(ledger.stream)
    participants = services.views.participants()
    decided = 0
    for stream in kept:
        history = ledger.stream(stream)
        state = rules.fold(stream, history)
        data = rules.dump_state(state)
        again = rules.load_state(stream, data)
        assert again == state and rules.dump_state(again) == data
        with store.read() as cur:
            row = store.stream_state(cur, stream)
        assert row is not None and (row.version, row.record_hash) == (history[-1].version, history[-1].hash)
        assert rules.load_state(stream, row.state) == state  # grown entry by entry, equal to the fold
        if stream.startswith("participant/"):
            assert participants[stream.removeprefix("participant/")] == state  # and to the view's
        for k, candidate in enumerate(history):
            before = rules.fold(stream, history[:k])
            frozen = rules.dump_state(before)
            from_state = rules.load_state(stream, frozen)
            by_history = _outcome(lambda h=history[:k], c=candidate: rules.decide(h, c, view))
            by_state = _outcome(lambda s=from_state, c=candidate: rules.decide_on(s, c, view))
            if by_state[0] == "accepted":
                follow_ups, after = by_state[1]
                by_state = ("accepted", follow_ups)
                assert after == rules.fold(stream, history[:k + 1])
            assert by_state == by_history, (stream, k, candidate.type)
            assert rules.dump_state(from_state) == frozen  # deciding changed nothing in place
            decided += by_state[0] == "accepted"
    assert decided > 100


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_group_reads_its_states_ahead_and_still_never_trusts_a_wrong_one(
        trial: Trial, attack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's last rows and stored states are read in one query each (`Deciding.read_ahead`):
    a state that disagrees with the log is detected there as well, and folded instead."""
    from .test_group_commit import _in_one_group

    investigator = trial.client("inv-001")
    investigator.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    investigator.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    investigator.register_participant("P-002", sex="M", date_of_birth="1960-01-01", weight_kg=70.0)
    investigator.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")
    old = _stored(trial, "participant/P-002" if attack == "other stream" else STREAM)
    investigator.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-02")
    now = _stored(trial)
    assert old is not None and now is not None
    _write(trial, ATTACKS[attack](old, now))
    ledger = trial.services.ledger
    ledger.states.clear()  # as a process that starts now
    counts = dict(ledger.states.counts)

    def sign(stream: str, kind: str, payload: dict[str, Any]) -> Any:
        return investigator.signer.sign(ledger=trial.info.origin, head=ledger.head(stream),
                                        type=kind, payload=payload, occurred_at=trial.clock.now,
                                        schema=2 if kind == "consent.withdrawn" else 1)

    group = [
        sign(STREAM, "consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-02",
                                           "follow_up": "none"}),
        sign("participant/P-002", "consent.withdrawn", {"form_version": "1.0",
                                                        "withdrawn_on": "2026-03-02",
                                                        "follow_up": "none"}),
        sign("participant/P-003", "participant.registered", {
            "participant_id": "P-003", "site": "site-01", "sex": "F",
            "date_of_birth": "1961-04-02", "weight_kg": 64})]
    store = trial.services.store
    one_by_one: list[str] = []  # the reads a group makes one stream at a time, counted
    for name in ("last_row", "stream_state"):
        read = getattr(store, name)
        monkeypatch.setattr(store, name, lambda cur, stream, read=read, name=name: (
            one_by_one.append(f"{name} {stream}"), read(cur, stream))[1])

    answers = _in_one_group(trial, group)

    assert isinstance(answers[0], LedgerError)
    assert answers[0].rule == "consent.withdrawal_without_consent"  # type: ignore[attr-defined]
    assert not isinstance(answers[1], Exception) and not isinstance(answers[2], Exception)
    # P-001's state detected and folded; P-002's genuine one used; P-003 begun from nothing
    assert ledger.states.counts["folded"] == counts["folded"] + 2
    assert ledger.states.counts["stored"] == counts["stored"] + 1
    assert one_by_one == []  # every head and stored state came from the read-ahead
    for stream in ("participant/P-002", "participant/P-003"):
        _stored_is_folded(trial, stream)
