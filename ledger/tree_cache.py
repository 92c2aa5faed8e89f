"""Perfect-subtree hashes kept in memory for proofs, bounded, safe beside other writers.

A perfect subtree's hash never changes once its leaves are in a signed tree, whoever appended
them, so a hash read from the store may be served for good; nothing else is kept. The right edge
of a tree (ranges ending at a signed size that is not a power-of-two boundary) is kept by range,
and a range's hash is fixed by its leaves. Hashes are packed in chunks of `CHUNK` consecutive nodes
of one level (32 bytes a node), read from the store in one range read. The bottom `BOTTOM` levels
are never kept: they are most of the tree (a node at level L serves 1/2**L of the leaves) and a
proof reads them in one range read of at most 2**BOTTOM leaves. What is kept is capped at
`budget` bytes, from the top level down: an upper node serves more proofs than a lower one.
"""

from __future__ import annotations

import threading

HASH = 32
CHUNK_BITS = 8
CHUNK = 1 << CHUNK_BITS  # nodes in a chunk
BOTTOM = 3  # levels below this are read from the store with each proof
DEFAULT_BUDGET = 16 << 20  # bytes of node hashes: every level >= BOTTOM of a 2M-leaf tree
MAX_EDGES = 4096


class NodeCache:
    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        # Per level, chunk index -> packed hashes: read freely, change only through `put`.
        self.levels: list[dict[int, bytes]] = [{} for _ in range(64)]
        self._bytes = 0
        self._edges: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self._floor = (0, BOTTOM)  # (tree size, lowest level kept for it)

    @property
    def size_bytes(self) -> int:
        """Bytes of node hashes held now (never above the budget after a `put`)."""
        return self._bytes

    def floor(self, size: int) -> int:
        """The lowest level kept for a tree of `size` leaves: BOTTOM, or higher when the levels
        from BOTTOM up would not fit the budget (they take under 64 * size / 2**level bytes)."""
        known, level = self._floor
        if known != size:
            level = BOTTOM
            while (size >> (level - 1)) * HASH > self.budget and level < 63:
                level += 1
            self._floor = (size, level)
        return level

    def get(self, level: int, index: int) -> bytes | None:
        chunk = self.levels[level].get(index >> CHUNK_BITS)
        if chunk is None:
            return None
        at = (index & (CHUNK - 1)) * HASH
        return chunk[at : at + HASH] if at < len(chunk) else None

    def put(self, level: int, chunk: int, hashes: bytes, covered: int) -> None:
        """Keep the hashes of nodes `chunk * CHUNK` onwards at `level`, read from the store, up
        to node `covered` (excluded): the nodes that lie inside a signed tree."""
        width = min(len(hashes) // HASH, covered - chunk * CHUNK)
        if level < BOTTOM or width <= 0:
            return
        data = hashes[: width * HASH]
        with self._lock:
            found = self.levels[level]
            old = found.get(chunk)
            if old is not None and len(old) >= len(data):
                return
            found[chunk] = data
            self._bytes += len(data) - (0 if old is None else len(old))
            self._evict()

    def _evict(self) -> None:
        """Drop chunks from the lowest level up until what is held fits the budget."""
        for found in self.levels:
            while found and self._bytes > self.budget:
                self._bytes -= len(found.pop(next(iter(found))))
            if self._bytes <= self.budget:
                return

    def edge(self, span: tuple[int, int]) -> bytes | None:
        return self._edges.get(span)

    def keep_edge(self, span: tuple[int, int], value: bytes) -> None:
        """Keep the hash of leaves [start, end), a range inside a signed tree."""
        with self._lock:
            if len(self._edges) >= MAX_EDGES:
                self._edges.clear()
            self._edges[span] = value
