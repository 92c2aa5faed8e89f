"""A tlog-tiles reader written from the C2SP specification and RFC 9162 alone, as an outsider's
client would be: standard library only, nothing of the ledger's own code. Given a way to GET a
path under the log's prefix and a checkpoint's tree size, it computes any subtree hash from the
tiles, the root, inclusion and consistency proofs, and verifies them by the RFC's algorithms.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

TILE_HEIGHT = 8
TILE_WIDTH = 256
HASH_SIZE = 32
HASH_FORM = b"\x00"  # an entry withheld from strangers: 0x00 then its 32-byte leaf hash

Fetch = Callable[[str], bytes]


class TileReadError(Exception):
    """A tile, bundle or proof that does not check out."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def index_path(n: int) -> str:
    """Tile index in 3-digit elements, all but the last prefixed `x` (1234067: x001/x234/067)."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    elements = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + e for e in elements[:-1]] + elements[-1:])


def tile_path(level: int | str, n: int, width: int) -> str:
    return f"tile/{level}/{index_path(n)}" + ("" if width == TILE_WIDTH else f".p/{width}")


def parse_checkpoint(note: str) -> tuple[str, int, bytes]:
    """(origin, size, root) from a checkpoint note's body (the signature is the caller's to check)."""
    lines = note.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)


def split_bundle(bundle: bytes) -> list[bytes]:
    """Entries of an entry bundle: each a big-endian uint16 length, then that many bytes."""
    entries, at = [], 0
    while at < len(bundle):
        if at + 2 > len(bundle):
            raise TileReadError("bundle ends inside a length prefix")
        length = int.from_bytes(bundle[at:at + 2], "big")
        if at + 2 + length > len(bundle):
            raise TileReadError("bundle ends inside an entry")
        entries.append(bundle[at + 2:at + 2 + length])
        at += 2 + length
    return entries


def entry_leaf_hash(entry: bytes) -> bytes:
    """The leaf hash an entry stands for: given outright in the hash form, else hashed."""
    if len(entry) == 1 + HASH_SIZE and entry[:1] == HASH_FORM:
        return entry[1:]
    return leaf_hash(entry)


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class TileReader:
    """The tree of `size` leaves, read tile by tile (each tile fetched once)."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        self.fetch, self.size = fetch, size
        self.tiles: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, n: int) -> list[bytes]:
        """Tile `n` at `level`, as wide as the tree of `size` makes it (full or partial)."""
        if (level, n) not in self.tiles:
            available = self.size >> (TILE_HEIGHT * level)  # hashes this level holds in all
            width = min(TILE_WIDTH, available - n * TILE_WIDTH)
            if width <= 0:
                raise TileReadError(f"tile {level}/{n} is empty in a tree of {self.size}")
            data = self.fetch(tile_path(level, n, width))
            if len(data) != width * HASH_SIZE:
                raise TileReadError(f"tile {level}/{n} is {len(data)} bytes, want {width * HASH_SIZE}")
            self.tiles[(level, n)] = [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        return self.tiles[(level, n)]

    def node(self, height: int, k: int) -> bytes:
        """Hash of the perfect subtree of 2**height leaves starting at leaf k * 2**height."""
        level, within = divmod(height, TILE_HEIGHT)
        first = k << within  # its first hash at the tile level below it
        tile = self.tile(level, first // TILE_WIDTH)
        row = tile[first % TILE_WIDTH:first % TILE_WIDTH + (1 << within)]
        if len(row) != 1 << within:
            raise TileReadError(f"node {height}/{k} lies beyond the tree of {self.size}")
        while len(row) > 1:  # the levels between tile levels are hashed up from the tile
            row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        return row[0]

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) (RFC 9162 §2.1.1) for start < end <= size."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self.node(n.bit_length() - 1, start // n)
        k = _split(n)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def root(self) -> bytes:
        return self.mth(0, self.size) if self.size else hashlib.sha256(b"").digest()

    def leaf(self, index: int) -> bytes:
        return self.node(0, index)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1)."""
        def path(m: int, start: int, end: int) -> list[bytes]:
            if end - start == 1:
                return []
            k = _split(end - start)
            if m < k:
                return [*path(m, start, start + k), self.mth(start + k, end)]
            return [*path(m - k, start + k, end), self.mth(start, start + k)]
        if not 0 <= index < self.size:
            raise TileReadError(f"leaf {index} is outside a tree of {self.size}")
        return path(index, 0, self.size)

    def consistency_proof(self, old: int) -> list[bytes]:
        """PROOF(old, D[0:size]) (RFC 9162 §2.1.4.1)."""
        def subproof(m: int, start: int, end: int, known: bool) -> list[bytes]:
            n = end - start
            if m == n:
                return [] if known else [self.mth(start, end)]
            k = _split(n)
            if m <= k:
                return [*subproof(m, start, start + k, known), self.mth(start + k, end)]
            return [*subproof(m - k, start + k, end, False), self.mth(start, start + k)]
        if not 0 < old <= self.size:
            raise TileReadError(f"old size {old} is outside 1..{self.size}")
        return subproof(old, 0, self.size, True)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2; raises TileReadError unless the proof leads to `root`."""
    if index >= size:
        raise TileReadError("leaf index beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise TileReadError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise TileReadError("inclusion proof does not lead to the root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: list[bytes]) -> None:
    """RFC 9162 §2.1.4.2; raises TileReadError unless the old tree is a prefix of the new."""
    if first == second:
        if proof or first_root != second_root:
            raise TileReadError("same size: want an empty proof and equal roots")
        return
    if not proof or not 0 < first < second:
        raise TileReadError("a consistency proof needs 0 < first < second and some hashes")
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise TileReadError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if fr != first_root or sr != second_root or sn != 0:
        raise TileReadError("consistency proof does not lead to both roots")
