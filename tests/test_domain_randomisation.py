"""Permuted-block randomisation (R23–R26): generation, commitment, slot use, verification."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from importlib import resources

import pytest
import rfc8785
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.facts import Rejection
from domain.protocol import Protocol, load_protocol
from domain.randomisation import (
    AllocationList,
    AllocationState,
    _Drbg,
    assign,
    balanced_at_block_boundaries,
    canonical_list,
    commitment,
    generate_allocation,
    invalidate,
    next_slot,
    standing_assignment,
    verify_allocations,
)

DOCUMENT = json.loads(resources.files("domain.protocols").joinpath("nct06167473.json").read_text("utf-8"))
PROTOCOL = load_protocol(DOCUMENT)
BY_CLASS = {"factor": "Child-Pugh class", "levels": ["B", "C"]}
STRATIFIED = load_protocol({**DOCUMENT, "stratification": BY_CLASS})
SEED = bytes(range(32))
SALT = bytes(range(32, 64))
LIST = generate_allocation(PROTOCOL, slots=22, seed=SEED)

seeds = st.binary(min_size=16, max_size=64)
slot_counts = st.integers(min_value=1, max_value=200)


def flipped(arm: str) -> str:
    return "low" if arm == "medium_high" else "medium_high"


def with_arm(allocation: AllocationList, stratum: str, index: int, arm: str) -> AllocationList:
    arms = [*allocation.strata[stratum]]
    arms[index] = arm
    return allocation.model_copy(update={"strata": {**allocation.strata, stratum: arms}})


Assignment = tuple[str, int, str, str]  # stratum, slot, participant id, arm


def assign_all(allocation: AllocationList, stratum: str = "all") -> tuple[AllocationState, list[Assignment]]:
    state, done = AllocationState(allocation=allocation), list[Assignment]()
    for n in range(len(allocation.strata[stratum])):
        state, slot, arm = assign(state, stratum, f"P-{n + 1:03d}")
        done.append((stratum, slot, f"P-{n + 1:03d}", arm))
    return state, done


# Generation

def test_a_known_seed_gives_a_known_list() -> None:
    # pinned, so that a change to the DRBG or the shuffle cannot pass unnoticed
    assert LIST.blocks == {"all": [4, 2, 2, 4, 4, 4, 2]}
    assert "".join("L" if a == "low" else "M" for a in LIST.strata["all"]) == "LLMMMLLMLLMMMLLMMLLMML"
    assert commitment(bytes(32), LIST) == "eaf8ee8d92a06a10929160c8ce4aab22e96fe0f811a97459a9d5b9031f347595"


def _list_as_documented(protocol: Protocol, seed: bytes, slots: int) -> list[str]:
    """An auditor's own reading of the documented construction, written apart from the module."""
    key = hmac.new(seed, b"trial-ledger/allocation/v1\x00all", hashlib.sha256).digest()
    stream = b"".join(hmac.new(key, i.to_bytes(8, "big"), hashlib.sha256).digest() for i in range(512))
    pos = 0

    def below(n: int) -> int:
        nonlocal pos
        bits = (n - 1).bit_length()
        while n > 1:
            width = (bits + 7) // 8
            value, pos = int.from_bytes(stream[pos:pos + width], "big") % (1 << bits), pos + width
            if value < n:
                return value
        return 0

    arms: list[str] = []
    while len(arms) < slots:
        size = protocol.block_sizes[below(len(protocol.block_sizes))]
        block = ["low"] * (size // 2) + ["medium_high"] * (size // 2)
        for i in range(size - 1, 0, -1):
            j = below(i + 1)
            block[i], block[j] = block[j], block[i]
        arms += block
    return arms


@given(seeds, st.integers(min_value=1, max_value=60))
def test_r23_anyone_with_the_seed_can_regenerate_the_list(seed: bytes, slots: int) -> None:
    assert generate_allocation(PROTOCOL, slots=slots, seed=seed).strata["all"] == \
        _list_as_documented(PROTOCOL, seed, slots)


@settings(max_examples=200)
@given(seeds, slot_counts)
def test_r24_balanced_at_every_block_boundary_with_block_sizes_from_2_and_4(seed: bytes, slots: int) -> None:
    for protocol in (PROTOCOL, STRATIFIED):
        allocation = generate_allocation(protocol, slots=slots, seed=seed)
        assert balanced_at_block_boundaries(allocation, protocol)
        for name, arms in allocation.strata.items():
            blocks = allocation.blocks[name]
            assert set(blocks) <= {2, 4}
            assert sum(blocks) == len(arms) and sum(blocks) - blocks[-1] < slots <= len(arms)
            end = 0
            for size in blocks:
                counts = Counter(arms[end:end + size])
                end += size
                assert counts["low"] == counts["medium_high"] == size // 2


def test_r24_both_block_sizes_and_every_order_within_them_occur() -> None:
    allocation = generate_allocation(PROTOCOL, slots=2000, seed=SEED)
    arms, blocks = allocation.strata["all"], allocation.blocks["all"]
    starts = [sum(blocks[:i]) for i in range(len(blocks))]
    orders = Counter(tuple(arms[s:s + n]) for s, n in zip(starts, blocks, strict=True))
    assert len([o for o in orders if len(o) == 2]) == 2 and len([o for o in orders if len(o) == 4]) == 6
    assert 0.4 < blocks.count(2) / len(blocks) < 0.6


@given(seeds, slot_counts)
def test_the_same_seed_gives_the_same_list(seed: bytes, slots: int) -> None:
    assert generate_allocation(PROTOCOL, slots=slots, seed=seed) == \
        generate_allocation(PROTOCOL, slots=slots, seed=seed)


@given(seeds, seeds, st.integers(min_value=40, max_value=200))
def test_different_seeds_give_different_lists(one: bytes, other: bytes, slots: int) -> None:
    assume(one != other)
    # about 1 in 10^10 for 40 slots: a collision here means the seed is being ignored
    assert generate_allocation(PROTOCOL, slots=slots, seed=one) != \
        generate_allocation(PROTOCOL, slots=slots, seed=other)


def test_each_stratum_has_its_own_list() -> None:
    allocation = generate_allocation(STRATIFIED, slots=22, seed=SEED)
    assert set(allocation.strata) == {"B", "C"} and allocation.strata["B"] != allocation.strata["C"]
    only_b = load_protocol({**DOCUMENT, "stratification": {"factor": "Child-Pugh class", "levels": ["B"]}})
    assert generate_allocation(only_b, slots=22, seed=SEED).strata["B"] == allocation.strata["B"]


def test_the_drbg_draws_uniform_integers() -> None:
    drbg = _Drbg(SEED, "all")
    draws = Counter(drbg.below(3) for _ in range(30_000))
    assert set(draws) == {0, 1, 2} and all(abs(n - 10_000) < 400 for n in draws.values())
    assert _Drbg(SEED, "all").below(1) == 0


def test_short_seeds_and_empty_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        generate_allocation(PROTOCOL, slots=22, seed=bytes(15))
    with pytest.raises(ValueError, match="at least 1"):
        generate_allocation(PROTOCOL, slots=0, seed=SEED)


def test_a_list_whose_blocks_do_not_cover_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        AllocationList(protocol_version="1.0", strata={"all": ["low", "medium_high"]}, blocks={"all": [4]})
    with pytest.raises(ValidationError):
        AllocationList(protocol_version="1.0", strata={"all": []}, blocks={"B": []})


def test_balance_check_notices_an_unbalanced_block_and_a_foreign_block_size() -> None:
    assert not balanced_at_block_boundaries(with_arm(LIST, "all", 0, "medium_high"), PROTOCOL)
    six = AllocationList(protocol_version="1.0", strata={"all": ["low", "medium_high"] * 3},
                         blocks={"all": [6]})
    assert not balanced_at_block_boundaries(six, PROTOCOL)


# Commitment

def test_r23_commitment_is_sha256_of_the_salt_and_the_canonical_list() -> None:
    assert commitment(SALT, LIST) == hashlib.sha256(SALT + canonical_list(LIST)).hexdigest()
    assert commitment(SALT, LIST) != commitment(bytes(32), LIST)
    for salt in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError, match="exactly 32"):
            commitment(salt, LIST)


