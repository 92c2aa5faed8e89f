"""Exports over HTTP (`/v1/export/…`): the audit trail (CSV or JSON Lines), CDISC ODM, a
participant's casebook (PDF) and a site's certified copy (ZIP), each recorded before it is sent
(api/services/exports.py decides who may and records it; api/exports/ makes them)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse

from api.exports.audit import AuditFilter, as_csv, as_jsonl
from api.http.contract import problems
from api.http.deps import ServicesDep, UserDep
from api.services import exports

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
    made = exports.export_audit(services, user, AuditFilter(since, until, author, participant,
                                                            type, site), format)
    body, media = (as_csv(made.body), "text/csv") if format == "csv" else \
        (as_jsonl(made.body), "application/x-ndjson")
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=audit-trail.{format}",
        "X-Export-Record": made.record})


@router.get("/odm", response_class=StreamingResponse,
            responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}},
                             "description": "CDISC ODM 1.3.2, Transactional, Archival, streamed"},
                       **problems(**{"404": "no checkpoint has been signed yet"})})
def export_odm(user: UserDep, services: ServicesDep) -> StreamingResponse:
    """Every participant record up to the latest signed checkpoint as CDISC ODM 1.3.2
    (Transactional, Archival): each a transaction with its AuditRecord (SourceID = record hash)
    and Signature; masked for blinded roles; recorded first (stream `exports`)."""
    made = exports.export_odm(services, user)
    return StreamingResponse(made.body, media_type="application/xml", headers={
        "Content-Disposition": f"attachment; filename={made.subject}-odm.xml",
        "X-Export-Record": made.record})


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
    made = exports.export_casebook(services, user, participant_id)
    return Response(made.body, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=casebook-{participant_id}.pdf",
        "X-Export-Record": made.record})


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
    made = exports.export_certified_copy(services, user, site)
    return Response(made.body, media_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=certified-copy-{made.subject}.zip",
        "X-Export-Record": made.record})
