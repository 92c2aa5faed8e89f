"""ledger.merkle and ledger.merkle_subtree against RFC 9162 known answers, the transparency-dev
verifier probes, and properties."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle as m
from ledger import merkle_subtree as ms

REFERENCE = Path(__file__).resolve().parent / "data"
TLOG = REFERENCE / "tlog-testdata"
VECTORS: dict[str, Any] = json.loads((REFERENCE / "rfc9162-vectors.json").read_text())
LEAVES = [m.leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaf_inputs_hex"]]


def tree(size: int, salt: bytes = b"") -> list[bytes]:
    """Distinct leaves, so that no two nodes share a hash and swapped siblings always show."""
    return [m.leaf_hash(salt + i.to_bytes(8, "big")) for i in range(size)]


def node_store(leaves: Sequence[bytes]) -> Callable[[int, int], bytes]:
    """What a store keeps: every perfect node CompactRange reports; a fetch function over it."""
    store: dict[tuple[int, int], bytes] = {}
    compact = m.CompactRange()
    for h in leaves:
        compact.append(h, lambda level, index, h: store.__setitem__((level, index), h))
    return lambda level, index: store[(level, index)]


def accepted(verify: Callable[..., object], *args: Any) -> bool:
    """A verifier accepts by returning None (never True or False) and rejects by raising."""
    return verify(*args) is None


def flip(proof: Sequence[bytes], element: int, bit: int) -> list[bytes]:
    out = list(proof)
    b = bytearray(out[element])
    b[bit // 8] ^= 1 << (bit % 8)
    out[element] = bytes(b)
    return out


# RFC 9162 known answers.


def test_hash_primitives() -> None:
    assert m.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [h.hex() for h in LEAVES] == VECTORS["leaf_hashes_hex"]
    assert m.node_hash(LEAVES[0], LEAVES[1]).hex() == VECTORS["roots_hex_by_size"]["2"]


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    want = VECTORS["roots_hex_by_size"][str(size)]
    assert m.root(LEAVES[:size]).hex() == want
    compact = m.CompactRange()
    for h in LEAVES[:size]:
        compact.append(h)
    assert compact.root().hex() == want


def _cases(kind: str) -> list[Any]:
    return [
        pytest.param(case, id=f"{source}-{i}")
        for source in ("upstream", "derived")
        for i, case in enumerate(VECTORS[f"{source}_{kind}" + ("_all" if source == "derived" else "")])
    ]


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_rfc_inclusion_proofs(case: dict[str, Any]) -> None:
    index, size = case["leaf_index0"], case["tree_size"]
    leaves, want = LEAVES[:size], [bytes.fromhex(h) for h in case["proof"]]
    assert m.inclusion_path(index, leaves) == want
    assert m.assemble_proof(m.subtree_ranges_for_inclusion(index, size), node_store(leaves)) == want
    assert accepted(m.verify_inclusion, index, size, leaves[index], want, m.root(leaves))


@pytest.mark.parametrize("case", _cases("consistency"))
def test_rfc_consistency_proofs(case: dict[str, Any]) -> None:
    size1, size2 = case["size1"], case["size2"]
    leaves, want = LEAVES[:size2], [bytes.fromhex(h) for h in case["proof"]]
    assert m.consistency_proof(size1, leaves) == want
    assert m.assemble_proof(m.subtree_ranges_for_consistency(size1, size2), node_store(leaves)) == want
    root1, root2 = m.root(leaves[:size1]), m.root(leaves)
    assert accepted(m.verify_consistency, size1, size2, root1, root2, want)


# transparency-dev/merkle testdata: every probe, by its path.

PROBES = sorted(TLOG.rglob("*.json"))

# Upstream compares these roots as opaque strings (12-byte placeholders, or a tree root it never
# reads). Ours requires every hash to be 32 bytes before anything else, so it rejects them.


def run_probe(family: str, p: dict[str, Any]) -> None:
    def b(key: str) -> bytes:
        return base64.b64decode(p[key], validate=True)

    proof = [base64.b64decode(h, validate=True) for h in p["proof"] or []]
    if family == "inclusion":
        m.verify_inclusion(p["leafIdx"], p["treeSize"], b("leafHash"), proof, b("root"))
    elif family == "consistency":
        m.verify_consistency(p["size1"], p["size2"], b("root1"), b("root2"), proof)
    elif family == "subtreeinclusion":
        ms.verify_subtree_inclusion(p["leafIdx"], p["start"], p["end"], b("leafHash"), proof, b("root"))
    elif family == "subtreeconsistency":
        ms.verify_subtree_consistency(p["start"], p["end"], p["size"], b("root1"), b("root2"), proof)
    else:
        raise AssertionError(f"unknown probe family {family}")


@pytest.mark.parametrize("path", PROBES, ids=lambda p: p.relative_to(TLOG).as_posix())
def test_tlog_probe(path: Path) -> None:
    rel = path.relative_to(TLOG).as_posix()
    probe = json.loads(path.read_text())
    family = rel.split("/")[0]
    if probe["wantErr"]:
        with pytest.raises(m.MerkleError):
            run_probe(family, probe)
    else:
        run_probe(family, probe)


def test_probe_inventory() -> None:
    counts: dict[str, int] = {}
    for path in PROBES:
        family = path.relative_to(TLOG).parts[0]
        counts[family] = counts.get(family, 0) + 1
    assert sum(counts.values()) == 518
    assert set(counts) == {"inclusion", "consistency", "subtreeinclusion", "subtreeconsistency"}


# Proof plans served from stored perfect nodes equal the direct proofs.


def _valid_subtrees(size: int) -> list[tuple[int, int]]:
    return [(s, e) for e in range(1, size + 1) for s in range(e) if m.is_valid_subtree(s, e)]


def _check_plan(ranges: list[tuple[int, int]], size: int) -> None:
    for a, b in ranges:
        perfect = (b - a) & (b - a - 1) == 0
        assert m.is_valid_subtree(a, b) and b <= size and (perfect or b == size)


@pytest.mark.parametrize("size", range(1, 65))
def test_plans_match_direct_proofs(size: int) -> None:
    leaves = tree(size)
    fetch, root = node_store(leaves), m.root(leaves)
    for index in range(size):
        ranges = m.subtree_ranges_for_inclusion(index, size)
        _check_plan(ranges, size)
        assert m.assemble_proof(ranges, fetch) == m.inclusion_path(index, leaves)
    for old in range(size + 1):
        ranges = m.subtree_ranges_for_consistency(old, size)
        _check_plan(ranges, size)
        assert m.assemble_proof(ranges, fetch) == m.consistency_proof(old, leaves)
    for start, end in _valid_subtrees(size):
        ranges = m.subtree_ranges_for_subtree_consistency(start, end, size)
        _check_plan(ranges, size)
        proof = ms.subtree_consistency_proof(start, end, leaves)
        assert m.assemble_proof(ranges, fetch) == proof
        ms.verify_subtree_consistency(start, end, size, m.root(leaves[start:end]), root, proof)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(65, 3000), data=st.data())
def test_plans_match_direct_proofs_large(size: int, data: st.DataObject) -> None:
    leaves = tree(size)
    fetch = node_store(leaves)
    index = data.draw(st.integers(0, size - 1))
    assert m.assemble_proof(m.subtree_ranges_for_inclusion(index, size), fetch) == m.inclusion_path(
        index, leaves
    )
    old = data.draw(st.integers(0, size))
    ranges = m.subtree_ranges_for_consistency(old, size)
    assert m.assemble_proof(ranges, fetch) == m.consistency_proof(old, leaves)
    level = data.draw(st.integers(0, size.bit_length() - 1))
    start = data.draw(st.integers(0, (size - 1) >> level)) << level
    end = data.draw(st.integers(start + 1, min(size, start + (1 << level))))
    ranges = m.subtree_ranges_for_subtree_consistency(start, end, size)
    assert m.assemble_proof(ranges, fetch) == ms.subtree_consistency_proof(start, end, leaves)


def test_compact_range_reports_every_perfect_node_once() -> None:
    leaves = tree(100)
    seen: list[tuple[int, int]] = []

    def visit(level: int, index: int, got: bytes) -> None:
        seen.append((level, index))
        assert got == m.root(leaves[index << level : (index + 1) << level])

    compact = m.CompactRange()
    for size, h in enumerate(leaves, start=1):
        compact.append(h, visit)
        assert compact.size == size and compact.root() == m.root(leaves[:size])
        fetch = node_store(leaves[:size])
        assert compact.hashes == tuple(fetch(*node) for node in m.subtree_nodes(0, size))
    want = {(lv, i) for lv in range(7) for i in range(100 >> lv)}
    assert len(seen) == len(set(seen)) and set(seen) == want


def test_compact_range_resumes_from_stored_border() -> None:
    leaves = tree(45)
    first = m.CompactRange()
    for h in leaves[:30]:
        first.append(h)
    resumed = m.CompactRange(first.size, first.hashes)
    for h in leaves[30:]:
        resumed.append(h)
    assert resumed.root() == m.root(leaves)
    with pytest.raises(m.ProofShapeError, match="size 30 has 4 border hashes, got 3"):
        m.CompactRange(30, first.hashes[:3])
    with pytest.raises(m.ProofShapeError, match="leaf hash is 31 bytes, want 32"):
        resumed.append(b"x" * 31)


def test_compact_range_is_unchanged_when_the_visitor_fails() -> None:
    leaves = tree(8)
    compact = m.CompactRange()
    for h in leaves[:7]:
        compact.append(h)
    before = (compact.size, compact.hashes)

    def failing_store(level: int, index: int, h: bytes) -> None:
        if level == 2:
            raise OSError("disk full")

    with pytest.raises(OSError):
        compact.append(leaves[7], failing_store)
    assert (compact.size, compact.hashes) == before
    compact.append(leaves[7])
    assert compact.root() == m.root(leaves)


def test_subtree_nodes() -> None:
    assert m.subtree_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert m.subtree_nodes(8, 13) == [(2, 2), (0, 12)]
    assert m.hash_subtree([LEAVES[0]]) == LEAVES[0]
    with pytest.raises(m.ProofShapeError, match=r"\[2, 5\) is not a valid subtree.*multiple of 4"):
        m.subtree_nodes(2, 5)


# Preconditions and messages.


def test_verifiers_state_what_they_got_and_wanted() -> None:
    leaves = LEAVES
    root8, proof = m.root(leaves), m.inclusion_path(5, leaves)
    with pytest.raises(m.ProofShapeError, match="leaf index 8 is not below tree size 8"):
        m.verify_inclusion(8, 8, leaves[5], proof, root8)
    with pytest.raises(m.ProofShapeError, match="proof has 2 hashes, want 3"):
        m.verify_inclusion(5, 8, leaves[5], proof[:2], root8)
    with pytest.raises(m.ProofShapeError, match=r"proof\[1\] is 33 bytes, want 32"):
        m.verify_inclusion(5, 8, leaves[5], [proof[0], proof[1] + b"!", proof[2]], root8)
    with pytest.raises(m.RootMismatch) as caught:
        m.verify_inclusion(4, 8, leaves[5], proof, root8)
    calculated = m.root_from_inclusion(4, 8, leaves[5], proof)
    assert (caught.value.expected, caught.value.calculated) == (root8, calculated)
    assert str(caught.value) == f"root mismatch: expected {root8.hex()}, calculated {calculated.hex()}"
    root3 = m.root(leaves[:3])
    with pytest.raises(m.ProofShapeError, match="size1 5 must be between 0 and size2 3"):
        m.verify_consistency(5, 3, root3, root3, [])
    with pytest.raises(m.ProofShapeError, match="proof has 1 hashes, want 0"):
        m.verify_consistency(3, 3, root3, root3, [root3])
    with pytest.raises(m.RootMismatch, match=r"^new root mismatch"):
        m.verify_consistency(3, 3, root3, root8, [])
    with pytest.raises(m.ProofShapeError, match="proof has 1 hashes, want 0"):
        m.verify_consistency(0, 3, m.EMPTY_ROOT, root3, [root3])
    with pytest.raises(m.RootMismatch, match="old root mismatch"):
        m.verify_consistency(0, 3, root3, root3, [])
    assert accepted(m.verify_consistency, 0, 3, m.EMPTY_ROOT, root3, [])
    assert accepted(m.verify_consistency, 0, 0, m.EMPTY_ROOT, m.EMPTY_ROOT, [])
    with pytest.raises(m.RootMismatch, match="old root mismatch"):
        m.verify_consistency(3, 8, root8, root8, m.consistency_proof(3, leaves))


# Properties over random trees.


@st.composite
def trees(draw: st.DrawFn, max_size: int = 300) -> list[bytes]:
    return tree(draw(st.integers(1, max_size)), draw(st.binary(max_size=8)))


def _inclusion_shape(index: int, size: int) -> int:
    # An inclusion proof fixes the path, not the size: sizes with the same path verify the same way.
    return (index ^ (size - 1)).bit_length()


@settings(max_examples=200, deadline=None)
@given(leaves=trees(), data=st.data())
def test_inclusion_proofs_verify_and_resist_tampering(leaves: list[bytes], data: st.DataObject) -> None:
    size, root = len(leaves), m.root(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = m.inclusion_path(index, leaves)
    assert accepted(m.verify_inclusion, index, size, leaves[index], proof, root)
    if proof:
        element = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        with pytest.raises(m.RootMismatch):
            m.verify_inclusion(index, size, leaves[index], flip(proof, element, bit), root)
    wrong_leaf = flip([leaves[index]], 0, data.draw(st.integers(0, 255)))[0]
    with pytest.raises(m.RootMismatch):
        m.verify_inclusion(index, size, wrong_leaf, proof, root)
    other = data.draw(st.integers(-2, size + 2).filter(lambda i: i != index))
    with pytest.raises(m.MerkleError):
        m.verify_inclusion(other, size, leaves[index], proof, root)
    new_size = data.draw(st.integers(0, 2 * size + 2).filter(lambda s: s != size))
    if index < new_size and _inclusion_shape(index, new_size) == _inclusion_shape(index, size):
        m.verify_inclusion(index, new_size, leaves[index], proof, root)
    else:
        with pytest.raises(m.MerkleError):
            m.verify_inclusion(index, new_size, leaves[index], proof, root)


@settings(max_examples=200, deadline=None)
@given(leaves=trees(), data=st.data())
def test_consistency_proofs_verify_and_resist_tampering(leaves: list[bytes], data: st.DataObject) -> None:
    size2, root2 = len(leaves), m.root(leaves)
    size1 = data.draw(st.integers(1, size2))
    root1 = m.root(leaves[:size1])
    proof = m.consistency_proof(size1, leaves)
    assert accepted(m.verify_consistency, size1, size2, root1, root2, proof)
    assert accepted(ms.verify_subtree_consistency, 0, size1, size2, root1, root2, proof)
    if proof:
        element = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        with pytest.raises(m.RootMismatch):
            m.verify_consistency(size1, size2, root1, root2, flip(proof, element, bit))
    other1 = data.draw(st.integers(0, size2).filter(lambda s: s != size1))
    with pytest.raises(m.MerkleError):
        m.verify_consistency(other1, size2, root1, root2, proof)
    if size1 < size2:
        # As with inclusion, the proof fixes where the old tree's border leaves the new one.
        other2 = data.draw(st.integers(size1, 2 * size2 + 2).filter(lambda s: s != size2))
        if _inclusion_shape(size1 - 1, other2) == _inclusion_shape(size1 - 1, size2):
            m.verify_consistency(size1, other2, root1, root2, proof)
        else:
            with pytest.raises(m.MerkleError):
                m.verify_consistency(size1, other2, root1, root2, proof)


@settings(max_examples=200, deadline=None)
@given(leaves=trees(), data=st.data())
def test_subtree_proofs_verify_and_resist_tampering(leaves: list[bytes], data: st.DataObject) -> None:
    size, root = len(leaves), m.root(leaves)
    level = data.draw(st.integers(0, size.bit_length() - 1))
    start = data.draw(st.integers(0, (size - 1) >> level)) << level
    end = data.draw(st.integers(start + 1, min(size, start + (1 << level))))
    sub_root = m.root(leaves[start:end])
    proof = ms.subtree_consistency_proof(start, end, leaves)
    assert accepted(ms.verify_subtree_consistency, start, end, size, sub_root, root, proof)
    index = data.draw(st.integers(start, end - 1))
    path = m.inclusion_path(index - start, leaves[start:end])
    assert accepted(ms.verify_subtree_inclusion, index, start, end, leaves[index], path, sub_root)
    if proof:
        element = data.draw(st.integers(0, len(proof) - 1))
        with pytest.raises(m.RootMismatch):
            ms.verify_subtree_consistency(start, end, size, sub_root, root, flip(proof, element, 7))
    if path:
        with pytest.raises(m.RootMismatch):
            ms.verify_subtree_inclusion(index, start, end, leaves[index], flip(path, 0, 0), sub_root)
    with pytest.raises(m.RootMismatch):
        ms.verify_subtree_consistency(start, end, size, flip([sub_root], 0, 3)[0], root, proof)
