"""The Merkle log as C2SP tlog-tiles: hash tiles and entry bundles, read from the stored tree.

A tile at level L and index N holds the hashes of the tree's nodes at height 8*L with indexes
N*256 .. N*256+W-1: at level 0 the leaf hashes, at level L the roots of the 256**L-leaf
subtrees. Every perfect-subtree hash is already stored (`merkle_nodes`, keyed by level and
index), so a tile is one range read of consecutive node keys. A full tile is 256 hashes wide; a
partial tile (`.p/W`) holds the first W. A tile or bundle is served only when the latest signed
checkpoint covers all of it, so every byte served is fixed for good and agrees with that root.

Entry bundles hold each leaf's entry, the sealed record bytes the leaf hash covers, with a
big-endian uint16 length before each. Tiles are public, so an entry whose stream a stranger may
not read (every stream but `protocol`) is served in its hash form: the byte 0x00 then the 32-byte
leaf hash (33 bytes). Sealed records are JSON and begin with `{`, so the forms never collide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import merkle
from .entry import Record
from .errors import NotFound
from .tree import NODES, ProofError, Tree, node_key

HEIGHT = 8
WIDTH = 1 << HEIGHT  # hashes in a full tile, entries in a full bundle
MAX_LEVEL = 63
#: Streams whose entries a stranger may read in full: the protocol is a public document.
OPEN_STREAMS = frozenset({"protocol"})
WITHHELD = b"\x00"  # first byte of an entry served in its hash form
MAX_ENTRY = 0xFFFF  # what a uint16 length prefix can say

_ELEMENT = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class TilePathError(ProofError):
    """A tile path that is not in the C2SP encoding (422)."""

    rule = "tile.path"


@dataclass(frozen=True)
class TileId:
    """Tile `index` at `level` (None for an entry bundle), `width` hashes or entries wide."""

    level: int | None
    index: int
    width: int

    @property
    def full(self) -> bool:
        return self.width == WIDTH

    def path(self) -> str:
        """The tile's path under the log's prefix, e.g. `tile/0/x001/234.p/7`."""
        level = "entries" if self.level is None else str(self.level)
        partial = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{partial}"

    def leaves_needed(self) -> int:
        """The smallest tree size that holds every hash (or entry) of this tile."""
        return (self.index * WIDTH + self.width) << (HEIGHT * (self.level or 0))


def encode_index(index: int) -> str:
    """N as zero-padded 3-digit path elements, all but the last prefixed with `x`."""
    groups = []
    while True:
        index, group = divmod(index, 1000)
        groups.append(f"{group:03d}")
        if index == 0:
            break
    return "/".join([*(f"x{g}" for g in reversed(groups[1:])), groups[0]])


def parse_tile(level_text: str, rest: str) -> TileId:
    """Parse `<L>` and `<N>[.p/<W>]` (or `entries` and the rest); refuse any other spelling."""
    if level_text == "entries":
        level: int | None = None
    elif _DECIMAL.fullmatch(level_text) and int(level_text) <= MAX_LEVEL:
        level = int(level_text)
    else:
        raise TilePathError(f"tile level {level_text[:20]!r} is not a decimal 0..{MAX_LEVEL} "
                            "without leading zeros", field="level")
    width = WIDTH
    if ".p/" in rest:
        rest, width_text = rest.split(".p/", 1)
        if not _DECIMAL.fullmatch(width_text) or not 1 <= int(width_text) < WIDTH:
            raise TilePathError(f"partial width {width_text[:20]!r} is not a decimal 1..{WIDTH - 1} "
                                "without leading zeros", field="width")
        width = int(width_text)
    elements = rest.split("/")
    if not _LAST.fullmatch(elements[-1]) or not all(_ELEMENT.fullmatch(e) for e in elements[:-1]) \
            or len(elements) > 7 or (len(elements) > 1 and elements[0] == "x000"):
        raise TilePathError(f"tile index {rest[:40]!r} is not in 3-digit elements, all but the last "
                            "prefixed with x (e.g. x001/x234/067)", field="index")
    index = int("".join(e.lstrip("x") for e in elements))
    return TileId(level, index, width)


def _served_size(tree: Tree) -> int:
    """The latest signed checkpoint's size: only what it covers is served."""
    latest = tree.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint has been signed yet", rule="checkpoint.none")
    return latest.size


def _check_covered(tile: TileId, size: int) -> None:
    if tile.leaves_needed() > size:
        raise NotFound(f"{tile.path()} lies beyond the latest checkpoint (tree size {size})",
                       rule="tile.beyond_checkpoint", field="index")


def tile_hashes(tree: Tree, tile: TileId) -> bytes:
    """The tile's concatenated 32-byte hashes, read from the stored perfect-subtree hashes."""
    if tile.level is None:
        raise TilePathError("an entry bundle is not a hash tile", field="level")
    _check_covered(tile, _served_size(tree))
    height, first = HEIGHT * tile.level, tile.index * WIDTH
    # Node keys of one level are consecutive in the index: one range read.
    lo, hi = node_key(height, first), node_key(height, first + tile.width - 1)
    store = tree.store
    with store.lookup() as cur:
        cur.execute(f"SELECT node, hash FROM {store.qualify(NODES)} WHERE node BETWEEN {store.param} "
                    f"AND {store.param} ORDER BY node", (lo, hi))
        found = [bytes(r["hash"]) for r in cur.fetchall()]
    if len(found) != tile.width:
        raise ProofError(f"{tile.path()}: {len(found)} of {tile.width} stored hashes found",
                         rule="tree.missing")
    return b"".join(found)


def entry_bundle(tree: Tree, tile: TileId) -> bytes:
    """The bundle's uint16-length-prefixed entries: the sealed record, or its hash form."""
    if tile.level is not None:
        raise TilePathError("a hash tile is not an entry bundle", field="level")
    _check_covered(tile, _served_size(tree))
    first, last = tile.index * WIDTH, tile.index * WIDTH + tile.width - 1
    store = tree.store
    with store.read() as cur:
        positions = tree.positions_in(cur, first, last)
        states = store.states_between(cur, min(positions.values()), max(positions.values())) \
            if positions else {}
    out = bytearray()
    for leaf in range(first, last + 1):
        if leaf not in positions or positions[leaf] not in states:
            raise ProofError(f"leaf {leaf} has no stored record", rule="record.missing")
        entry = bundle_entry(Record.from_stored(states[positions[leaf]], positions[leaf], check=False))
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def bundle_entry(record: Record) -> bytes:
    """What a stranger may have of one leaf: the sealed bytes of an open stream's record (when a
    uint16 can say its length), else its hash form 0x00 ‖ leaf hash."""
    if record.stream in OPEN_STREAMS and len(record.sealed) <= MAX_ENTRY:
        return record.sealed
    return WITHHELD + merkle.leaf_hash(record.sealed)
