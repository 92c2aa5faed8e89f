"""Exports over HTTP (`/v1/export/…`): the audit trail (CSV or JSON Lines), CDISC ODM, a
participant's casebook (PDF) and a site's certified copy (ZIP), each recorded before it is sent
(api/exports/ makes them)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse

from api.exports.audit import AuditFilter, as_csv, as_jsonl, audit_rows, record_export
from api.exports.casebook import Reader, casebook_pdf
from api.exports.certified import certified_copy, site_participants
from api.exports.odm import created_now, cut, odm_document
from api.http.contract import problems
from api.http.deps import ServicesDep, UserDep
from api.http.problems import Denied
from api.services.bootstrap import Services
from api.services.sites import SITE_BOUND, check_participant_site, other_sites_rows
from api.services.tokens import User
from ledger.errors import MalformedEntry, NotFound

router = APIRouter(prefix="/v1/export", tags=["exports"])
Filter = Annotated[str | None, Query(max_length=100)]


@router.get("/audit", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/x-ndjson": {"schema": {"type": "string"}}},
                             "description": "the audit trail, streamed"}})
def export_audit(user: UserDep, services: ServicesDep,
                 format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
                 since: Filter = None, until: Filter = None, author: Filter = None,
                 participant: Filter = None, type: Filter = None, site: Filter = None,
                 ) -> StreamingResponse:
    """The whole study's audit trail, oldest first (ISO 8601 UTC times sort as text), with the
    filters given; the export itself is recorded first (stream `exports`)."""
    wanted = AuditFilter(since, until, author, participant, type, site)
    record = record_export(services, what="audit_trail", fmt=format, by=user.author, role=user.role,
                           filters=wanted.as_dict())
    rows = audit_rows(services, user.role, wanted, other_sites_rows(services, user))
    body, media = (as_csv(rows), "text/csv") if format == "csv" else \
        (as_jsonl(rows), "application/x-ndjson")
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=audit-trail.{format}",
        "X-Export-Record": record})


@router.get("/odm", response_class=StreamingResponse,
            responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}},
                             "description": "CDISC ODM 1.3.2, Transactional, Archival, streamed"},
                       **problems(**{"404": "no checkpoint has been signed yet"})})
def export_odm(user: UserDep, services: ServicesDep) -> StreamingResponse:
    """Every participant record up to the latest signed checkpoint as CDISC ODM 1.3.2
    (Transactional, Archival): each a transaction with its AuditRecord (SourceID = record hash)
    and Signature; masked for blinded roles; recorded first (stream `exports`)."""
    at = cut(services)
    record = record_export(services, what="odm", fmt="odm-1.3.2", by=user.author, role=user.role,
                           filters={"tree_size": str(at.size)})
    body = odm_document(services, user.role, at, created=created_now(services),
                        hidden=other_sites_rows(services, user))
    return StreamingResponse(body, media_type="application/xml", headers={
        "Content-Disposition": f"attachment; filename={at.trial}-odm.xml",
        "X-Export-Record": record})


def reader_of(services: Services, user: User) -> Reader:
    names = {k.author: k.name for k in services.ledger.registry().keys.values()}
    return Reader(user.author, names.get(user.author, user.author), user.role)


@router.get("/casebook/{participant_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string",
                                                                         "format": "binary"}}},
                             "description": "the casebook"},
                       **problems(403, **{"404": "no such participant, or no checkpoint yet"})})
def export_casebook(participant_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
                    user: UserDep, services: ServicesDep) -> Response:
    """One participant's casebook as PDF (R37): data per visit, scores, signatures and the audit
    trail, with record hashes and the signed checkpoint it was made from; masked for blinded
    roles; recorded (stream `exports`) before it is sent."""
    check_participant_site(services, user, participant_id)
    services.views.catch_up()
    if services.views.participant(participant_id) is None:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    at = cut(services)
    made_at = created_now(services)
    pdf = casebook_pdf(services, reader_of(services, user), [participant_id], at, made_at=made_at)
    record = record_export(services, what="casebook", fmt="pdf", by=user.author, role=user.role,
                           filters={"participant": participant_id, "tree_size": str(at.size)})
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=casebook-{participant_id}.pdf",
        "X-Export-Record": record})


@router.get("/certified-copy", response_class=Response,
            responses={200: {"content": {"application/zip": {"schema": {"type": "string",
                                                                         "format": "binary"}}},
                             "description": "excerpt with proofs, casebooks, signed manifest"},
                       **problems(**{"403": "site staff: another site's copy",
                                     "404": "the site has no participants, or no checkpoint yet",
                                     "422": "the site is not named, or not an identifier"})})
def export_certified_copy(user: UserDep, services: ServicesDep,
                          site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
                          = None) -> Response:
    """A certified copy of one site's data (R34), signed by the ledger key with the time of the
    copy. Site staff get their own site's; sponsor-side roles name the site."""
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
    data = certified_copy(services, reader_of(services, user), site, at, copied_at=copied_at)
    record = record_export(services, what="certified_copy", fmt="zip", by=user.author,
                           role=user.role, filters={"site": site, "tree_size": str(at.size)})
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=certified-copy-{site}.zip",
        "X-Export-Record": record})
