"""The stored views' status (each view's log position, the tree size and root of that prefix,
its fingerprint) and their rebuild from zero, for HTTP and the CLI alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.services.bootstrap import Services
from projections.parallel import auto_workers
from projections.status import status


def views_status(services: Services) -> list[dict[str, Any]]:
    """Every view's status once it has caught up with the log."""
    services.views.catch_up()
    return status(services.views, services.ledger.tree)


def rebuild_views(services: Services, *, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Rebuild every view from zero (by default on one process per core for a long log, else
    one); answers with the new status. `progress` is told how many records are folded."""
    services.views.rebuild(workers=workers or auto_workers(services.store), progress=progress)
    return status(services.views, services.ledger.tree)
