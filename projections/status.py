"""What each view was built from: its position in the log, the tree size and root of that log
prefix, and the fingerprint of its whole state, so anyone can compare it with a rebuild."""

from __future__ import annotations

from typing import Any

from ledger.tree import Tree

from .replay import Folded
from .views import Views


def status(views: Views, tree: Tree) -> list[dict[str, Any]]:
    with views.store.read() as cur:  # one snapshot: position and fingerprints agree
        version = views.active(cur)
        position = views._position(cur, version)
        prints = views.fingerprints_at(cur, version)
    size = tree.size_at_position(position)
    root = tree.root_at(size).hex()
    return [{"name": view, "position": position, "tree_size": size, "root": root,
             "fingerprint": fp, "rows": rows} for view, (fp, rows) in prints.items()]


def folded_status(folded: Folded, *, tree_size: int | None, root: str | None) -> list[dict[str, Any]]:
    """The same report for views folded in memory (from a bundle, or as of a cut)."""
    sizes = folded.sizes()
    return [{"name": view, "position": folded.last_position, "tree_size": tree_size, "root": root,
             "fingerprint": fp, "rows": sizes[view]} for view, fp in folded.fingerprints().items()]

