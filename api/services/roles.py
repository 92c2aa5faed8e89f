"""Who may call what: the role matrix (R19, R39), one table, enforced on every route.

Every route of the app must have a row here, or the app refuses to start; `deps.current_user`
checks the caller's role against the row of the route being served. Which entry *types* a role
may author is decided again by the trial's rules (domain/streams.py); this table decides which
doors open at all. Inspectors read everything and write nothing; monitors and data managers
write only their review entries (queries, SDV, locks) through `POST /v1/entries`; the sponsor's
safety officer (`safety`) reads the trial and writes only its expedited safety reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

#: Every role a user (or a system actor) can hold.
ROLES = frozenset({"admin", "investigator", "data_manager", "monitor", "inspector",
                   "unblinded_statistician", "lab_interface", "witness", "safety", "randomiser",
                   "system", "sealer"})
#: Roles given only to keys the server holds itself: never to a person, never over HTTP.
SYSTEM_ROLES = frozenset({"randomiser", "system", "sealer"})
#: Roles an admin may grant to people and interfaces.
USER_ROLES = ROLES - SYSTEM_ROLES

PUBLIC = None  # no token needed: health, checkpoints and proofs are meant for anyone
READERS = frozenset({"admin", "investigator", "data_manager", "monitor", "inspector",
                     "unblinded_statistician", "safety"})
WRITERS = frozenset({"admin", "investigator", "data_manager", "monitor", "lab_interface",
                     "safety"})
IMPORTERS = frozenset({"admin", "investigator", "data_manager", "lab_interface"})
ALLOCATION = frozenset({"admin", "inspector", "unblinded_statistician"})
REBUILDERS = frozenset({"admin", "data_manager"})
HEADS = WRITERS | READERS
EXPORTERS = frozenset({"admin", "inspector", "data_manager", "monitor"})

MATRIX: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/v1/health"): PUBLIC,
    ("GET", "/v1/entry-types"): PUBLIC,  # the formats are public; so are the rules' roles
    ("GET", "/v1/checkpoint"): PUBLIC,
    ("GET", "/v1/proofs/inclusion"): PUBLIC,
    ("GET", "/v1/proofs/consistency"): PUBLIC,
    ("POST", "/v1/checkpoint/cosignatures"): frozenset({"witness"}),
    ("POST", "/v1/entries"): WRITERS,
    ("POST", "/v1/entries/batch"): IMPORTERS,
    ("GET", "/v1/streams/{stream:path}"): HEADS,
    ("GET", "/v1/log"): READERS,
    ("GET", "/v1/export/audit"): EXPORTERS,
    ("GET", "/v1/export/odm"): EXPORTERS,
    ("GET", "/v1/export/casebook/{participant_id}"): READERS,
    ("GET", "/v1/export/certified-copy"): frozenset({"admin", "inspector", "investigator"}),
    ("GET", "/v1/verify"): frozenset({"admin", "inspector", "data_manager"}),
    ("GET", "/v1/records/{record_hash}"): READERS,
    ("GET", "/v1/participants"): READERS,
    ("GET", "/v1/participants/{participant_id}"): READERS,
    ("GET", "/v1/participants/{participant_id}/history"): READERS,
    ("GET", "/v1/participants/{participant_id}/scores"): READERS,
    ("GET", "/v1/unblindings"): READERS,
    ("GET", "/v1/summary"): READERS,
    ("GET", "/v1/flow"): READERS,
    ("GET", "/v1/safety"): READERS,  # the safety officer is a reader
    ("GET", "/v1/audit"): READERS,
    ("GET", "/v1/allocation"): ALLOCATION,
    ("GET", "/v1/projections"): READERS,
    ("POST", "/v1/projections/rebuild"): REBUILDERS,
    ("GET", "/v1/users/history"): frozenset({"admin", "inspector"}),
    ("POST", "/v1/sessions"): PUBLIC,  # the signed login entry is the credential
    ("POST", "/v1/sessions/close"): USER_ROLES,  # logout: a record, nothing removed
}


def allowed(method: str, path: str) -> frozenset[str] | None:
    """The roles that may call `method path` (None: anyone). KeyError for a route not listed."""
    return MATRIX[(method, path)]


def api_routes(app: FastAPI) -> Iterable[tuple[str, str]]:
    """(method, path template) of every route the app serves under /v1."""
    for route, prefix in _walk(app.routes, ""):
        path = prefix + route.path
        if path.startswith("/v1/"):
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, path


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[tuple[APIRoute, str]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route, prefix
        elif hasattr(route, "original_router"):  # FastAPI includes routers lazily
            inner = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            yield from _walk(route.original_router.routes, prefix + inner)


def check_complete(app: FastAPI) -> None:
    """Refuse to serve a route the matrix does not list, or list one that is not served."""
    served = set(api_routes(app))
    missing, stale = served - set(MATRIX), set(MATRIX) - served
    if missing or stale:
        raise RuntimeError(f"role matrix out of step with the routes: unlisted {sorted(missing)}, "
                           f"not served {sorted(stale)}")
