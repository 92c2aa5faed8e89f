"""RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification, with no storage.

A store keeps the perfect-subtree hashes ``CompactRange.append`` reports, named ``(level, index)`` for
leaves ``[index * 2**level, (index + 1) * 2**level)``, and answers a proof in O(log n) with
``assemble_proof(subtree_ranges_for_...(...), fetch)``. A subtree ``[start, end)`` is valid when
``start < end`` and ``start`` is a multiple of the least power of two >= ``end - start``: exactly the
ranges that are nodes of some tree. Verifiers return None or raise a ``MerkleError``. Proofs about a
subtree other than a prefix are in ``merkle_subtree``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
NodeId = tuple[int, int]


class MerkleError(Exception):
    """Root of every error raised by this module."""


class ProofShapeError(MerkleError):
    """Sizes, indexes, hash lengths or proof length do not fit together; nothing was hashed."""


class RootMismatch(MerkleError):
    """The proof is well formed but leads to a root other than the expected one."""

    def __init__(self, expected: bytes, calculated: bytes, what: str = "root") -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(f"{what} mismatch: expected {expected.hex()}, calculated {calculated.hex()}")


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where MTH splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes (RFC 9162 §2.1.1); EMPTY_ROOT for no leaves."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


# Direct generators (RFC 9162 §2.1.3.1 and §2.1.4.1), over the whole list of leaf hashes.


def inclusion_path(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Inclusion proof of leaf ``index`` in the tree of ``leaf_hashes``, bottom-up."""
    if not 0 <= index < len(leaf_hashes):
        raise ProofShapeError(f"leaf index {index} is outside a tree of size {len(leaf_hashes)}")
    # PATH(m, D[n]) is SUBPROOF for the one-leaf subtree [m, m + 1).
    return _subproof(index, index + 1, leaf_hashes, True)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Consistency proof from the first ``old_size`` leaves to all of ``leaf_hashes``."""
    if not 0 <= old_size <= len(leaf_hashes):
        raise ProofShapeError(f"old size {old_size} is outside 0..{len(leaf_hashes)}")
    # PROOF(m, D[n]) is SUBPROOF for the prefix [0, m); nothing to prove from the empty tree.
    return _subproof(0, old_size, leaf_hashes, True) if old_size else []


def _subproof(start: int, end: int, d: Sequence[bytes], known: bool) -> list[bytes]:
    """RFC 9162 SUBPROOF with the old tree generalised to the valid subtree [start, end) of d."""
    n = len(d)
    if start == 0 and end == n:
        # The verifier holds this node's hash already unless the walk straddled a split above.
        return [] if known else [root(d)]
    k = _split(n)
    if end <= k:
        return [*_subproof(start, end, d[:k], known), root(d[k:])]
    if start >= k:
        return [*_subproof(start - k, end - k, d[k:], known), root(d[:k])]
    # Only start == 0 reaches here: a valid subtree never straddles a split otherwise.
    return [*_subproof(0, end - k, d[k:], False), root(d[:k])]


# Storage-independent proof plans: which leaf ranges' hashes a proof consists of.


def _proof_ranges(start: int, end: int, size: int) -> list[Range]:
    """Ranges of the proof for the valid subtree [start, end) of a tree of ``size``, in proof order."""
    ranges: list[Range] = []
    lo, hi, known = 0, size, True
    while start != lo or end != hi:
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))  # _split, inlined: proofs are hot
        if end <= mid:
            ranges.append((mid, hi))
            hi = mid
        elif start >= mid:
            ranges.append((lo, mid))
            lo = mid
        else:
            ranges.append((lo, mid))
            lo = start = mid
            known = False
    if not known:
        ranges.append((lo, hi))
    return ranges[::-1]


def subtree_ranges_for_inclusion(index: int, size: int) -> list[Range]:
    """Leaf ranges whose hashes form the inclusion proof of ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofShapeError(f"leaf index {index} is outside a tree of size {size}")
    return _proof_ranges(index, index + 1, size)


def inclusion_plan(index: int, size: int) -> list[tuple[int, int, int]]:
    """``subtree_ranges_for_inclusion`` as a store reads it, straight from the bits: ``(level,
    node index, 0)`` for a perfect subtree, ``(-1, start, end)`` for the right edge's range."""
    if not 0 <= index < size:
        raise ProofShapeError(f"leaf index {index} is outside a tree of size {size}")
    inner = (index ^ (size - 1)).bit_length()  # below it the path's siblings are all perfect
    plan = [(level, (index >> level) ^ 1, 0) for level in range(inner - 1)]
    if inner:  # the sibling at the top of the inner path holds the last leaf
        start = ((index >> (inner - 1)) | 1) << (inner - 1)
        width = size - start
        level = width.bit_length() - 1
        plan.append((level, start >> level, 0) if width == 1 << level else (-1, start, size))
    plan += [(level, (index >> level) ^ 1, 0) for level in range(inner, size.bit_length())
             if (index >> level) & 1]  # the left siblings where the path runs along the border
    return plan


