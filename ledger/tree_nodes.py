"""Reading perfect-subtree hashes for proofs: from memory where held, else from the store's
`merkle_nodes` in one query (plus, the first time, a range read per chunk the cache keeps).

A node is stored under one integer key, its level above its index, so the nodes of one level are
consecutive keys: a chunk of a level, or the leaves under a bottom node, is one range read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import merkle
from .errors import LedgerError
from .store import Store
from .tree_cache import BOTTOM, CHUNK, CHUNK_BITS, HASH, NodeCache

_LEVEL_SHIFT = 48  # up to 2^48 leaves; the level sits above the index in one bigint

Node = tuple[int, int]


def node_key(level: int, idx: int) -> int:
    return (level << _LEVEL_SHIFT) | idx


def node_id(key: int) -> Node:
    return key >> _LEVEL_SHIFT, key & ((1 << _LEVEL_SHIFT) - 1)


class NodeReader:
    def __init__(self, store: Store, table: str, cache: NodeCache) -> None:
        self.store = store
        self.table = table
        self.cache = cache

    def read(self, cur: Any, wanted: list[Node], covered: int) -> dict[Node, bytes]:
        """Hashes of perfect nodes inside the signed tree of `covered` leaves, read with a lookup
        cursor (committed rows only). A node at a level the cache keeps for that tree comes with
        its chunk, which is kept; a bottom node is hashed from one range read of the leaves
        under it; any other node is read alone, in the same query."""
        cache, floor = self.cache, self.cache.floor(covered)
        found: dict[Node, bytes] = {}
        for level, chunk in sorted({(lv, ix >> CHUNK_BITS) for lv, ix in wanted if lv >= floor}):
            first = chunk << CHUNK_BITS
            data = self._chunk(cur, level, first, min(first + CHUNK, covered >> level))
            cache.put(level, chunk, data, covered >> level)
            for lv, ix in wanted:
                if lv == level and 0 <= (at := (ix - first) * HASH) < len(data):
                    found[(lv, ix)] = data[at : at + HASH]
        bottom = [n for n in wanted if n[0] < BOTTOM]
        points = [n for n in wanted if n[0] >= BOTTOM and n not in found]
        lo = min((ix << lv for lv, ix in bottom), default=0)
        hi = max(((ix + 1) << lv for lv, ix in bottom), default=0)
        if hi - lo > 1 << BOTTOM:  # bottom nodes far apart: read each alone
            points += bottom
            bottom, lo, hi = [], 0, 0
        if points or bottom:
            read = self.select(cur, points, (lo, hi))
            leaves = [read.pop((0, ix), b"") for ix in range(lo, hi)]
            for lv, ix in bottom:
                if value := _perfect_root(leaves[(ix << lv) - lo : ((ix + 1) << lv) - lo]):
                    found[(lv, ix)] = value
            found.update(read)
        _check_all(wanted, found)
        return found

    def fetch(self, cur: Any, ids: Sequence[Node]) -> dict[Node, bytes]:
        """Hashes of the given stored nodes, from memory where held. Nothing read here is kept:
        the cursor may be a write transaction's, whose nodes may yet roll back."""
        found = {n: h for n in ids if (h := self.cache.get(*n)) is not None}
        wanted = [n for n in ids if n not in found]
        if wanted:
            found.update(self.select(cur, wanted))
            _check_all(wanted, found)
        return found

    def select(self, cur: Any, wanted: Sequence[Node], leaves: tuple[int, int] = (0, 0)) -> dict[Node, bytes]:
        """Stored nodes `wanted` and leaves `leaves[0]`..`leaves[1] - 1`, in one query."""
        p = self.store.param
        where, args = [], []
        if leaves[1] > leaves[0]:
            where.append(f"node BETWEEN {p} AND {p}")
            args += [node_key(0, leaves[0]), node_key(0, leaves[1] - 1)]
        if wanted:
            where.append(f"node IN ({', '.join(p for _ in wanted)})")
            args += [node_key(*n) for n in wanted]
        cur.execute(f"SELECT node, hash FROM {self.table} WHERE {' OR '.join(where)}", args)
        return {node_id(int(r["node"])): bytes(r["hash"]) for r in cur.fetchall()}

    def _chunk(self, cur: Any, level: int, first: int, end: int) -> bytes:
        """Nodes `first`..`end - 1` of `level` packed, or b"" unless every one is stored."""
        if end <= first:
            return b""
        p = self.store.param
        cur.execute(f"SELECT hash FROM {self.table} WHERE node BETWEEN {p} AND {p} ORDER BY node",
                    (node_key(level, first), node_key(level, end - 1)))
        rows = cur.fetchall()
        return b"".join(bytes(r["hash"]) for r in rows) if len(rows) == end - first else b""


def _perfect_root(hashes: list[bytes]) -> bytes:
    """Root of a perfect subtree from its leaf hashes (b"" if any is absent)."""
    if not all(hashes):
        return b""
    while len(hashes) > 1:
        hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def _check_all(wanted: Sequence[Node], found: dict[Node, bytes]) -> None:
    missing = [n for n in wanted if n not in found]
    if missing:
        raise LedgerError(f"Merkle nodes missing from the store: {missing[:3]}", rule="tree.missing")
