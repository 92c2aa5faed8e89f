"""The batch path's shortcuts give what the plain path gives: a new stream's state shared by every
new stream of its kind (the fold of no history), a state's empty values written without a call
each, an early check attached without `dataclasses.replace`, a signature check no verifier thread
has begun made by the caller, and the cyclic collector held off for a large batch and handed back
as it was found."""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from api.services import state_codec
from api.services.rules import KEPT_KINDS, STATE_CLASSES, TrialRules
from domain import streams
from domain.participant import ParticipantState
from ledger import gc_pause
from ledger import keys as keys_module
from ledger.contract import FollowUp, StreamView
from ledger.entry import ZERO_HASH, Record, Submission
from ledger.errors import Conflict, Head
from ledger.keys import generate
from ledger.prepared import prepare
from ledger.registry import SignatureCheck
from ledger.signer import Signer
from ledger.tree import iter_leaves
from ledger.verify import verify_log
from projections.facts import to_fact

from .conftest import DemoTrial, Trial


def _registrations(signer: Signer, origin: str, count: int, prefix: str = "P-") -> list[Submission]:
    return [signer.sign(ledger=origin, head=Head(f"participant/{prefix}{n:04d}", 0, ZERO_HASH),
                        type="participant.registered", occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
                        payload={"participant_id": f"{prefix}{n:04d}", "site": "site-01",
                                 "sex": "F", "date_of_birth": "1961-04-02", "weight_kg": 64})
            for n in range(count)]


@pytest.mark.parametrize("stream", ["participant/P-0001", "access/inv-001"])
def test_a_new_streams_state_is_the_fold_of_no_history_and_shared(stream: str) -> None:
    rules = TrialRules()
    kind = streams.kind_of(stream)
    assert kind.name in KEPT_KINDS
    first = rules.fold(stream, ())
    assert first == streams.fold(kind, []) == kind.initial()
    assert type(first) is type(kind.initial())
    assert rules.fold(stream.rsplit("/", 1)[0] + "/other", ()) is first  # made once per kind


