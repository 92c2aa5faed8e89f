"""Exports for regulators, as every entry point makes them (R34, R35, R37): who may have which,
what is made, and `export.made` recorded (by the system, naming who and with what filters) — the
audit trail and ODM before the first byte leaves, a casebook or certified copy once made. The
documents themselves are api/exports/'s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from api.exports.audit import AuditFilter, audit_rows, record_export
from api.exports.casebook import Reader, casebook_pdf
from api.exports.certified import certified_copy, site_participants
from api.exports.odm import Cut, created_now, cut, odm_document
from api.services.bootstrap import Services
from api.services.errors import Denied
from api.services.sites import SITE_BOUND, check_participant_known, other_sites_rows
from api.services.tokens import User
from ledger.errors import MalformedEntry, NotFound

T = TypeVar("T")


@dataclass(frozen=True)
class Made(Generic[T]):
    """An export and the record of it."""

    record: str  # the hash of its `export.made` record
    body: T
    at: Cut | None = None  # the signed checkpoint it was made from
    subject: str = ""  # the participant, site or trial it is about
    made_at: str = ""


def reader_of(services: Services, user: User) -> Reader:
    """Who a document is made for, with their printed name as registered with their key."""
    names = {k.author: k.name for k in services.ledger.registry().keys.values()}
    return Reader(user.author, names.get(user.author, user.author), user.role)


def export_audit(services: Services, user: User, wanted: AuditFilter,
                 fmt: str) -> Made[Iterator[dict[str, Any]]]:
    """The audit trail's rows `wanted` keeps, masked and scoped as `user` may see them; recorded
    before they are read."""
    record = record_export(services, what="audit_trail", fmt=fmt, by=user.author, role=user.role,
                           filters=wanted.as_dict())
    return Made(record, audit_rows(services, user.role, wanted, other_sites_rows(services, user)))


def export_odm(services: Services, user: User, *,
               progress: Callable[[int], None] | None = None) -> Made[Iterator[bytes]]:
    """CDISC ODM 1.3.2 of every participant record up to the latest signed checkpoint; recorded
    before it is written."""
    at = cut(services)
    record = record_export(services, what="odm", fmt="odm-1.3.2", by=user.author, role=user.role,
                           filters={"tree_size": str(at.size)})
    body = odm_document(services, user.role, at, created=created_now(services),
                        hidden=other_sites_rows(services, user), progress=progress)
    return Made(record, body, at, at.trial)


def export_casebook(services: Services, user: User, participant_id: str, *,
                    reader: Reader | None = None) -> Made[bytes]:
    """One participant's casebook (PDF) for `user` (site staff: their own site's), made for
    `reader` (default: `user` as registered); recorded once made."""
    check_participant_known(services, user, participant_id)  # another site's reads as unknown
    services.views.catch_up()
    if services.views.participant(participant_id) is None:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    at = cut(services)
    made_at = created_now(services)
    pdf = casebook_pdf(services, reader or reader_of(services, user), [participant_id], at,
                       made_at=made_at)
    record = record_export(services, what="casebook", fmt="pdf", by=user.author, role=user.role,
                           filters={"participant": participant_id, "tree_size": str(at.size)})
    return Made(record, pdf, at, participant_id, made_at)


def export_certified_copy(services: Services, user: User, site: str | None, *,
                          reader: Reader | None = None) -> Made[bytes]:
    """A certified copy of one site's data (ZIP), signed by the ledger key with the time of the
    copy. Site staff get their own site's (`site` may be left out); others name the site."""
    if user.role in SITE_BOUND:
        if site not in (None, user.site):
            raise Denied(403, "participant.other_site", f"a copy of {site} is not for {user.site}")
        site = user.site
    if site is None:
        raise MalformedEntry("name the site: ?site=", rule="copy.site", field="site")
    if not site_participants(services, site):
        raise NotFound(f"site {site} has no participants", field="site")
    at = cut(services)
    copied_at = created_now(services)
    data = certified_copy(services, reader or reader_of(services, user), site, at,
                          copied_at=copied_at)
    record = record_export(services, what="certified_copy", fmt="zip", by=user.author,
                           role=user.role, filters={"site": site, "tree_size": str(at.size)})
    return Made(record, data, at, site, copied_at)
