"""Reads of the stored views, now or as of a cut: the allocation table, the audit trail page with
the audit export's filters, and the trial summary, each as the caller may see it."""

from __future__ import annotations

from dataclasses import replace
from itertools import islice
from typing import Any

from api.exports.audit import AuditFilter, audit_docs, masked
from api.services import blinding
from api.services.as_of import cut_of, folded
from api.services.blinding import RowMask
from api.services.bootstrap import Services
from api.services.sites import other_sites_rows, sees_site
from api.services.tokens import User
from domain.participant import ParticipantState
from projections import allocation_table, audit_trail
from projections.summary import trial_summary


def allocation_rows(services: Services, as_of: str | None) -> list[dict[str, Any]]:
    """The allocation table (the route lets only roles that may see the allocation ask)."""
    if as_of is not None:
        return list(folded(services, as_of).docs(allocation_table.NAME).values())
    services.views.catch_up()
    return list(services.views.allocation())


def audit_page(services: Services, user: User, wanted: AuditFilter, *, offset: int, limit: int,
               as_of: str | None) -> list[dict[str, Any]]:
    """A page of the audit trail in log order, masked as `user`'s role requires, with the audit
    export's filters (recorded since/until, UTC text compared as text, author, participant,
    entry type, site), applied by the export's own code."""
    services.views.catch_up()
    cut = None if as_of is None else cut_of(services, as_of)
    hidden = other_sites_rows(services, user)
    masker = RowMask(services, user.role)
    if masker.sees and cut is None and not hidden and wanted.is_empty():
        rows = services.views.docs(audit_trail.NAME, offset, limit)  # a page read straight
    else:  # skip what the caller may not see, or the filters or the cut leave out
        if cut is not None and cut.time is not None:
            wanted = replace(wanted, until=min(cut.time, wanted.until or cut.time))
        kept = audit_docs(services, user.role, wanted, hidden, below=cut.size if cut else None)
        rows = list(islice(kept, offset, offset + limit))
    return [masked(masker, row) for row in rows]


def visible_states(services: Services, user: User,
                   as_of: str | None = None) -> dict[str, ParticipantState]:
    """The participants `user` may see (their sites), now or as of a cut."""
    if as_of is not None:
        states = folded(services, as_of).participants
    else:
        services.views.catch_up()
        states = services.views.participants()
    return {pid: s for pid, s in states.items() if sees_site(user, s.site)}


def summary(services: Services, user: User, as_of: str | None) -> dict[str, Any]:
    """Enrolment, stages, visits and queries over the participants `user` may see; per arm only
    for roles that may see arms."""
    states = visible_states(services, user, as_of)
    current = blinding.protocol(services)
    return trial_summary(states, target=current.target_enrolment if current else None,
                         show_arms=not blinding.is_blinded(services, user.role))