def test_the_shared_new_state_is_unchanged_by_a_batch_and_every_state_is_the_fold(
        sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    ledger = trial.services.ledger
    rules = ledger.rules
    assert isinstance(rules, TrialRules)
    signer, _ = trial.user("inv-001")
    shared = rules.fold("participant/P-9999", ())
    before = shared.model_dump()
    receipts = ledger.append_batch(_registrations(signer, ledger.origin, gc_pause.PAUSE_FROM + 6))
    assert rules.fold("participant/P-9999", ()) is shared
    fresh = streams.kind_of("participant/P-1").initial()
    assert shared.model_dump() == before == fresh.model_dump()
    store = trial.services.store
    for receipt in receipts[:: gc_pause.PAUSE_FROM // 4]:
        with store.read() as cur:
            row = store.stream_state(cur, receipt.stream)
        assert row is not None and row.version == 1
        history = ledger.stream(receipt.stream)
        plain = streams.fold(streams.kind_of(receipt.stream), [to_fact(r) for r in history])
        assert rules.load_state(receipt.stream, row.state) == plain
    assert all(r.follow_ups == () for r in receipts)
    tree = ledger.tree
    report = verify_log(store.iter_log(), checkpoints=[c.note for c in tree.checkpoints()],
                        leaves=iter_leaves(tree), root=trial.info.root_fingerprint)
    assert report.as_dict()["ok"] is True


def test_an_early_check_is_attached_as_replace_would(sqlite_trial: Trial) -> None:
    ledger = sqlite_trial.services.ledger
    signer, _ = sqlite_trial.user("inv-001")
    item = prepare(_registrations(signer, ledger.origin, 1)[0])
    check = SignatureCheck("k" * 64, lambda: True)
    fast = item.with_check(check)
    assert fast == replace(item, checked=check)
    assert type(fast) is type(item) and fast.checked is check and item.checked is None


def test_a_large_batch_holds_the_collector_off_and_hands_it_back(sqlite_trial: Trial) -> None:
    ledger = sqlite_trial.services.ledger
    signer, _ = sqlite_trial.user("inv-001")
    seen: list[bool] = []
    rules = ledger.rules
    assert isinstance(rules, TrialRules)
    decide_on = rules.decide_on

    def watching(state: object, candidate: Record,
                 view: StreamView) -> tuple[Sequence[FollowUp], object]:
        seen.append(gc.isenabled())
        return decide_on(state, candidate, view)

    rules.decide_on = watching  # type: ignore[method-assign]
    assert gc.isenabled()
    ledger.append_batch(_registrations(signer, ledger.origin, gc_pause.PAUSE_FROM, "L-"))
    assert gc.isenabled() and seen and not any(seen)
    seen.clear()
    ledger.append_batch(_registrations(signer, ledger.origin, 3, "S-"))
    assert seen == [True] * 3  # a small batch leaves it alone
    seen.clear()
    gc.disable()
    try:
        ledger.append_batch(_registrations(signer, ledger.origin, gc_pause.PAUSE_FROM, "D-"))
        assert not gc.isenabled()  # off before, off after: not ours to turn on
    finally:
        gc.enable()
    with pytest.raises(Conflict):  # a refused batch hands the collector back too
        ledger.append_batch(_registrations(signer, ledger.origin, gc_pause.PAUSE_FROM, "L-"))
    assert gc.isenabled()


def test_holds_from_several_threads_end_with_the_last() -> None:
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with gc_pause.paused(gc_pause.PAUSE_FROM):
            inside.set()
            leave.wait(5)

    other = threading.Thread(target=hold)
    other.start()
    assert inside.wait(5)
    with gc_pause.paused(gc_pause.PAUSE_FROM):
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread still holds it
    leave.set()
    other.join(5)
    assert gc.isenabled()


def _plain(v: Any, names: dict[type, str]) -> Any:
    """The codec's form written the plain way: every value through one recursive walk."""
    t = type(v)
    if t in (str, int, bool, float, type(None)):
        return v
    if t is dict:
        if all(type(k) is str and k[:1] != "$" for k in v):
            return {k: _plain(x, names) for k, x in v.items()}
        return {"$map": [[_plain(k, names), _plain(x, names)] for k, x in v.items()]}
    if t is list:
        return [_plain(x, names) for x in v]
    if t is tuple:
        return {"$tuple": [_plain(x, names) for x in v]}
    if t is datetime:
        return {"$datetime": v.isoformat()}
    if t is date:
        return {"$date": v.isoformat()}
    if t is Decimal:
        return {"$decimal": str(v)}
    if t is frozenset:
        return {"$frozenset": [_plain(x, names) for x in v]}
    fields = (v.__dict__ if isinstance(v, BaseModel) else
              {f.name: getattr(v, f.name) for f in dataclasses.fields(v) if f.init})
    return {"$obj": [names[t], {k: _plain(x, names) for k, x in fields.items()}]}


def test_a_dumped_state_is_the_plain_encoding_of_every_state_of_the_demo(demo: DemoTrial) -> None:
    """The codec writes a state's empty tuples and dicts without a call each: byte for byte what
    the plain walk writes, over every state every kept stream of the demo trial went through."""
    ledger, store = demo.services.ledger, demo.services.store
    rules = ledger.rules
    assert isinstance(rules, TrialRules)
    names = {cls: name for name, cls in STATE_CLASSES.items()}
    with store.read() as cur:
        cur.execute("SELECT DISTINCT originator_id AS s FROM stored_events")
        kept = [r["s"] for r in cur.fetchall() if rules.keeps_state(r["s"])]
    states = [rules.fold(s, ledger.stream(s)[:k]) for s in kept
              for k in range(len(ledger.stream(s)) + 1)]
    assert len(states) > 100
    for state in states:
        assert state_codec.dumps(state, STATE_CLASSES) == orjson.dumps(_plain(state, names))
    odd = ParticipantState(labs={"a/b": {"history": [], "x": ()}}, failed_criteria=("c",),
                           queries={}, record_hashes=())
    assert state_codec.dumps(odd, STATE_CLASSES) == orjson.dumps(_plain(odd, names))


def test_checks_no_verifier_has_begun_are_made_by_the_caller_with_the_same_answers() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: checks are made in the calling thread anyway")
    keys = [generate() for _ in range(3)]
    checks = []
    for n in range(205):
        key = keys[n % 3]
        message = f"entry {n}".encode()
        signature = key.sign(message)
        if n % 7 == 0:  # a signature over other bytes, or by another key
            signature = key.sign(message + b"!")
        checks.append((keys[(n + (n % 11 == 0)) % 3].public_key(), signature, message))
    plain = [keys_module.signature_valid(k, s, m) for k, s, m in checks]
    assert not all(plain) and any(plain)
    pool = keys_module._verifier_pool(keys_module.PendingChecks.THREADS)
    release = threading.Event()
    busy = [pool.submit(release.wait, 10) for _ in range(keys_module.PendingChecks.THREADS)]
    try:
        pending = keys_module.PendingChecks(checks)  # queued behind the busy verifiers
        answers = [pending.result(i) for i in range(len(checks))]
        assert not release.is_set() and not any(b.done() for b in busy)  # none came from the pool
    finally:
        release.set()
    assert answers == plain
    for spare_core in (True, False):  # with the verifiers free, asked in any order: the same
        started = keys_module.PendingChecks(checks, spare_core=spare_core)
        order = list(range(len(checks)))
        random.Random(spare_core).shuffle(order)
        assert {i: started.result(i) for i in order} == dict(enumerate(plain))


def test_a_check_that_breaks_raises_to_whoever_asks_for_its_answer() -> None:
    key = generate()
    checks: list[Any] = [(key.public_key(), key.sign(b"m"), b"m")] * 100
    checks[57] = ("not a key", key.sign(b"m"), b"m")
    pending = keys_module.PendingChecks(checks)
    assert pending.result(99) and pending.result(0)
    with pytest.raises(AttributeError):
        pending.result(57)