def consistency_plan(old: int, new: int) -> list[tuple[int, int, int]]:
    """``subtree_ranges_for_consistency`` in ``inclusion_plan``'s form, straight from the bits: the
    inclusion path of leaf ``old - 1`` above the perfect node [old - 2**shift, old) the old tree
    ends with (``shift`` its trailing zero bits), after that node unless it is the old root."""
    if not 0 <= old <= new:
        raise ProofShapeError(f"old size {old} is outside 0..{new}")
    if old in (0, new):
        return []
    shift = (old & -old).bit_length() - 1
    # shift < inner (old - 1 and new - 1 differ above it), so the first `shift` entries are the
    # path's levels 0..shift-1, inside the node the verifier holds.
    plan = inclusion_plan(old - 1, new)[shift:]
    return plan if old == 1 << shift else [(shift, (old - 1) >> shift, 0), *plan]


def plan_of(ranges: Sequence[Range]) -> list[tuple[int, int, int]]:
    """Proof ranges in ``inclusion_plan``'s form."""
    plan = []
    for start, end in ranges:
        width = end - start
        level = width.bit_length() - 1
        plan.append((level, start >> level, 0) if width == 1 << level else (-1, start, end))
    return plan


def subtree_ranges_for_consistency(old: int, new: int) -> list[Range]:
    """Leaf ranges whose hashes form the consistency proof from size ``old`` to size ``new``."""
    if not 0 <= old <= new:
        raise ProofShapeError(f"old size {old} is outside 0..{new}")
    return subtree_ranges_for_subtree_consistency(0, old, new)


def subtree_ranges_for_subtree_consistency(start: int, end: int, size: int) -> list[Range]:
    """Leaf ranges whose hashes form the proof that subtree ``[start, end)`` is in a tree of ``size``."""
    return [] if _check_span(start, end, size) else _proof_ranges(start, end, size)


def is_valid_subtree(start: int, end: int) -> bool:
    """True if ``[start, end)`` is non-empty and aligned to the power of two that covers it."""
    return 0 <= start < end and start % (1 << (end - start - 1).bit_length()) == 0


def _check_span(start: int, end: int, size: int) -> bool:
    """Check ``[start, end)`` is empty or a valid subtree, within ``size`` leaves; True if empty."""
    if start != end and not is_valid_subtree(start, end):
        raise ProofShapeError(
            f"[{start}, {end}) is not a valid subtree: want start < end and start a multiple of "
            f"{1 << max(end - start - 1, 0).bit_length()}"
        )
    if not 0 <= end <= size:
        raise ProofShapeError(f"subtree [{start}, {end}) is outside a tree of size {size}")
    return start == end