@given(st.integers(min_value=0, max_value=21))
def test_r23_commitment_changes_when_one_slot_changes(index: int) -> None:
    changed = with_arm(LIST, "all", index, flipped(LIST.strata["all"][index]))
    assert commitment(SALT, changed) != commitment(SALT, LIST)


names = st.text(min_size=1, max_size=12)


@given(st.dictionaries(names, st.lists(names, max_size=8), min_size=1, max_size=4), names)
@example({"\uffff": ["x"], "\U0001f600": ["y"], "all": ["é", "\n\u001f\"\\"]}, "1.0")  # UTF-16 key order
def test_canonical_list_is_rfc8785_for_strings_ints_and_lists(strata: dict[str, list[str]],
                                                               version: str) -> None:
    allocation = AllocationList(protocol_version=version, strata=strata,
                                blocks={k: [len(v)] if v else [] for k, v in strata.items()})
    assert canonical_list(allocation) == rfc8785.dumps(allocation.model_dump(mode="json"))


# Slots

def test_r25_slots_are_taken_in_list_order_and_the_arm_is_the_list_s() -> None:
    state, done = assign_all(LIST)
    assert [slot for _, slot, _, _ in done] == list(range(1, 23))
    assert [arm for _, _, _, arm in done] == LIST.strata["all"]
    with pytest.raises(Rejection) as caught:
        assign(state, "all", "P-999")
    assert caught.value.rule == "randomisation.list_exhausted"


def test_r25_an_invalidated_slot_stays_used_and_the_participant_takes_the_next() -> None:
    state = AllocationState(allocation=LIST)
    state, first, _ = assign(state, "all", "P-001")
    with pytest.raises(Rejection) as caught:
        assign(state, "all", "P-001")
    assert caught.value.rule == "randomisation.already_randomised"
    before = state
    state = invalidate(state, "all", first, "randomised in the wrong stratum")
    assert before.used["all"][0].invalidated is None  # states are values: the old one is untouched
    assert standing_assignment(state, "P-001") is None
    state, second, arm = assign(state, "all", "P-001")
    assert (first, second, arm) == (1, 2, LIST.strata["all"][1])
    assert standing_assignment(state, "P-001") == ("all", 2, arm)
    assert next_slot(state, "all") == 3


