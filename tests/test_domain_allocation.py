"""The allocation stream's fold and the randomiser's records, pure (R24, R25): slots are taken in
list order, an invalidated slot stays used, and an invalidated randomisation retires its slot.
No database, no ledger, no API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest

from domain import allocation, streams
from domain.facts import Consequence, Fact, Rejection
from domain.protocol import load_protocol
from domain.randomisation import generate_allocation
from domain.trial import ALLOCATION_STREAM

DOCUMENT = json.loads(resources.files("domain.protocols").joinpath("nct06167473.json").read_text("utf-8"))
PROTOCOL = load_protocol(DOCUMENT)
LIST = generate_allocation(PROTOCOL, slots=22, seed=bytes(range(32)))
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def fact(stream: str, kind: str, payload: dict[str, Any], reason: str | None = None,
         role: str = "randomiser") -> Fact:
    return Fact(type=kind, schema=1, payload=payload, stream=stream, version=1, author=role,
                role=role, site="sponsor", occurred_at=NOW, recorded_at=NOW, reason=reason)


def request(pid: str, stratum: str | None = None) -> Fact:
    return fact(f"participant/{pid}", "randomisation.requested",
                {"stratum": stratum} if stratum else {}, role="investigator")


def as_facts(consequences: list[Consequence]) -> list[Fact]:
    return [fact(c.stream, c.type, dict(c.payload), c.reason) for c in consequences]


def randomise(history: list[Fact], pid: str) -> list[Consequence]:
    """Allocate `pid` after `history` and add the allocation stream's record to it."""
    answer = allocation.allocate(allocation.fold(LIST, history), request(pid), PROTOCOL)
    history += [f for f in as_facts(answer) if f.stream == ALLOCATION_STREAM]
    return answer


def test_r25_slots_are_taken_in_list_order_with_the_list_s_arm() -> None:
    history: list[Fact] = []
    for n, pid in enumerate(["P-001", "P-002", "P-003"], start=1):
        assigned, randomised = randomise(history, pid)
        assert (assigned.stream, assigned.type, dict(assigned.payload)) == (
            ALLOCATION_STREAM, "slot.assigned", {"stratum": "all", "slot": n, "participant_id": pid})
        assert (randomised.stream, randomised.type, dict(randomised.payload)) == (
            f"participant/{pid}", "participant.randomised",
            {"stratum": "all", "slot": n, "arm": LIST.strata["all"][n - 1]})
        assert assigned.actor == randomised.actor == "randomiser"


def test_r25_an_invalidated_slot_stays_used_and_the_participant_takes_the_next() -> None:
    history: list[Fact] = []
    randomise(history, "P-001")
    history.append(fact(ALLOCATION_STREAM, "slot.invalidated",
                        {"stratum": "all", "slot": 1, "participant_id": "P-001"}, "wrong participant"))
    state = allocation.fold(LIST, history)
    assert [u.invalidated for u in state.used["all"]] == ["wrong participant"]
    _, again = randomise(history, "P-001")
    assert again.payload["slot"] == 2


def test_r25_a_participant_holding_a_slot_is_refused_another() -> None:
    history: list[Fact] = []
    randomise(history, "P-001")
    with pytest.raises(Rejection) as refused:
        randomise(history, "P-001")
    assert refused.value.rule == "randomisation.already_randomised"


def test_r24_an_unknown_stratum_is_refused_before_any_slot_is_taken() -> None:
    with pytest.raises(Rejection) as refused:
        allocation.allocate(allocation.fold(LIST, []), request("P-001", "C"), PROTOCOL)
    assert (refused.value.rule, refused.value.field) == ("randomisation.unknown_stratum",
                                                         "payload.stratum")


def test_r24_the_fold_reads_only_slot_records() -> None:
    committed = fact(ALLOCATION_STREAM, "allocation.committed",
                     {"protocol_version": "1.0", "commitment": "0" * 64, "slots": {"all": 22}})
    assert allocation.fold(LIST, [committed]).used == {}


def _participant_history() -> list[Fact]:
    steps = [("participant.registered", {"participant_id": "P-001", "site": "site-01", "sex": "F",
                                         "date_of_birth": "1961-04-02", "weight_kg": 64.0}),
             ("participant.randomised", {"stratum": "all", "slot": 3, "arm": LIST.strata["all"][2]})]
    return [fact("participant/P-001", kind, payload, role=role) for (kind, payload), role
            in zip(steps, ["investigator", "randomiser"], strict=True)]


def test_r25_an_invalidated_randomisation_retires_its_slot_with_the_reason() -> None:
    invalidation = fact("participant/P-001", "randomisation.invalidated",
                        {"slot_error": "wrong participant"}, "consent form mixed up", "investigator")
    [retired] = allocation.follow_ups(_participant_history(), invalidation)
    assert retired == Consequence(ALLOCATION_STREAM, "slot.invalidated",
                                  {"stratum": "all", "slot": 3, "participant_id": "P-001"},
                                  "randomiser", "consent form mixed up")


def test_r25_no_other_entry_calls_for_an_allocation_record() -> None:
    visit = fact("participant/P-001", "visit.completed", {}, role="investigator")
    assert allocation.follow_ups(_participant_history(), visit) == []


def _decide_slot(history: list[Fact], slot: int, target: int) -> None:
    """Decide a `slot.assigned` after `history` under the protocol with `target` in force."""
    protocol = load_protocol({**DOCUMENT, "target_enrolment": target})
    candidate = fact(ALLOCATION_STREAM, "slot.assigned",
                     {"stratum": "all", "slot": slot, "participant_id": f"P-{slot:03d}"})
    streams.decide(history, candidate, json.dumps(dict(candidate.payload)), protocol)
    history.append(candidate)


def test_no_slot_is_assigned_beyond_the_enrolment_target_until_an_amendment_raises_it() -> None:
    history = [fact(ALLOCATION_STREAM, "allocation.committed",
                    {"protocol_version": "1.0", "commitment": "0" * 64, "slots": {"all": 22}})]
    _decide_slot(history, 1, target=2)
    _decide_slot(history, 2, target=2)
    with pytest.raises(Rejection) as refused:
        _decide_slot(history, 3, target=2)
    assert (refused.value.rule, refused.value.field) == ("enrolment.target_reached", "entry.type")
    _decide_slot(history, 3, target=3)  # the amendment in force raised the target
    # an invalidated slot no longer counts toward the target
    history.append(fact(ALLOCATION_STREAM, "slot.invalidated",
                        {"stratum": "all", "slot": 3, "participant_id": "P-003"}, "wrong participant"))
    _decide_slot(history, 4, target=3)
    with pytest.raises(Rejection) as refused:
        _decide_slot(history, 5, target=3)
    assert refused.value.rule == "enrolment.target_reached"