def subtree_nodes(start: int, end: int) -> list[NodeId]:
    """Perfect nodes that make up the valid subtree ``[start, end)``, left to right, largest first."""
    _check_span(start, end, end)
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def hash_subtree(node_hashes: Sequence[bytes]) -> bytes:
    """Hash of a valid subtree from the hashes of its ``subtree_nodes``, in the same order."""
    if not node_hashes:
        raise ProofShapeError("a subtree has at least one node, got none")
    # MTH splits at the largest power of two, so the perfect pieces fold from the right.
    acc = node_hashes[-1]
    for left in reversed(node_hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def assemble_proof(ranges: Sequence[Range], node: Callable[[int, int], bytes]) -> list[bytes]:
    """Proof hashes for ``ranges``, from ``node(level, index)`` returning stored perfect-node hashes."""
    return [hash_subtree([node(level, index) for level, index in subtree_nodes(a, b)]) for a, b in ranges]


class CompactRange:
    """Right border of a tree, one perfect-subtree hash per set bit of its size, largest first:
    enough to append and to compute the root in O(log n), so a store never rereads old leaves."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ProofShapeError(
                f"a tree of size {size} has {max(size, 0).bit_count()} border hashes, got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            _check_hash(f"border hash {i}", h)
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Border hashes, for ``subtree_nodes(0, size)`` in that order."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes, visit: Callable[[int, int, bytes], None] | None = None) -> None:
        """Add one leaf; ``visit(level, index, hash)`` sees every perfect node this completes."""
        _check_hash("leaf hash", leaf_hash)
        acc, level, index = leaf_hash, 0, self._size
        completed = [(level, index, acc)]
        # Each trailing one bit of the old size is a left sibling that now has its right half.
        while (self._size >> level) & 1:
            acc = node_hash(self._hashes[-1 - level], acc)
            level, index = level + 1, index >> 1
            completed.append((level, index, acc))
        # Report before changing state: a visitor that fails (a write rolled back) leaves us unchanged.
        if visit is not None:
            for node in completed:
                visit(*node)
        del self._hashes[len(self._hashes) - level :]
        self._hashes.append(acc)
        self._size += 1

    def root(self) -> bytes:
        """MTH of all leaves appended so far."""
        return hash_subtree(self._hashes) if self._hashes else EMPTY_ROOT


# Verifiers, after transparency-dev/merkle proof/verify.go: check the shape, compute, compare.


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofShapeError(f"{what} is {len(value)} bytes, want {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], want: int) -> None:
    if len(proof) != want:
        raise ProofShapeError(f"proof has {len(proof)} hashes, want {want}")
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border): path hashes below the point where the path meets the right border, and above."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _consistency_shape(size1: int, size2: int) -> tuple[int, int, int, int]:
    """(seeded, inner, border, shift) for 0 < size1 < size2; seeded is 1 if proof[0] is the seed."""
    inner, border = _inclusion_shape(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    # A perfect old tree is its own seed (root1); otherwise the proof starts with it.
    return (0 if size1 == 1 << shift else 1), inner - shift, border, shift


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int, left_only: bool = False) -> bytes:
    """Fold the inner path; ``left_only`` keeps just left siblings, which rebuilds the old root."""
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(h, seed)
        elif not left_only:
            seed = node_hash(seed, h)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """Root implied by an inclusion proof of ``leaf_hash`` at ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofShapeError(f"leaf index {index} is not below tree size {size}")
    _check_hash("leaf hash", leaf_hash)
    inner, border = _inclusion_shape(index, size)
    _check_proof(proof, inner + border)
    return _chain_border_right(_chain_inner(leaf_hash, proof[:inner], index), proof[inner:])


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise unless ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``size`` with ``root``."""
    _check_hash("root", root)
    calculated = root_from_inclusion(index, size, leaf_hash, proof)
    if calculated != root:
        raise RootMismatch(root, calculated)


def root_from_consistency(size1: int, size2: int, root1: bytes, proof: Sequence[bytes]) -> bytes:
    """Root of the tree of ``size2`` implied by a consistency proof from ``root1`` at ``size1``.

    The proof must also rebuild ``root1``. None follows from size 0: see ``verify_consistency``.
    """
    if not 0 <= size1 <= size2:
        raise ProofShapeError(f"size1 {size1} must be between 0 and size2 {size2}")
    _check_hash("root1", root1)
    if size1 == size2:
        _check_proof(proof, 0)
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise RootMismatch(root1, EMPTY_ROOT, "old root")
        return root1
    if size1 == 0:
        raise ProofShapeError(f"no root of size {size2} follows from the empty tree; want size1 > 0")
    seeded, inner, border, shift = _consistency_shape(size1, size2)
    _check_proof(proof, seeded + inner + border)
    seed, body = (proof[0], proof[1:]) if seeded else (root1, proof)
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner(seed, body[:inner], mask, True), body[inner:])
    if hash1 != root1:
        raise RootMismatch(root1, hash1, "old root")
    return _chain_border_right(_chain_inner(seed, body[:inner], mask), body[inner:])


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise unless ``proof`` shows the tree (size1, root1) is a prefix of the tree (size2, root2)."""
    if 0 < size1 == size2:
        # Same size: the trees are the same exactly when the roots are (as transparency-dev judges).
        _check_proof(proof, 0)
        if root1 != root2:
            raise RootMismatch(root2, root1, "new root")
        return
    _check_hash("root2", root2)
    if size1 == 0 and size2 > 0:
        # Every tree extends the empty one: nothing to prove, so only an empty proof fits.
        _check_hash("root1", root1)
        _check_proof(proof, 0)
        if root1 != EMPTY_ROOT:
            raise RootMismatch(root1, EMPTY_ROOT, "old root")
        return
    calculated = root_from_consistency(size1, size2, root1, proof)
    if calculated != root2:
        raise RootMismatch(root2, calculated, "new root")
