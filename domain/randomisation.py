"""Permuted-block randomisation that anyone can check afterwards (R23–R26).

At set-up the list is generated from a secret seed, stored encrypted, and only a salted commitment
enters the ledger. Each randomisation takes the next unused slot of the participant's stratum. At
unblinding, list and salt are revealed, and `verify_allocations` checks every allocation against
the commitment.

Slots are numbered from 1 within each stratum: slot n carries `strata[stratum][n - 1]`.

Rules decided here (each with a stable rule id): `randomisation.unknown_stratum`,
`randomisation.list_exhausted`, `randomisation.participant_required`,
`randomisation.already_randomised`, `randomisation.reason_required`, `randomisation.slot_not_used`,
`randomisation.already_invalidated`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .facts import Rejection
from .protocol import Protocol

UNSTRATIFIED = "all"
SALT_BYTES = 32
MIN_SEED_BYTES = 16
_DRBG_LABEL = b"trial-ledger/allocation/v1"

Stratum = Annotated[str, Field(min_length=1)]


class AllocationList(BaseModel):
    """The secret list: arm ids per slot and the block sizes behind them (randomiser only)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    protocol_version: Annotated[str, Field(min_length=1)]
    strata: dict[Stratum, list[str]]
    blocks: dict[Stratum, list[Annotated[int, Field(ge=1)]]]

    @model_validator(mode="after")
    def _blocks_cover_the_list(self) -> AllocationList:
        if set(self.strata) != set(self.blocks) or not self.strata:
            raise ValueError("strata and blocks must name the same, non-empty set of strata")
        for name, arms in self.strata.items():
            if sum(self.blocks[name]) != len(arms):
                raise ValueError(f"stratum {name}: blocks add up to {sum(self.blocks[name])} slots, "
                                 f"the list has {len(arms)}")
        return self