@pytest.mark.parametrize(("slot", "reason", "rule"), [
    (1, "  ", "randomisation.reason_required"),
    (2, "typo", "randomisation.slot_not_used"),
    (0, "typo", "randomisation.slot_not_used"),
])
def test_r25_invalidation_needs_a_reason_and_a_used_slot(slot: int, reason: str, rule: str) -> None:
    state, _, _ = assign(AllocationState(allocation=LIST), "all", "P-001")
    with pytest.raises(Rejection) as caught:
        invalidate(state, "all", slot, reason)
    assert caught.value.rule == rule


def test_r25_a_slot_is_invalidated_once_and_strata_must_exist() -> None:
    state, _, _ = assign(AllocationState(allocation=LIST), "all", "P-001")
    state = invalidate(state, "all", 1, "consent withdrawn before randomisation was recorded")
    with pytest.raises(Rejection) as caught:
        invalidate(state, "all", 1, "again")
    assert caught.value.rule == "randomisation.already_invalidated"
    with pytest.raises(Rejection) as caught:
        assign(state, "B", "P-002")
    assert (caught.value.rule, caught.value.field) == ("randomisation.unknown_stratum", "payload.stratum")


operations = st.lists(st.tuples(st.sampled_from(["assign", "invalidate"]), st.sampled_from(["B", "C"]),
                                st.integers(min_value=1, max_value=30)), max_size=80)


@given(seeds, operations)
def test_r25_assign_never_returns_the_same_slot_twice(seed: bytes, ops: list[tuple[str, str, int]]) -> None:
    allocation = generate_allocation(STRATIFIED, slots=20, seed=seed)
    state, given_out = AllocationState(allocation=allocation), Counter[tuple[str, int]]()
    for n, (op, stratum, k) in enumerate(ops):
        try:
            if op == "assign":
                state, slot, arm = assign(state, stratum, f"P-{k:03d}")
                given_out[stratum, slot] += 1
                assert arm == allocation.strata[stratum][slot - 1]
            else:
                state = invalidate(state, stratum, k, f"error {n}")
        except Rejection as rejection:
            assert rejection.rule.startswith("randomisation.")
    assert all(count == 1 for count in given_out.values())
    for stratum in ("B", "C"):
        assert sorted(s for st_, s in given_out if st_ == stratum) == list(
            range(1, len(state.used.get(stratum, ())) + 1))


# Verification after unblinding

def test_r26_recorded_allocations_match_the_committed_list() -> None:
    _, done = assign_all(LIST)
    assert verify_allocations(LIST, SALT, commitment(SALT, LIST), done) == []
    assert verify_allocations(LIST, SALT, commitment(SALT, LIST).upper(), done[:5]) == []


@given(st.integers(min_value=0, max_value=21))
def test_r26_one_changed_arm_is_found(index: int) -> None:
    _, done = assign_all(LIST)
    stratum, slot, who, arm = done[index]
    done[index] = (stratum, slot, who, flipped(arm))
    problems = verify_allocations(LIST, SALT, commitment(SALT, LIST), done)
    assert problems == [f"stratum all slot {slot} ({who}): recorded arm {flipped(arm)}, the list says {arm}"]


def test_r26_a_list_changed_after_commitment_is_found() -> None:
    changed = with_arm(LIST, "all", 3, flipped(LIST.strata["all"][3]))
    problems = verify_allocations(changed, SALT, commitment(SALT, LIST), [])
    assert len(problems) == 1 and problems[0].startswith("commitment mismatch")
    wrong_salt = verify_allocations(LIST, bytes(32), commitment(SALT, LIST), [])
    assert wrong_salt[0].startswith("commitment mismatch")
    assert "32" in verify_allocations(LIST, b"short", commitment(SALT, LIST), [])[0]


def test_r26_reused_skipped_and_foreign_slots_are_found() -> None:
    arms = LIST.strata["all"]
    committed = commitment(SALT, LIST)
    reused = [("all", 1, "P-001", arms[0]), ("all", 1, "P-002", arms[0])]
    assert verify_allocations(LIST, SALT, committed, reused) == [
        "stratum all slot 1 (P-002): slot used twice, first by P-001"]
    skipped = [("all", 1, "P-001", arms[0]), ("all", 3, "P-002", arms[2]), ("all", 2, "P-003", arms[1])]
    assert verify_allocations(LIST, SALT, committed, skipped) == [
        "stratum all slot 3 (P-002): out of order, the next slot was 2",
        "stratum all slot 2 (P-003): out of order, the next slot was 4"]
    foreign = [("B", 1, "P-001", "low"), ("all", 23, "P-002", "low")]
    assert verify_allocations(LIST, SALT, committed, foreign) == [
        "stratum B slot 1 (P-001): the list has no such stratum",
        "stratum all slot 23 (P-002): the list has slots 1 to 22 only"]
