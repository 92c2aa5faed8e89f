"""The Merkle log in the store: dense leaf indexes, perfect-subtree hashes, signed checkpoints.

Leaves are appended inside the append transaction, under the store's write lock, so leaf order is
the log's commit order and no record exists without its leaf. Every perfect subtree hash is kept
(`merkle_nodes`), so any inclusion or consistency proof needs O(log n) stored hashes: the upper
levels from memory (`tree_cache`), the bottom ones in one query (`tree_nodes`). The right border
(a compact range) is cached between appends and re-read whenever the tree grew elsewhere
(another worker, another process).
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
from .tree_cache import CHUNK, CHUNK_BITS, HASH, NodeCache
from .tree_nodes import NodeReader, node_id, node_key

__all__ = ["Leaf", "ProofError", "SignedCheckpoint", "Tree", "iter_leaves", "node_id", "node_key"]

LEAVES, NODES, CHECKPOINTS = "merkle_leaves", "merkle_nodes", "checkpoints"
COSIGNATURES = "cosignatures"


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
    def __init__(self, store: Store, cache: NodeCache | None = None) -> None:
        self.store = store
        self._leaves = store.qualify(LEAVES)
        self._nodes = store.qualify(NODES)
        self._checkpoints = store.qualify(CHECKPOINTS)
        self._cosignatures = store.qualify(COSIGNATURES)
        self._border = merkle.CompactRange()
        self._lock = threading.Lock()
        self._signed_sizes: set[int] = set()  # checkpoints are never removed: safe to remember
        # Hashes inside a signed tree never change, whoever appended them: kept for proofs.
        self.cache = NodeCache() if cache is None else cache
        self._reader = NodeReader(store, self._nodes, self.cache)

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
            hashes = self._reader.fetch(cur, ids)
            self._border = merkle.CompactRange(size, [hashes[i] for i in ids])
        return self._border

    # -- reading --------------------------------------------------------------------------
    def size(self) -> int:
        with self.store.read() as cur:
            return self._size(cur)

    def uncovered(self) -> int:
        """Leaves beyond the latest signed checkpoint, whichever process appended them."""
        with self.store.read() as cur:
            latest = self._latest(cur)
            return self._size(cur) - (latest.size if latest is not None else 0)

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
            hashes = self._reader.fetch(cur, ids)
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
            plan = merkle.inclusion_plan(leaf_index, tree_size)
        except merkle.MerkleError as exc:
            raise ProofError(str(exc), field="leaf_index") from exc
        return self._assemble(plan, (tree_size,))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Proof that the checkpointed tree of size `first` is a prefix of that of size `second`."""
        try:
            plan = merkle.consistency_plan(first, second)
        except merkle.MerkleError as exc:
            raise ProofError(str(exc), field="first") from exc
        return self._assemble(plan, (first, second))

    def _assemble(self, plan: Sequence[tuple[int, int, int]], sizes: Sequence[int]) -> list[bytes]:
        """Proof hashes: perfect ranges are one node each, from memory or the store; a range that
        is not perfect ends at a signed size (the tree's right edge) and is hashed from its nodes
        once. The store is read at most once a proof in the steady state: one range read of the
        bottom levels' leaves, plus any node the cache does not hold."""
        cache, covered = self.cache, max(sizes)
        levels = cache.levels
        out: list[bytes | None] = []
        edges: list[tuple[int, tuple[int, int], list[tuple[int, int]]]] = []
        have: dict[tuple[int, int], bytes] = {}
        missing: dict[tuple[int, int], None] = {}
        for level, index, end in plan:
            if not end:  # a perfect subtree: one node (cache.get, inlined)
                chunk = levels[level].get(index >> CHUNK_BITS)
                at = (index & (CHUNK - 1)) * HASH
                if chunk is None or at >= len(chunk):
                    missing[(level, index)] = None
                    out.append(None)
                else:
                    out.append(chunk[at : at + HASH])
                continue
            start = index
            value = cache.edge((start, end))
            if value is None:
                nodes = merkle.subtree_nodes(start, end)
                for node in nodes:
                    if (hit := cache.get(*node)) is None:
                        missing[node] = None
                    else:
                        have[node] = hit
                edges.append((len(out), (start, end), nodes))
            out.append(value)
        unknown = [size for size in sizes if size not in self._signed_sizes]
        if missing or unknown:
            with self.store.lookup() as cur:
                self._check_signed(cur, unknown)
                have.update(self._reader.read(cur, list(missing), covered))
        for at, span, nodes in edges:
            out[at] = value = merkle.hash_subtree([have[node] for node in nodes])
            cache.keep_edge(span, value)
        return [value if value is not None else have[plan[i][:2]] for i, value in enumerate(out)]

    def _check_signed(self, cur: Any, unknown: list[int]) -> None:
        if not unknown:
            return
        p = self.store.param
        cur.execute(f"SELECT size FROM {self._checkpoints} WHERE size IN "
                    f"({', '.join(p for _ in unknown)})", tuple(unknown))
        self._signed_sizes.update(int(r["size"]) for r in cur.fetchall())
        for size in unknown:
            if size not in self._signed_sizes:
                raise NotFound(f"no signed checkpoint has tree size {size}",
                               rule="checkpoint.unknown_size", field="tree_size")

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
