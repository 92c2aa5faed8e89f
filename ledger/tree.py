"""The Merkle log in the store: dense leaf indexes, perfect-subtree hashes, signed checkpoints.

Leaves are appended inside the append transaction, under the store's write lock, so leaf order is
the log's commit order and no record exists without its leaf. Every perfect subtree hash is kept
(`merkle_nodes`), so any inclusion or consistency proof needs O(log n) stored hashes, fetched in
one query. The right border (a compact range) is cached between appends and re-read whenever the
tree grew elsewhere (another worker, another process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import merkle
from .errors import LedgerError, NotFound
from .note import Checkpoint, NoteSigner, sign_note
from .store import Store

LEAVES, NODES, CHECKPOINTS = "merkle_leaves", "merkle_nodes", "checkpoints"
COSIGNATURES = "cosignatures"


_LEVEL_SHIFT = 48  # up to 2^48 leaves; the level sits above the index in one bigint


def node_key(level: int, idx: int) -> int:
    return (level << _LEVEL_SHIFT) | idx


def node_id(key: int) -> tuple[int, int]:
    return key >> _LEVEL_SHIFT, key & ((1 << _LEVEL_SHIFT) - 1)


class ProofError(LedgerError):
    rule = "proof.invalid_request"


@dataclass(frozen=True)
class Leaf:
    leaf_index: int
    position: int
    record_hash: str


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


class Tree:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._leaves = store.qualify(LEAVES)
        self._nodes = store.qualify(NODES)
        self._checkpoints = store.qualify(CHECKPOINTS)
        self._cosignatures = store.qualify(COSIGNATURES)
        self._border = merkle.CompactRange()
        self._lock = threading.Lock()
        self._signed_sizes: set[int] = set()  # checkpoints are never removed: safe to remember
        # Perfect-subtree hashes never change once written, so the upper levels (few nodes, in
        # every proof) are kept in memory; a proof then reads only its low-level nodes.
        self._upper: dict[tuple[int, int], bytes] = {}
        self._edges: dict[tuple[int, int], bytes] = {}  # hashes of right-edge ranges

    def create_tables(self, cur: Any) -> None:
        blob, big = self.store.blob_type, self.store.bigint_type
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self._leaves} (leaf_index {big} PRIMARY KEY, "
                    f"position {big} NOT NULL UNIQUE, record_hash TEXT NOT NULL UNIQUE)")
        # One integer key per node (level in the high bits): one index descent per lookup.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self._nodes} (node {big} PRIMARY KEY, "
                    f"hash {blob} NOT NULL)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self._checkpoints} (size {big} PRIMARY KEY, "
                    f"root {blob} NOT NULL, note TEXT NOT NULL)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self._cosignatures} (size {big} NOT NULL, "
                    "line TEXT NOT NULL, PRIMARY KEY (size, line))")
        for table in (LEAVES, NODES, CHECKPOINTS, COSIGNATURES):
            self.store.protect(cur, table)

    # -- appending (inside the store's write transaction) ---------------------------------
    def append(self, cur: Any, leaves: Sequence[tuple[int, str, bytes]]) -> merkle.CompactRange:
        """Add (position, record hash, sealed bytes) leaves; returns the grown border.

        The caller hands the border back to `committed()` once its transaction commits, so a
        rolled-back append never leaves a border that the store does not hold.
        """
        with self._lock:
            border = self._current_border(cur)
        grown = merkle.CompactRange(border.size, border.hashes)
        nodes: list[tuple[int, int, bytes]] = []
        rows = []
        for position, record_hash, sealed in leaves:
            rows.append((grown.size, position, record_hash))
            grown.append(merkle.leaf_hash(sealed), lambda lv, ix, h: nodes.append((lv, ix, h)))
        p = self.store.param
        cur.executemany(f"INSERT INTO {self._leaves} (leaf_index, position, record_hash) "
                        f"VALUES ({p}, {p}, {p})", rows)
        cur.executemany(f"INSERT INTO {self._nodes} (node, hash) VALUES ({p}, {p})",
                        [(node_key(level, idx), h) for level, idx, h in nodes])
        return grown

    def committed(self, border: merkle.CompactRange) -> None:
        """The transaction that grew `border` committed: cache it for the next append."""
        with self._lock:
            if border.size > self._border.size:
                self._border = border

    def sign(self, cur: Any, border: merkle.CompactRange, signer: NoteSigner,
             origin: str) -> SignedCheckpoint | None:
        """Sign and store a checkpoint for `border` (the tree in this transaction) if none covers it."""
        if border.size == 0:
            return None
        latest = self._latest(cur)
        if latest is not None and latest.size >= border.size:
            return latest
        root = border.root()
        note = sign_note(Checkpoint(origin, border.size, root).body(), [signer]).decode("utf-8")
        p = self.store.param
        cur.execute(f"INSERT INTO {self._checkpoints} (size, root, note) VALUES ({p}, {p}, {p})",
                    (border.size, root, note))
        return SignedCheckpoint(border.size, root, note)

    def restore_checkpoint(self, cur: Any, note: str) -> None:
        """Keep a checkpoint exactly as it was signed (when restoring an archive)."""
        text = note.encode("utf-8")
        body = Checkpoint.parse_body(text[: text.rfind(b"\n\n") + 1])
        p = self.store.param
        cur.execute(f"INSERT INTO {self._checkpoints} (size, root, note) VALUES ({p}, {p}, {p})",
                    (body.size, body.root, note))

    def add_cosignature(self, size: int, line: str) -> bool:
        """Keep a witness's cosignature line (already verified) for a checkpoint; False if known."""
        p = self.store.param
        with self.store.transaction() as cur:
            cur.execute(f"SELECT 1 AS x FROM {self._cosignatures} WHERE size = {p} AND line = {p}",
                        (size, line))
            if cur.fetchone() is not None:
                return False
            cur.execute(f"INSERT INTO {self._cosignatures} (size, line) VALUES ({p}, {p})", (size, line))
        return True

    def _cosigned(self, cur: Any, found: list[SignedCheckpoint]) -> list[SignedCheckpoint]:
        """Checkpoints with their witnesses' cosignature lines after the ledger's own."""
        if not found:
            return found
        p = self.store.param
        if len(found) == 1:
            cur.execute(f"SELECT size, line FROM {self._cosignatures} WHERE size = {p} ORDER BY line",
                        (found[0].size,))
        else:
            cur.execute(f"SELECT size, line FROM {self._cosignatures} ORDER BY size, line")
        lines: dict[int, list[str]] = {}
        for r in cur.fetchall():
            lines.setdefault(int(r["size"]), []).append(r["line"])
        return [SignedCheckpoint(c.size, c.root, c.note + "".join(lines.get(c.size, [])))
                for c in found]

    def border(self, cur: Any) -> merkle.CompactRange:
        with self._lock:
            return self._current_border(cur)

    def _current_border(self, cur: Any) -> merkle.CompactRange:
        size = self._size(cur)
        if size != self._border.size:
            ids = merkle.subtree_nodes(0, size) if size else []
            hashes = self._fetch(cur, ids)
            self._border = merkle.CompactRange(size, [hashes[i] for i in ids])
        return self._border

    # -- reading --------------------------------------------------------------------------
    def size(self) -> int:
        with self.store.read() as cur:
            return self._size(cur)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self.store.read() as cur:
            latest = self._latest(cur)
            return None if latest is None else self._cosigned(cur, [latest])[0]

    def checkpoint(self, size: int) -> SignedCheckpoint:
        with self.store.read() as cur:
            cur.execute(f"SELECT size, root, note FROM {self._checkpoints} WHERE size = "
                        f"{self.store.param}", (size,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"no signed checkpoint has tree size {size}",
                               rule="checkpoint.unknown_size", field="tree_size")
            return self._cosigned(cur, [SignedCheckpoint(int(row["size"]), bytes(row["root"]),
                                                         row["note"])])[0]

    def checkpoints(self) -> list[SignedCheckpoint]:
        with self.store.read() as cur:
            cur.execute(f"SELECT size, root, note FROM {self._checkpoints} ORDER BY size")
            found = [SignedCheckpoint(int(r["size"]), bytes(r["root"]), r["note"]) for r in cur.fetchall()]
            return self._cosigned(cur, found)

    def leaf_in(self, cur: Any, record_hash: str) -> Leaf | None:
        """The leaf of a record, read inside the caller's transaction."""
        cur.execute(f"SELECT leaf_index, position, record_hash FROM {self._leaves} "
                    f"WHERE record_hash = {self.store.param}", (record_hash,))
        r = cur.fetchone()
        return None if r is None else Leaf(int(r["leaf_index"]), int(r["position"]), r["record_hash"])

    def positions_in(self, cur: Any, first: int, last: int) -> dict[int, int]:
        """Log positions of leaves `first`..`last` (leaf index -> position), read inside the
        caller's transaction."""
        p = self.store.param
        cur.execute(f"SELECT leaf_index, position FROM {self._leaves} "
                    f"WHERE leaf_index BETWEEN {p} AND {p}", (first, last))
        return {int(r["leaf_index"]): int(r["position"]) for r in cur.fetchall()}

    def size_at_position(self, position: int) -> int:
        """How many leaves the log had once the record at `position` was in it."""
        with self.store.lookup() as cur:
            cur.execute(f"SELECT MAX(leaf_index) AS m FROM {self._leaves} WHERE position <= "
                        f"{self.store.param}", (position,))
            row = cur.fetchone()
        top = None if row is None else row["m"]
        return 0 if top is None else int(top) + 1

    def root_at(self, size: int) -> bytes:
        """The root of the first `size` leaves, from stored perfect-subtree hashes."""
        if size == 0:
            return merkle.EMPTY_ROOT
        ids = merkle.subtree_nodes(0, size)
        with self.store.lookup() as cur:
            hashes = self._fetch(cur, ids)
        return merkle.hash_subtree([hashes[n] for n in ids])

    def leaf_by_hash(self, record_hash: str) -> Leaf:
        return self._leaf("record_hash", record_hash)

    def leaf_by_index(self, leaf_index: int) -> Leaf:
        return self._leaf("leaf_index", leaf_index)

    def leaves(self, start: int = 0, limit: int = 1000) -> list[Leaf]:
        p = self.store.param
        with self.store.read() as cur:
            cur.execute(f"SELECT leaf_index, position, record_hash FROM {self._leaves} "
                        f"WHERE leaf_index >= {p} ORDER BY leaf_index LIMIT {p}", (start, limit))
            return [Leaf(int(r["leaf_index"]), int(r["position"]), r["record_hash"])
                    for r in cur.fetchall()]

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> list[bytes]:
        """Proof for a leaf in a tree whose size a signed checkpoint names."""
        try:
            ranges = merkle.subtree_ranges_for_inclusion(leaf_index, tree_size)
        except merkle.MerkleError as exc:
            raise ProofError(str(exc), field="leaf_index") from exc
        return self._assemble(ranges, (tree_size,))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Proof that the checkpointed tree of size `first` is a prefix of that of size `second`."""
        try:
            ranges = merkle.subtree_ranges_for_consistency(first, second)
        except merkle.MerkleError as exc:
            raise ProofError(str(exc), field="first") from exc
        return self._assemble(ranges, (first, second))

    def _assemble(self, ranges: Sequence[tuple[int, int]], sizes: Sequence[int]) -> list[bytes]:
        """Proof hashes from stored nodes: one query for the checkpoints, one for the nodes.

        A range that is not a perfect subtree ends at a checkpointed size (the tree's right
        edge); its hash never changes, so it is computed once and remembered."""
        edge = {r: self._edges[r] for r in ranges if r in self._edges}
        groups = {r: merkle.subtree_nodes(*r) for r in ranges if r not in edge}
        with self.store.lookup() as cur:
            unknown = [size for size in sizes if size not in self._signed_sizes]
            if unknown:
                p = self.store.param
                cur.execute(f"SELECT size FROM {self._checkpoints} WHERE size IN "
                            f"({', '.join(p for _ in unknown)})", tuple(unknown))
                self._signed_sizes.update(int(r["size"]) for r in cur.fetchall())
            for size in sizes:
                if size not in self._signed_sizes:
                    raise NotFound(f"no signed checkpoint has tree size {size}",
                                   rule="checkpoint.unknown_size", field="tree_size")
            hashes = self._fetch(cur, [node for group in groups.values() for node in group])
        for r, group in groups.items():
            edge[r] = merkle.hash_subtree([hashes[n] for n in group])
            if len(group) > 1:
                if len(self._edges) > 65_536:
                    self._edges.clear()
                self._edges[r] = edge[r]
        return [edge[r] for r in ranges]

    def _fetch(self, cur: Any, ids: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not ids:
            return {}
        # Keep at most ~32k upper nodes: levels >= bit_length - 15, and never the bottom 6.
        floor = max(6, max(idx << level for level, idx in ids).bit_length() - 15)
        cached = {n: self._upper[n] for n in ids if n in self._upper}
        wanted = sorted(set(ids) - set(cached))
        if not wanted:
            return cached
        found = self._select_nodes(cur, wanted)
        for node, value in found.items():
            if node[0] >= floor:
                self._upper[node] = value
        found.update(cached)
        return found

    def _select_nodes(self, cur: Any, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        p = self.store.param
        cur.execute(f"SELECT node, hash FROM {self._nodes} WHERE node IN "
                    f"({', '.join(p for _ in wanted)})", [node_key(*n) for n in wanted])
        found = {node_id(int(r["node"])): bytes(r["hash"]) for r in cur.fetchall()}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise LedgerError(f"Merkle nodes missing from the store: {missing[:3]}", rule="tree.missing")
        return found

    def _leaf(self, column: str, value: object) -> Leaf:
        with self.store.read() as cur:
            cur.execute(f"SELECT leaf_index, position, record_hash FROM {self._leaves} "
                        f"WHERE {column} = {self.store.param}", (value,))
            r = cur.fetchone()
        if r is None:
            raise NotFound(f"no record with {column} {value}", field=column)
        return Leaf(int(r["leaf_index"]), int(r["position"]), r["record_hash"])

    def _size(self, cur: Any) -> int:
        cur.execute(f"SELECT MAX(leaf_index) AS m FROM {self._leaves}")
        row = cur.fetchone()
        top = row["m"] if row is not None else None
        return 0 if top is None else int(top) + 1

    def _latest(self, cur: Any) -> SignedCheckpoint | None:
        cur.execute(f"SELECT size, root, note FROM {self._checkpoints} ORDER BY size DESC LIMIT 1")
        r = cur.fetchone()
        return None if r is None else SignedCheckpoint(int(r["size"]), bytes(r["root"]), r["note"])


def iter_leaves(tree: Tree, page: int = 5000) -> Iterator[Leaf]:
    """Every stored leaf in index order, a page at a time."""
    start = 0
    while True:
        batch = tree.leaves(start, page)
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].leaf_index + 1
