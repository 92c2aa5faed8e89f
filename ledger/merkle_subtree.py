"""Proofs about any valid subtree ``[start, end)`` of an RFC 9162 Merkle tree, not just a prefix:
generating the proof that a tree contains the subtree, and verifying inclusion of a leaf in a subtree
and containment of a subtree in a tree. Verifiers return None or raise a ``MerkleError``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .merkle import (
    EMPTY_ROOT,
    ProofShapeError,
    RootMismatch,
    _check_hash,
    _check_proof,
    _check_span,
    _consistency_shape,
    _split,
    _subproof,
    node_hash,
    root_from_consistency,
    root_from_inclusion,
)


def subtree_consistency_proof(start: int, end: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Proof that subtree ``[start, end)`` is in the tree of ``leaf_hashes`` (RFC 9162's if start is 0)."""
    return [] if _check_span(start, end, len(leaf_hashes)) else _subproof(start, end, leaf_hashes, True)


def root_from_subtree_inclusion(
    index: int, start: int, end: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Hash of the valid subtree ``[start, end)`` implied by an inclusion proof of leaf ``index``."""
    _check_span(start, end, end)
    if not start <= index < end:
        raise ProofShapeError(f"leaf index {index} is outside subtree [{start}, {end})")
    return root_from_inclusion(index - start, end - start, leaf_hash, proof)


def verify_subtree_inclusion(
    index: int, start: int, end: int, leaf_hash: bytes, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """Raise unless ``proof`` shows ``leaf_hash`` at ``index`` in subtree ``[start, end)``."""
    _check_hash("subtree root", subtree_root)
    calculated = root_from_subtree_inclusion(index, start, end, leaf_hash, proof)
    if calculated != subtree_root:
        raise RootMismatch(subtree_root, calculated, "subtree root")


def root_from_subtree_consistency(
    start: int, end: int, size: int, subtree_root: bytes, proof: Sequence[bytes]
) -> bytes:
    """Root of the tree of ``size`` implied by a proof that it contains subtree ``[start, end)``."""
    if _check_span(start, end, size):
        raise ProofShapeError(f"no root of size {size} follows from an empty subtree; want start < end")
    _check_hash("subtree root", subtree_root)
    # Walk down to the smallest node holding the subtree; the proof ends with the siblings passed.
    lo, hi, sibling_on_left = 0, size, []
    while (start, end) != (lo, hi):
        mid = lo + _split(hi - lo)
        if end <= mid:
            sibling_on_left.append(False)
            hi = mid
        elif start >= mid:
            sibling_on_left.append(True)
            lo = mid
        else:
            break  # start == lo: below here it is an RFC 9162 consistency proof inside [lo, hi)
    size1, size2 = end - lo, hi - lo
    inner = 0 if size1 == size2 else sum(_consistency_shape(size1, size2)[:3])
    _check_proof(proof, inner + len(sibling_on_left))
    acc = root_from_consistency(size1, size2, subtree_root, proof[:inner])
    for sibling, on_left in zip(proof[inner:], reversed(sibling_on_left), strict=True):
        acc = node_hash(sibling, acc) if on_left else node_hash(acc, sibling)
    return acc


def verify_subtree_consistency(
    start: int, end: int, size: int, subtree_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise unless ``proof`` shows subtree ``[start, end)`` with ``subtree_root`` is in (size, root)."""
    if _check_span(start, end, size):
        # An empty subtree is part of every tree that reaches it: only its own hash can be checked.
        _check_hash("subtree root", subtree_root)
        _check_proof(proof, 0)
        if subtree_root != EMPTY_ROOT:
            raise RootMismatch(subtree_root, EMPTY_ROOT, "subtree root")
        return
    if (start, end) == (0, size):
        # The subtree is the whole tree: it is contained exactly when the roots are equal.
        _check_proof(proof, 0)
        if subtree_root != root:
            raise RootMismatch(root, subtree_root)
        return
    _check_hash("root", root)
    calculated = root_from_subtree_consistency(start, end, size, subtree_root, proof)
    if calculated != root:
        raise RootMismatch(root, calculated)