class _Drbg:
    """A deterministic random bit generator: HMAC-SHA-256 in counter mode.

    key = HMAC-SHA-256(seed, "trial-ledger/allocation/v1" ‖ 0x00 ‖ UTF-8 stratum name);
    output = HMAC-SHA-256(key, 0) ‖ HMAC-SHA-256(key, 1) ‖ …, the counter as 8 big-endian bytes.
    Bytes are consumed in order, so anyone holding the seed regenerates the same list.
    """

    def __init__(self, seed: bytes, stratum: str) -> None:
        self._key = hmac.new(seed, _DRBG_LABEL + b"\x00" + stratum.encode("utf-8"), hashlib.sha256).digest()
        self._counter = 0
        self._pool = b""

    def take(self, n: int) -> bytes:
        while len(self._pool) < n:
            self._pool += hmac.new(self._key, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        return out

    def below(self, n: int) -> int:
        """A uniform integer in [0, n): draw the fewest whole bytes, keep the low bits needed, and
        draw again when the value is n or more (rejection sampling; a modulo would be biased)."""
        if n == 1:
            return 0
        bits = (n - 1).bit_length()
        while True:
            value = int.from_bytes(self.take((bits + 7) // 8), "big") & ((1 << bits) - 1)
            if value < n:
                return value


def strata_of(protocol: Protocol) -> list[str]:
    return list(protocol.stratification.levels) if protocol.stratification else [UNSTRATIFIED]


def generate_allocation(protocol: Protocol, *, slots: int, seed: bytes) -> AllocationList:
    """Whole permuted blocks, per stratum, until each stratum has at least `slots` slots.

    Each block: a size drawn uniformly from `protocol.block_sizes` (in protocol order), then the
    arms in the allocation ratio, shuffled by Fisher–Yates. Each stratum has its own DRBG stream,
    so adding a stratum never changes the list of another.
    """
    if slots < 1:
        raise ValueError(f"slots must be at least 1, not {slots}")
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"the seed must be at least {MIN_SEED_BYTES} random bytes, not {len(seed)}")
    strata: dict[str, list[str]] = {}
    blocks: dict[str, list[int]] = {}
    for name in strata_of(protocol):
        strata[name], blocks[name] = _stratum_list(protocol, _Drbg(seed, name), slots)
    return AllocationList(protocol_version=protocol.version, strata=strata, blocks=blocks)


def _stratum_list(protocol: Protocol, drbg: _Drbg, slots: int) -> tuple[list[str], list[int]]:
    per_round = sum(protocol.allocation_ratio)
    arms: list[str] = []
    sizes: list[int] = []
    while len(arms) < slots:
        size = protocol.block_sizes[drbg.below(len(protocol.block_sizes))]
        block = [a.id for a, share in zip(protocol.arms, protocol.allocation_ratio, strict=True)
                 for _ in range(share * size // per_round)]
        for i in range(len(block) - 1, 0, -1):
            j = drbg.below(i + 1)
            block[i], block[j] = block[j], block[i]
        arms += block
        sizes.append(size)
    return arms, sizes


def canonical_list(allocation: AllocationList) -> bytes:
    """The list's canonical bytes: compact JSON, keys ordered, UTF-8, no ASCII escaping.

    The ledger canonicalises with RFC 8785; for a document of strings, small integers and lists the
    two coincide: the same string escapes, integers print alike, and keys are ordered here by
    UTF-16 code units as RFC 8785 asks (code point order differs only beyond the BMP).
    """
    text = json.dumps(_keys_in_jcs_order(allocation.model_dump(mode="json")), ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _keys_in_jcs_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keys_in_jcs_order(value[k]) for k in sorted(value, key=lambda k: k.encode("utf-16-be"))}
    if isinstance(value, list):
        return [_keys_in_jcs_order(v) for v in value]
    return value


def commitment(salt: bytes, allocation: AllocationList) -> str:
    """Hex SHA-256(salt ‖ canonical list). The salt stops anyone guessing the few possible short
    lists from the published hash (R23)."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"the salt must be exactly {SALT_BYTES} bytes, not {len(salt)}")
    return hashlib.sha256(salt + canonical_list(allocation)).hexdigest()


class SlotUse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    participant_id: str
    invalidated: str | None = None  # the reason, once invalidated; the slot stays used (R25)


class AllocationState(BaseModel):
    """The decrypted list and the slots used so far; slots are taken in list order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allocation: AllocationList
    used: dict[str, tuple[SlotUse, ...]] = Field(default_factory=dict)  # slot n is used[stratum][n - 1]


def _arms(state: AllocationState, stratum: str) -> list[str]:
    arms = state.allocation.strata.get(stratum)
    if arms is None:
        raise Rejection("randomisation.unknown_stratum", f"the list has no stratum {stratum!r}",
                        field="payload.stratum")
    return arms


def next_slot(state: AllocationState, stratum: str) -> int:
    arms = _arms(state, stratum)
    slot = len(state.used.get(stratum, ())) + 1
    if slot > len(arms):
        raise Rejection("randomisation.list_exhausted",
                        f"all {len(arms)} slots of stratum {stratum} are used")
    return slot


def standing_assignment(state: AllocationState, participant_id: str) -> tuple[str, int, str] | None:
    """(stratum, slot, arm) of the participant's assignment that was not invalidated, if any."""
    for stratum, uses in state.used.items():
        for n, use in enumerate(uses, start=1):
            if use.participant_id == participant_id and use.invalidated is None:
                return stratum, n, state.allocation.strata[stratum][n - 1]
    return None


def assign(state: AllocationState, stratum: str, participant_id: str) -> tuple[AllocationState, int, str]:
    """Give the participant the next slot of the stratum: the new state, the slot and its arm."""
    if not participant_id:
        raise Rejection("randomisation.participant_required", "a participant id is required",
                        field="payload.participant_id")
    slot = next_slot(state, stratum)
    held = standing_assignment(state, participant_id)
    if held is not None:
        raise Rejection("randomisation.already_randomised",
                        f"{participant_id} holds slot {held[1]} of stratum {held[0]}",
                        field="payload.participant_id")
    uses = (*state.used.get(stratum, ()), SlotUse(participant_id=participant_id))
    new = state.model_copy(update={"used": {**state.used, stratum: uses}})
    return new, slot, state.allocation.strata[stratum][slot - 1]


def invalidate(state: AllocationState, stratum: str, slot: int, reason: str) -> AllocationState:
    """Mark a used slot as given in error; it is never handed out again (R25)."""
    if not reason.strip():
        raise Rejection("randomisation.reason_required", "an invalidation needs a reason",
                        field="entry.reason")
    _arms(state, stratum)
    uses = state.used.get(stratum, ())
    if not 1 <= slot <= len(uses):
        raise Rejection("randomisation.slot_not_used",
                        f"slot {slot} of stratum {stratum} has not been assigned", field="payload.slot")
    if uses[slot - 1].invalidated is not None:
        raise Rejection("randomisation.already_invalidated",
                        f"slot {slot} of stratum {stratum} is invalidated already", field="payload.slot")
    changed = uses[slot - 1].model_copy(update={"invalidated": reason})
    uses = (*uses[: slot - 1], changed, *uses[slot:])
    return state.model_copy(update={"used": {**state.used, stratum: uses}})


def verify_allocations(allocation: AllocationList, salt: bytes, committed: str,
                       assignments: Sequence[tuple[str, int, str, str]]) -> list[str]:
    """Every problem found between the revealed list and the recorded assignments (R26).

    `assignments` are (stratum, slot, participant id, arm) in ledger order, invalidated ones
    included (their slots stay used). An empty answer means all is well.
    """
    problems: list[str] = []
    if len(salt) != SALT_BYTES:
        problems.append(f"the salt is {len(salt)} bytes, a commitment salt is {SALT_BYTES}")
    elif (actual := commitment(salt, allocation)) != committed.lower():
        problems.append(f"commitment mismatch: the revealed list hashes to {actual}, "
                        f"the ledger committed {committed}")
    holders: dict[tuple[str, int], str] = {}
    last: dict[str, int] = {}
    for stratum, slot, participant_id, arm in assignments:
        where = f"stratum {stratum} slot {slot} ({participant_id})"
        arms = allocation.strata.get(stratum)
        if arms is None:
            problems.append(f"{where}: the list has no such stratum")
            continue
        if not 1 <= slot <= len(arms):
            problems.append(f"{where}: the list has slots 1 to {len(arms)} only")
            continue
        if arms[slot - 1] != arm:
            problems.append(f"{where}: recorded arm {arm}, the list says {arms[slot - 1]}")
        if (stratum, slot) in holders:
            problems.append(f"{where}: slot used twice, first by {holders[stratum, slot]}")
            continue
        expected = last.get(stratum, 0) + 1
        if slot != expected:
            problems.append(f"{where}: out of order, the next slot was {expected}")
        holders[stratum, slot] = participant_id
        last[stratum] = max(slot, last.get(stratum, 0))
    return problems


def balanced_at_block_boundaries(allocation: AllocationList, protocol: Protocol) -> bool:
    """At the end of every block, each arm's count is its ratio share of the slots so far (R24)."""
    ratio = dict(zip((a.id for a in protocol.arms), protocol.allocation_ratio, strict=True))
    per_round = sum(protocol.allocation_ratio)
    for name, arms in allocation.strata.items():
        if any(arm not in ratio for arm in arms):
            return False
        end = 0
        for size in allocation.blocks[name]:
            end += size
            if size not in protocol.block_sizes or end % per_round:
                return False
            so_far = arms[:end]
            if any(so_far.count(arm) != share * end // per_round for arm, share in ratio.items()):
                return False
    return True
