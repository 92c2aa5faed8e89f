"""`evolve_participant_all` (runs of lab results folded in one step) gives exactly the state that
folding `evolve_participant` one fact at a time gives, whatever the order of results, sign-offs,
unlocks, redactions and other changes (hypothesis), for immutable and in-place states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import participant
from domain.facts import Fact
from domain.streams import evolve_participant, evolve_participant_all
from projections.fold import PENDING, Batch, Folding

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
_NOTHING = object()  # a reference with nothing to refer to


def _result(visit: str, analyte: str, value: float) -> dict[str, Any]:
    return {"visit": visit, "analyte": analyte, "value": value, "unit": "U/L",
            "sampled_at": NOW.isoformat(), "control_pt_s": None}


STEPS_REGISTERED = {"participant_id": "P-001", "site": "site-01", "sex": "F",
                    "date_of_birth": "1961-04-02", "weight_kg": 64.0}
STEPS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "lab.resulted": st.builds(_result, st.sampled_from(["week_1", "week_4"]),
                              st.sampled_from(["ALT", "AST", "INR"]), st.floats(0, 500)),
    "participant.registered": st.just(STEPS_REGISTERED),
    "signoff.signed": st.just({"printed_name": "Dr A", "statement": "I approve"}),
    "lock.applied": st.sampled_from([{"scope": "week_1"}, {"scope": "casebook"}]),
    "lock.released": st.sampled_from([{"scope": "week_1"}, {"scope": "casebook"}]),
    "visit.completed": st.just({"visit": "week_1", "on": "2026-03-02"}),
    "sdv.recorded": st.just({"visit": "week_1", "form": "labs", "level": "full"}),
    "assessment.recorded": st.just({"visit": "week_4", "ascites": "none",
                                    "encephalopathy_grade": 0, "dialysis": False,
                                    "observed_on": "2026-03-02"}),
    # Corrections, removals and queries name an earlier record: the k-th lab value standing or
    # query opened before them (`_facts` fills in its hash; a step with none is left out).
    "lab.corrected": st.builds(lambda k, value: {"supersedes": ("lab", k), "value": value,
                                                 "unit": "U/L"}, st.integers(0, 9),
                               st.floats(0, 500)),
    "lab.removed": st.builds(lambda k: {"supersedes": ("lab", k)}, st.integers(0, 9)),
    "query.opened": st.builds(lambda k: {"record": ("lab", k), "field": "value",
                                         "text": "check"}, st.integers(0, 9)),
    "query.answered": st.builds(lambda k: {"query": ("query", k), "text": "ok"},
                                st.integers(0, 9)),
    "query.closed": st.builds(lambda k: {"query": ("query", k)}, st.integers(0, 9)),
}
SCHEMA = {"assessment.recorded": 2}  # the schema of each step, where it is not 1
redacted = st.sampled_from([False, False, False, True])  # a redaction now and then
steps = st.lists(st.tuples(st.sampled_from(sorted(STEPS)).flatmap(
    lambda kind: st.tuples(st.just(kind), STEPS[kind])), redacted), max_size=40)


def _facts(sequence: list[tuple[tuple[str, dict[str, Any]], bool]]) -> list[Fact]:
    facts: list[Fact] = []
    current: dict[str, str] = {}  # "visit/analyte" -> hash of the value that stands
    queries: list[str] = []
    for (kind, payload), redacted in sequence:
        earlier = {"lab": list(current.values()), "query": queries}
        payload = {name: _resolve(value, earlier) for name, value in payload.items()}
        if any(value is _NOTHING for value in payload.values()):
            continue  # nothing to refer to yet: the step is left out
        n = len(facts) + 1
        facts.append(Fact(type=kind, schema=SCHEMA.get(kind, 1), payload={} if redacted else payload,
                          stream="participant/P-001", version=n, author="inv",
                          role="investigator", site="site-01", occurred_at=NOW,
                          recorded_at=NOW + timedelta(seconds=n), reason=None,
                          record_hash=f"{n:064x}", redacted=redacted, meaning="approval",
                          prev=f"{n - 1:064x}"))
        if redacted:
            continue
        if kind == "lab.resulted":
            current[f"{payload['visit']}/{payload['analyte']}"] = f"{n:064x}"
        elif kind in ("lab.corrected", "lab.removed"):
            for key, standing in list(current.items()):
                if standing == payload["supersedes"]:
                    if kind == "lab.removed":
                        del current[key]
                    else:
                        current[key] = f"{n:064x}"
        elif kind == "query.opened":
            queries.append(f"{n:064x}")
    return facts


def _resolve(value: Any, earlier: dict[str, list[str]]) -> Any:
    if not isinstance(value, tuple):
        return value
    kind, k = value
    found = earlier[kind]
    return found[-1 - k % len(found)] if found else _NOTHING


@settings(max_examples=300, deadline=None)
@given(steps)
def test_runs_of_results_fold_to_the_same_state(sequence: list[Any]) -> None:
    facts = _facts(sequence)
    one_by_one = participant.initial()
    try:
        for fact in facts:
            one_by_one = evolve_participant(one_by_one, fact)
    except Exception as exc:  # a correction of no lab value, an answer to no query…
        with pytest.raises(type(exc)):
            evolve_participant_all(participant.initial(), facts)
        return
    expected = one_by_one.model_dump(mode="json")
    assert evolve_participant_all(participant.initial(), facts).model_dump(mode="json") == expected
    assert evolve_participant_all(Folding(), facts).model_dump(mode="json") == expected
    # Split anywhere (a fold that asks for the state in between): still the same.
    half = len(facts) // 2
    split = evolve_participant_all(evolve_participant_all(Folding(), facts[:half]), facts[half:])
    assert split.model_dump(mode="json") == expected


def test_a_result_after_a_sign_off_supersedes_it_as_one_at_a_time_does() -> None:
    facts = _facts([(("lab.resulted", _result("week_1", "ALT", 1.0)), False),
                    (("signoff.signed", {"printed_name": "A", "statement": "ok"}), False),
                    (("lab.resulted", _result("week_1", "AST", 2.0)), False),
                    (("lab.resulted", _result("week_1", "ALT", 3.0)), False)])
    state = evolve_participant_all(participant.initial(), facts)
    assert [s["status"] for s in state.signoffs] == ["superseded"]
    assert state.labs["week_1/ALT"]["value"] == 3.0 and list(state.labs) == ["week_1/ALT",
                                                                              "week_1/AST"]
    assert state.record_hashes == tuple(f.record_hash for f in facts)


def test_redacted_review_records_fold_without_their_payloads() -> None:
    """A redaction may take any participant record's payload: the fold goes on (a redacted
    sign-off still stands, without its printed name and statement; a redacted lock or SDV
    record leaves nothing it could name)."""
    facts = _facts([(("lock.applied", {}), True), (("sdv.recorded", {}), True),
                    (("lock.released", {}), True), (("signoff.signed", {}), True)])
    state = evolve_participant_all(participant.initial(), facts)
    assert state.locks == () and state.sdv == {} and state.unlocked == ()
    assert [(s["printed_name"], s["statement"], s["status"]) for s in state.signoffs] == \
        [(None, None, "valid")]


def test_a_views_batch_folds_pending_facts_when_asked_and_drops_them_for_a_given_state() -> None:
    """`Batch.add` holds facts until the state is asked for (at most PENDING of them); a state
    set by `set_participant` (a redaction's refold from the stream) already holds them."""
    results = [(("lab.resulted", _result(f"week_{n % 5}", "ALT", float(n))), False)
               for n in range(PENDING + 44)]
    facts = _facts([(("participant.registered", STEPS_REGISTERED), False), *results])
    expected = participant.initial()
    for fact in facts:
        expected = evolve_participant(expected, fact)
    batch = Batch()
    for fact in facts:
        batch.add("P-001", fact)
    assert len(batch.pending["P-001"]) == len(facts) - PENDING  # folded once PENDING were held
    assert batch.participant("P-001").model_dump() == expected.model_dump()
    assert "P-001" not in batch.pending and batch.changed == {"P-001"}

    batch.add("P-001", facts[1])
    refolded = participant.initial()
    batch.set_participant("P-001", refolded)
    assert batch.participant("P-001") is refolded  # the pending fact was part of it
