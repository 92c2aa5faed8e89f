"""What a view was built from: its position in the log, the tree size and root of that log
prefix, and the fingerprint of its whole state, so anyone can compare it with a rebuild."""

from __future__ import annotations

from typing import Any

from ledger.tree import Tree

from .participants import NAME, ParticipantProjection


def participants_status(view: ParticipantProjection, tree: Tree) -> dict[str, Any]:
    position = view.position()
    size = tree.size_at_position(position)
    return {"name": NAME, "position": position, "tree_size": size, "root": tree.root_at(size).hex(),
            "fingerprint": view.fingerprint(view.all()), "participants": len(view.all())}
