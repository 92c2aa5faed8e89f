"""The proof path's node cache: proofs from a Tree equal RFC 9162's direct generators whatever the
cache holds; it holds only hashes of perfect subtrees inside a signed tree; proofs stay right when
another process appends, and when an append rolls back."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.note import NoteSigner
from ledger.store import open_store
from ledger.tree import Tree
from ledger.tree_cache import BOTTOM, CHUNK, HASH, NodeCache

ROOT = Path(__file__).resolve().parents[1]
SIGNER = NoteSigner("test", Ed25519PrivateKey.generate())


def _entry(i: int, salt: str = "") -> bytes:
    return f"entry {salt}{i}".encode()


def _append(tree: Tree, first: int, count: int, salt: str = "", sign: bool = True) -> int:
    with tree.store.write() as cur:
        border = tree.append(cur, [(first + i + 1, hashlib.sha256(_entry(first + i, salt)).hexdigest(),
                                    _entry(first + i, salt)) for i in range(count)])
        if sign:
            tree.sign(cur, border, SIGNER, "test")
    tree.committed(border)
    return border.size


def _tree(url: str, batches: list[int],
          cache: NodeCache | None = None) -> tuple[Tree, list[int], list[bytes]]:
    store = open_store(url)
    store.create_tables()  # (the schema, on PostgreSQL)
    tree = Tree(store, cache)
    with store.transaction() as cur:
        tree.create_tables(cur)
    sizes, n = [], 0
    for count in batches:
        n = _append(tree, n, count)
        sizes.append(n)
    return tree, sizes, [merkle.leaf_hash(_entry(i)) for i in range(n)]


def _check_proofs(tree: Tree, sizes: list[int], leaves: list[bytes]) -> None:
    for size in sizes:
        for index in range(0, size, max(1, size // 97)):
            assert tree.inclusion_proof(index, size) == merkle.inclusion_path(index, leaves[:size])
        for old in sizes:
            if old <= size:
                assert tree.consistency_proof(old, size) == merkle.consistency_proof(old, leaves[:size])


def _held(cache: NodeCache) -> list[tuple[int, int, bytes]]:
    return [(level, chunk * CHUNK + at // HASH, data[at : at + HASH])
            for level, chunks in enumerate(cache.levels) for chunk, data in chunks.items()
            for at in range(0, len(data), HASH)]


@pytest.mark.parametrize("budget", [16 << 20, 40 * HASH])
def test_proofs_equal_the_direct_generators_cold_warm_and_evicted(db_url: str, budget: int) -> None:
    tree, sizes, leaves = _tree(db_url, [700, 1, 300, 1024, 29], NodeCache(budget))
    _check_proofs(tree, sizes, leaves)  # cold: chunks read as proofs need them
    _check_proofs(tree, sizes, leaves)  # warm (or evicting, with a small budget)
    assert tree.cache.size_bytes <= budget
    assert _held(tree.cache)
    tree.store.close()


def test_the_cache_holds_only_perfect_subtrees_inside_a_signed_tree(sqlite_url: str) -> None:
    tree, sizes, leaves = _tree(sqlite_url, [1000, 37])
    _append(tree, sizes[-1], 1100, sign=False)  # stored nodes no checkpoint covers yet (a chunk full)
    _check_proofs(tree, sizes, leaves)
    held = _held(tree.cache)
    assert held, "proofs of a 1,037-leaf tree keep its upper levels"
    for level, index, value in held:
        assert level >= BOTTOM
        assert (index + 1) << level <= sizes[-1], f"({level}, {index}) lies beyond the signed tree"
        assert value == merkle.root(leaves[index << level : (index + 1) << level])
    tree.store.close()


_OTHER_PROCESS = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger.note import NoteSigner
from ledger.store import open_store
from ledger.tree import Tree
tree = Tree(open_store(sys.argv[2]))
first, count = int(sys.argv[3]), int(sys.argv[4])
with tree.store.write() as cur:
    border = tree.append(cur, [(first + i + 1, hashlib.sha256(b"entry %d" % (first + i)).hexdigest(),
                                b"entry %d" % (first + i)) for i in range(count)])
    tree.sign(cur, border, NoteSigner("test", Ed25519PrivateKey.generate()), "test")
print(border.size)
"""


def test_proofs_are_right_after_another_process_appends(db_url: str) -> None:
    tree, sizes, leaves = _tree(db_url, [300, 211])
    _check_proofs(tree, sizes, leaves)  # the cache now holds partial chunks at the right edge
    held = len(_held(tree.cache))
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(ROOT), db_url, str(sizes[-1]),
                               "777"], capture_output=True, text=True, check=True)
        sizes.append(int(done.stdout))
    leaves = [merkle.leaf_hash(_entry(i)) for i in range(sizes[-1])]
    _check_proofs(tree, sizes, leaves)
    assert len(_held(tree.cache)) > held, "the grown tree's new nodes were read and kept"
    tree.store.close()


def test_a_rolled_back_append_leaves_nothing_behind(sqlite_url: str) -> None:
    tree, sizes, leaves = _tree(sqlite_url, [512, 88])
    _check_proofs(tree, sizes, leaves)
    with pytest.raises(RuntimeError), tree.store.write() as cur:
        grown = tree.append(cur, [(sizes[-1] + i + 1, f"gone-{i}", b"gone %d" % i) for i in range(500)])
        tree.append(cur, [(sizes[-1] + 501, "gone-more", b"gone more")])  # rereads the border
        tree.sign(cur, grown, SIGNER, "test")
        raise RuntimeError("roll back")
    size = _append(tree, sizes[-1], 500, salt="kept ")
    leaves += [merkle.leaf_hash(_entry(sizes[-1] + i, "kept ")) for i in range(500)]
    _check_proofs(tree, [*sizes, size], leaves)


def test_unsigned_sizes_and_bad_ranges_are_refused_before_any_hash_is_served(sqlite_url: str) -> None:
    from ledger.errors import NotFound
    from ledger.tree import ProofError

    tree, sizes, leaves = _tree(sqlite_url, [64, 64])
    _check_proofs(tree, sizes, leaves)
    with pytest.raises(NotFound):
        tree.inclusion_proof(3, 100)
    with pytest.raises(NotFound):
        tree.consistency_proof(64, 127)
    with pytest.raises(ProofError):
        tree.inclusion_proof(128, 128)
    with pytest.raises(ProofError):
        tree.consistency_proof(129, 128)


def test_the_inclusion_plan_is_the_rfc_proof_ranges() -> None:
    import random

    rnd = random.Random(28)
    cases = [(i, n) for n in range(1, 130) for i in range(n)]
    cases += [(rnd.randrange(n), n) for n in (rnd.randrange(1, 1 << 48) for _ in range(3000))]
    for index, size in cases:
        want = merkle.plan_of(merkle.subtree_ranges_for_inclusion(index, size))
        assert merkle.inclusion_plan(index, size) == want, (index, size)
    with pytest.raises(merkle.ProofShapeError):
        merkle.inclusion_plan(5, 5)


def test_the_consistency_plan_is_the_rfc_proof_ranges() -> None:
    import random

    rnd = random.Random(29)
    cases = [(m, n) for n in range(0, 130) for m in range(n + 1)]
    for _ in range(3000):
        n = rnd.randrange(1, 1 << 48)
        cases.append((rnd.randrange(n + 1), n))
    for old, new in cases:
        want = merkle.plan_of(merkle.subtree_ranges_for_consistency(old, new))
        assert merkle.consistency_plan(old, new) == want, (old, new)
    with pytest.raises(merkle.ProofShapeError):
        merkle.consistency_plan(6, 5)
